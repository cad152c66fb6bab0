"""ROS 2 adapters over the ROS-free core: message conversions, the inference and tracker nodes, a pip-only
launcher and rosbag tools. Only the node, launcher and bag modules import rclpy / rosbags."""
