"""The ROS 2 nodes for real (rclpy + Fast DDS from the ROS 2 wheels): frames published to the running node
processes come back as tracks equal to what the ROS-free core computes on the same frames."""
import time

import numpy as np
import pytest
import rclpy
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from helpers import running_graph, synth_frames
from mots_ros.data import rle
from mots_ros.engine.build import DEMO_CHECKPOINT, DEMO_TRACKER
from mots_ros.models.streaming import StreamingModel
from mots_ros.models.weights import build_from_checkpoint
from mots_ros.ros import replay
from mots_ros.msg import Detections
from mots_ros.ros.convert import ns_stamp, rgb_to_image, stamp_ns
from mots_ros.ros.launcher import Graph, LaunchArgs
from mots_ros.tracking.config import load_tracker_config
from mots_ros.tracking.tracker import Tracker

FRAMES = 10


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    return synth_frames(tmp_path_factory.mktemp("synth"), FRAMES)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """The two nodes as processes (demo weights, their tuned tracker), a private DDS domain, and a client."""
    args = LaunchArgs(extra_params=[DEMO_TRACKER], overrides={"inference_node": {"device": "cpu"}})
    yield from running_graph(args, tmp_path_factory.mktemp("logs"), overlay=False, instance_image=True)


def _messages(frames, t0: int, frame_id: str = "cam_front", encoding: str = "rgb8"):
    for i, rgb in enumerate(frames):
        header = Header(stamp=ns_stamp(t0 + i * 100_000_000), frame_id=frame_id)
        if encoding == "bgr8":
            msg = rgb_to_image(rgb[:, :, ::-1], header)
            msg.encoding = "bgr8"
        else:
            msg = rgb_to_image(rgb, header)
        yield i, msg


def _run(client, frames, t0, encoding: str = "rgb8"):
    client.result = replay.ReplayResult()
    return client.replay(_messages(frames, t0, encoding=encoding), timeout=120)


def _assert_same_tracks(got_tracks, want_tracks):
    assert len(got_tracks) == len(want_tracks)
    for got, want in zip(got_tracks, want_tracks):
        np.testing.assert_array_equal(got.track_ids, want.track_ids)
        np.testing.assert_array_equal(got.classes, want.classes)
        np.testing.assert_array_equal(got.ages, want.ages)
        assert [m["counts"] for m in got.masks] == [m["counts"] for m in want.masks]


def _core_tracks(frames):
    """The core's tracks of ``frames`` (demo weights and tracker)."""
    stream = StreamingModel(build_from_checkpoint(DEMO_CHECKPOINT), device="cpu")
    tracker = Tracker(load_tracker_config(DEMO_TRACKER))
    dets = []
    for i, rgb in enumerate(frames):
        dets += stream.push(rgb, i, i)
    return [tracker.step(d) for d in dets + stream.flush()]


@pytest.fixture(scope="module")
def offline(frames):
    return _core_tracks(frames)


def _reset_tracker(client):
    cli = client.create_client(Trigger, "/tracker_node/reset")
    assert cli.wait_for_service(timeout_sec=30)
    future = cli.call_async(Trigger.Request())
    rclpy.spin_until_future_complete(client, future, timeout_sec=30)
    assert future.result().success


def test_nodes_match_the_core_headers_ids_and_instance_images(graph, frames, offline):
    g, client = graph
    _reset_tracker(client)
    res = _run(client, frames, 1_700_000_000_000_000_000)
    assert (res.published, res.received, res.dropped) == (FRAMES, FRAMES, 0)
    assert set(res.frame_ids.values()) == {"cam_front"}
    assert [t.stamp for t in replay.tracks_in_order(res)] == [1_700_000_000_000_000_000 + i * 100_000_000
                                                             for i in range(FRAMES)]
    _assert_same_tracks(replay.tracks_in_order(res), offline)
    for got in replay.tracks_in_order(res):
        # the mono16 instance image holds class*1000+id on exactly the track masks
        ids = got.classes * 1000 + got.track_ids
        np.testing.assert_array_equal(res.instance_images[got.frame],
                                      rle.label_map(got.masks, ids, got.height, got.width))
    # ids stay: some track is present in every frame with the same id and a growing age
    per_frame = [set(zip(t.classes, t.track_ids)) for t in offline]
    assert set.intersection(*per_frame), "no object keeps its id over the sequence"


