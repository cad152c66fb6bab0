"""composed_nodes (`mots launch --composed`, ``composed:=true``): both nodes in one process, the detections handed
to the tracker by a call. The tracks equal the core's (and so the separate nodes'); both nodes keep their names,
parameters and services; /detections is still published for others."""
import pytest
import rclpy
from rcl_interfaces.srv import SetParameters

from helpers import running_graph, synth_frames
from mots_ros.engine.build import DEMO_TRACKER
from mots_ros.msg import Detections
from mots_ros.ros import replay
from mots_ros.ros.launcher import LaunchArgs
from test_ros_nodes import _assert_same_tracks, _core_tracks, _messages, _reset_tracker

FRAMES = 8


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    return synth_frames(tmp_path_factory.mktemp("synth"), FRAMES)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    args = LaunchArgs(extra_params=[DEMO_TRACKER], composed=True, overrides={"inference_node": {"device": "cpu"}})
    yield from running_graph(args, tmp_path_factory.mktemp("logs"), domain_offset=7, overlay=False,
                             instance_image=True)


def _run(client, frames, t0):
    client.result = replay.ReplayResult()
    res = client.replay(_messages(frames, t0), timeout=120)
    assert (res.published, res.received, res.dropped) == (len(frames), len(frames), 0)
    return replay.tracks_in_order(res)


def test_one_process_two_nodes_the_core_tracks_and_detections_for_others(graph, frames):
    g, client = graph
    assert list(g.procs) == ["composed_nodes"]
    assert {"inference_node", "tracker_node"} <= {name for name, _ in client.get_node_names_and_namespaces()}
    detections = []
    sub = client.create_subscription(Detections, "/detections", detections.append, 10)
    client.spin_until(lambda: sub.get_publisher_count() == 1, 30, "the /detections publisher")
    _reset_tracker(client)
    got = _run(client, frames, 1_700_000_000_000_000_000)
    _assert_same_tracks(got, _core_tracks(frames))
    assert sum(len(t) for t in got) > 0
    client.spin_until(lambda: len(detections) == FRAMES, 30, "every frame's detections on /detections")
    assert [d.header.stamp.nanosec for d in detections] == [t.stamp % 10 ** 9 for t in got]
    client.destroy_subscription(sub)


def test_the_tracker_node_keeps_its_services_and_parameters(graph, frames):
    g, client = graph
    _reset_tracker(client)
    first = _run(client, frames[:3], 1_800_000_000_000_000_000)
    assert min(first[0].track_ids) == 1 and first[0].ages.max() == 0
    cli = client.create_client(SetParameters, "/tracker_node/set_parameters")
    assert cli.wait_for_service(timeout_sec=30)
    request = SetParameters.Request(parameters=[
        rclpy.Parameter(f"{c}.detection_score_threshold", value=1.0).to_parameter_msg()
        for c in ("car", "pedestrian")])
    future = cli.call_async(request)
    rclpy.spin_until_future_complete(client, future, timeout_sec=30)
    assert all(r.successful for r in future.result().results)
    assert sum(len(t) for t in _run(client, frames[:3], 1_810_000_000_000_000_000)) == 0
