"""Camera images -> inference_node -> tracker_node (+ RViz): the mots_ros node graph.

    ros2 launch mots_ros tracker.launch.py camera_topic:=/camera/image_raw device:=cuda rviz:=true

With lifecycle:=true both nodes are managed (lifecycle) nodes that wait, unconfigured, for
`ros2 lifecycle set /inference_node configure` (then activate) or a lifecycle manager. With composed:=true both
nodes run in one process (composed_nodes: the same names, parameters, topics and services; the detections reach
the tracker by a call, one middleware hop less per frame, and the tracker takes none from other processes).

Without ROS 2 installed (pip set-up), `mots launch tracker --camera-topic ... --device ...` starts the same nodes
with the same parameter file and remappings.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import AndSubstitution, LaunchConfiguration, NotSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue


def mots_node(executable, namespace, remappings, parameters):
    """The node as a plain Node, or with lifecycle:=true as a LifecycleNode (the same executable, --lifecycle);
    neither with composed:=true."""
    lifecycle, separate = LaunchConfiguration("lifecycle"), NotSubstitution(LaunchConfiguration("composed"))
    common = dict(package="mots_ros", executable=executable, name=executable, namespace=namespace,
                  output="screen", remappings=remappings, parameters=parameters,
                  respawn=LaunchConfiguration("respawn"), respawn_delay=1.0)
    return [Node(**common, condition=IfCondition(AndSubstitution(separate, NotSubstitution(lifecycle)))),
            LifecycleNode(**common, arguments=["--lifecycle"], condition=IfCondition(AndSubstitution(separate,
                                                                                                  lifecycle)))]


def composed_nodes(namespace, remappings, parameters):
    """With composed:=true, both nodes in one process (no name: a process-wide __node remapping would rename
    both), --lifecycle with lifecycle:=true. Its parameters reach both nodes: the inference node's own names."""
    lifecycle, composed = LaunchConfiguration("lifecycle"), LaunchConfiguration("composed")
    common = dict(package="mots_ros", executable="composed_nodes", namespace=namespace, output="screen",
                  remappings=remappings, parameters=parameters, respawn=LaunchConfiguration("respawn"),
                  respawn_delay=1.0)
    return [Node(**common, condition=IfCondition(AndSubstitution(composed, NotSubstitution(lifecycle)))),
            Node(**common, arguments=["--lifecycle"], condition=IfCondition(AndSubstitution(composed, lifecycle)))]


def generate_launch_description():
    share = get_package_share_directory("mots_ros")
    camera_topic = LaunchConfiguration("camera_topic")
    namespace = LaunchConfiguration("namespace")
    use_sim_time = LaunchConfiguration("use_sim_time")
    params_file = LaunchConfiguration("params_file")
    remappings = [("image", camera_topic)]
    inference_parameters = [params_file, {
        "model_type": ParameterValue(LaunchConfiguration("model"), value_type=str),
        "checkpoint": ParameterValue(LaunchConfiguration("checkpoint"), value_type=str),
        "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
        "use_sim_time": ParameterValue(use_sim_time, value_type=bool)}]
    return LaunchDescription([
        DeclareLaunchArgument("camera_topic", default_value="/camera/image_raw",
                              description="sensor_msgs/Image input topic (rgb8, bgr8 or mono8)"),
        DeclareLaunchArgument("model", default_value="auto",
                              description="model family: auto (the checkpoint's), trackrcnn or pixel_embedding"),
        DeclareLaunchArgument("checkpoint", default_value="",
                              description="checkpoint written by mots train (empty: the shipped demo weights)"),
        DeclareLaunchArgument("device", default_value="auto", description="auto, cpu, cuda or cuda:N"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the nodes and topics"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (replayed bags)"),
        DeclareLaunchArgument("rviz", default_value="false", description="start RViz with the overlay display"),
        DeclareLaunchArgument("respawn", default_value="false",
                              description="start a node again 1 s after it exits (a new tracker_node restarts "
                                          "the ids)"),
        DeclareLaunchArgument("lifecycle", default_value="false",
                              description="managed (lifecycle) nodes, configured and activated by ros2 lifecycle "
                                          "set or a lifecycle manager"),
        DeclareLaunchArgument("composed", default_value="false",
                              description="both nodes in one process: the detections reach the tracker by a call "
                                          "(one middleware hop less per frame); the tracker then takes no "
                                          "detections from other processes"),
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "tracker.yaml"),
                              description="parameter file of both nodes"),
        *mots_node("inference_node", namespace, remappings, inference_parameters),
        *mots_node("tracker_node", namespace, remappings,
                   [params_file, {"use_sim_time": ParameterValue(use_sim_time, value_type=bool)}]),
        *composed_nodes(namespace, remappings, inference_parameters),
        Node(package="rviz2", executable="rviz2", name="rviz2", namespace=namespace, output="screen",
             arguments=["-d", os.path.join(share, "rviz", "mots.rviz")],
             condition=IfCondition(LaunchConfiguration("rviz")),
             parameters=[{"use_sim_time": ParameterValue(use_sim_time, value_type=bool)}]),
    ])