def test_bgr8_camera_images_give_the_tracks_of_the_rgb_frames(graph, frames, offline):
    g, client = graph
    _reset_tracker(client)
    res = _run(client, frames, 1_750_000_000_000_000_000, encoding="bgr8")
    assert (res.published, res.received) == (FRAMES, FRAMES)
    assert "inference failed" not in open(g.logs["inference_node"]).read()
    _assert_same_tracks(replay.tracks_in_order(res), offline)
    assert sum(len(t) for t in replay.tracks_in_order(res)) > 0


def test_malformed_images_are_reported_and_the_node_keeps_serving(graph, frames):
    g, client = graph
    bad = [rgb_to_image(frames[0], Header(stamp=ns_stamp(5), frame_id="cam")),
           rgb_to_image(frames[0], Header(stamp=ns_stamp(6), frame_id="cam")),
           rgb_to_image(np.zeros((0, 0, 3), np.uint8), Header(stamp=ns_stamp(7), frame_id="cam"))]
    bad[0].encoding = "32FC1"
    bad[1].step = 10  # shorter than a row
    taken = client._taken
    client._sent.update({5: 0.0, 6: 0.0, 7: 0.0})
    for msg in bad:
        client.pub.publish(msg)
        deadline = time.monotonic() + 30
        while client._taken == taken and time.monotonic() < deadline:
            rclpy.spin_once(client, timeout_sec=0.05)
        taken = client._taken
    texts = ("unsupported encoding '32FC1'", "step 10 is less than width 620", "empty image (0x0)")
    deadline = time.monotonic() + 30  # the node acknowledges an image before it checks it
    while not all(t in open(g.logs["inference_node"]).read() for t in texts) and time.monotonic() < deadline:
        time.sleep(0.1)
    log = open(g.logs["inference_node"]).read()
    for text in texts:
        assert "/camera/image_raw: frame stamped" in log and text in log, text
    g.check()  # still running
    res = _run(client, frames[:4], 1_800_000_000_000_000_000)
    assert res.received == 4


def test_malformed_detections_are_dropped_and_the_tracker_keeps_serving(graph, frames):
    """Any publisher on /detections may send a broken message (test_ros_convert.BAD_DETECTIONS has one row per
    kind); the tracker logs it, reports its header on ~/detections_dropped and goes on."""
    from test_ros_convert import BAD_DETECTIONS, _detections_msg

    g, client = graph
    pub = client.create_publisher(Detections, "/detections", 10)
    dropped = []
    sub = client.create_subscription(Header, "/tracker_node/detections_dropped", dropped.append, 100)
    client.spin_until(lambda: pub.get_subscription_count() > 0 and sub.get_publisher_count() > 0, 30, "discovery")
    for i, (name, edit, _) in enumerate(BAD_DETECTIONS):
        msg = _detections_msg()
        msg.height, msg.width = 20, 30
        msg.header.stamp = ns_stamp(2_000_000_000_000_000_000 + i)
        edit(msg)
        pub.publish(msg)
    client.spin_until(lambda: len(dropped) == len(BAD_DETECTIONS), 30, "the dropped messages' headers")
    assert [stamp_ns(h.stamp) for h in dropped] == [2_000_000_000_000_000_000 + i for i in range(len(BAD_DETECTIONS))]
    log = open(g.logs["tracker_node"]).read()
    assert log.count("/detections: message stamped 2000000000000000") == len(BAD_DETECTIONS)
    g.check()  # still running
    client.destroy_publisher(pub)
    client.destroy_subscription(sub)
    _reset_tracker(client)
    assert _run(client, frames[:4], 2_100_000_000_000_000_000).received == 4


def test_a_restarted_camera_of_another_size_starts_a_new_sequence(graph, frames):
    """The camera's publisher goes away and a new one comes with frames of half the size: the inference node
    flushes, starts a new sequence and every frame of the new camera gets tracks."""
    from sensor_msgs.msg import Image

    g, client = graph
    stamp = 2_050_000_000_000_000_000
    client._sent[stamp] = time.perf_counter()  # so that its ~/image_taken counts (no flush after it: one sequence)
    taken = client._taken
    client.pub.publish(next(_messages(frames[:1], stamp))[1])
    client.spin_until(lambda: client._taken > taken, 60, "the first camera's frame to be taken", g.check)
    client.destroy_publisher(client.pub)
    client.pub = client.create_publisher(Image, "/camera/image_raw", 10)
    client.wait_for_graph(check=g.check)
    small = [np.ascontiguousarray(f[::2, ::2]) for f in frames[:4]]
    res = _run(client, small, 2_060_000_000_000_000_000)
    assert res.received == 4 and {(t.height, t.width) for t in res.tracks.values()} == {small[0].shape[:2]}
    assert "size changed (188, 620) -> (94, 310): new sequence" in open(g.logs["inference_node"]).read()
    g.check()


def test_reset_service_restarts_ids(graph, frames):
    g, client = graph
    _reset_tracker(client)
    first = replay.tracks_in_order(_run(client, frames[:5], 1_900_000_000_000_000_000))
    again = replay.tracks_in_order(_run(client, frames[:5], 1_910_000_000_000_000_000))
    assert again[0].ages.max() > 0  # without a reset the tracks of the first pass go on
    _reset_tracker(client)
    after = replay.tracks_in_order(_run(client, frames[:5], 1_920_000_000_000_000_000))
    assert first[0].ages.max() == after[0].ages.max() == 0
    for a, b in zip(first, after):
        np.testing.assert_array_equal(a.track_ids, b.track_ids)
        np.testing.assert_array_equal(a.ages, b.ages)
    assert min(t.track_ids.min() for t in after if len(t)) == 1


def test_overlay_is_rendered_while_watched(graph, frames):
    g, client = graph
    watcher = replay.Replayer(overlay=True)  # the tracker node subscribes camera images only while watched
    try:
        watcher.wait_for_graph(check=g.check)
        res = watcher.replay(_messages(frames[:4], 1_930_000_000_000_000_000), timeout=120)
    finally:
        watcher.destroy_node()
    assert sorted(res.overlays) == [0, 1, 2, 3]
    for f, tracks in res.tracks.items():
        over = res.overlays[f]
        assert over.shape == frames[f].shape and over.dtype == np.uint8
        masks = rle.decode(tracks.masks).any(axis=2) if len(tracks) else np.zeros(over.shape[:2], bool)
        assert (over[masks] != frames[f][masks]).any(axis=1).mean() > 0.9  # tinted under the masks


def _parameter(client, node: str, name: str):
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    cli = client.create_client(GetParameters, f"{node}/get_parameters")
    assert cli.wait_for_service(timeout_sec=30)
    future = cli.call_async(GetParameters.Request(names=[name]))
    rclpy.spin_until_future_complete(client, future, timeout_sec=30)
    client.destroy_client(cli)
    return parameter_value_to_python(future.result().values[0])


def test_respawned_nodes_keep_serving(graph, frames, tmp_path):
    """With respawn, a node killed with SIGKILL starts again: a new tracker_node restarts the ids at 1, a new
    inference_node takes the camera again (a second graph, in its own namespace)."""
    import signal

    g = Graph(LaunchArgs(namespace="respawn", camera_topic="/respawn/camera", respawn=True,
                         extra_params=[DEMO_TRACKER], overrides={"inference_node": {"device": "cpu"}}),
              log_dir=str(tmp_path)).start()
    client = replay.Replayer("/respawn/camera", "respawn")
    try:
        client.wait_for_graph(check=g.check)
        # the parameter files reach nodes in a namespace (a bare `tracker_node:` key matched /tracker_node only)
        want = load_tracker_config(DEMO_TRACKER).car.association_threshold
        assert _parameter(client, "/respawn/tracker_node", "car.association_threshold") == want != 1.0
        t0 = 1_500_000_000_000_000_000
        before = replay.tracks_in_order(client.replay(_messages(frames[:4], t0), timeout=120, check=g.check))
        for k, name in enumerate(("tracker_node", "inference_node")):
            g.procs[name].send_signal(signal.SIGKILL)
            client.spin_until(lambda: g.respawns.get(name) == 1, 60, f"{name}'s respawn", g.check)
            client.wait_for_graph(check=g.check)
            client.result = replay.ReplayResult()
            res = client.replay(_messages(frames[:4], t0 + (k + 1) * 10**11), timeout=120, check=g.check)
            assert res.received == 4
            if name == "tracker_node":  # fresh ids: as the first pass
                _assert_same_tracks(replay.tracks_in_order(res), before)
            else:  # the tracker goes on; a fresh inference node gives the first pass's detections
                assert [sorted(t.classes) for t in replay.tracks_in_order(res)] == [sorted(t.classes) for t in before]
    finally:
        client.destroy_node()
        codes = g.stop()
    assert codes == {"inference_node": 0, "tracker_node": 0}, codes

