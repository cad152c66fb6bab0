"""Compressed camera input (image_transport compressed): jpeg frames on CAMERA/compressed through the node
processes give the core's tracks of the decoded frames; a corrupt jpeg is dropped, and a compressed bag scores."""
import os

import numpy as np
import pytest
import rclpy
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

from mots_ros import MotsError
from mots_ros.data import formats
from mots_ros.data.synth import generate
from mots_ros.data.windows import list_frames, read_image
from mots_ros.engine.build import DEMO_TRACKER
from mots_ros.ros import bag, replay
from mots_ros.ros.convert import compressed_to_rgb, instance_ids, ns_stamp, rgb_to_compressed
from mots_ros.ros.launcher import Graph, LaunchArgs
from test_ros_nodes import _assert_same_tracks, _core_tracks

FRAMES = 8
COMPRESSED = {"image_transport": "compressed"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("jpegdata")
    generate(str(root / "data"), sequences=1, frames=FRAMES, size=(188, 620), seed=5)
    formats.write_seqmap({"0000": (0, FRAMES - 1)}, str(root / "seq.seqmap"))
    return root


def _frames(root):
    return [read_image(p) for p in list_frames(str(root / "data" / "images" / "0000")).values()]


def _truncated(msg: CompressedImage) -> CompressedImage:
    return CompressedImage(header=msg.header, format=msg.format, data=bytes(msg.data)[:2000])


def test_compressed_camera_gives_the_core_tracks_of_the_decoded_frames(data, tmp_path):
    """Both nodes with image_transport compressed: the tracks are the core's on the decoded frames and the overlay
    is drawn on them; a corrupt jpeg is logged, reported on ~/image_dropped and skipped, the frames after it are
    tracked. (No namespace: a namespaced node does not read the bare-name keys of the parameter files.)"""
    from mots_ros.viz.overlay import draw_overlay

    bad, t0 = 3, 1_600_000_000_000_000_000
    msgs = [rgb_to_compressed(rgb, Header(stamp=ns_stamp(t0 + i * 100_000_000), frame_id="cam")) for i, rgb in
            enumerate(_frames(data))]
    msgs[bad] = _truncated(msgs[bad])
    decoded = {i: compressed_to_rgb(m) for i, m in enumerate(msgs) if i != bad}
    os.environ["ROS_DOMAIN_ID"] = str(100 + (os.getpid() + 13) % 100)
    g = Graph(LaunchArgs(camera_topic="/jpeg/camera", extra_params=[DEMO_TRACKER],
                         overrides={"inference_node": {"device": "cpu", **COMPRESSED}, "tracker_node": COMPRESSED}),
              log_dir=str(tmp_path)).start()
    replay.init()
    try:
        client = replay.Replayer("/jpeg/camera", overlay=True, transport="compressed")
        client.wait_for_graph(check=g.check)
        res = client.replay(enumerate(msgs), timeout=120, check=g.check)
        client.destroy_node()
    finally:
        rclpy.try_shutdown()
        codes = g.stop()
    assert codes == {"inference_node": 0, "tracker_node": 0}, codes
    assert (res.published, res.received, res.rejected) == (FRAMES, FRAMES - 1, {bad})
    got = replay.tracks_in_order(res)
    _assert_same_tracks(got, _core_tracks(list(decoded.values())))
    assert sum(len(t) for t in got) > 0
    for tracks in got:
        np.testing.assert_array_equal(res.overlays[tracks.frame], draw_overlay(decoded[tracks.frame], tracks.masks,
                                                                               instance_ids(tracks), 0.5))
    log = open(g.logs["inference_node"]).read()
    assert (f"/jpeg/camera/compressed: frame stamped {t0 + bad * 100_000_000} dropped: 2000 bytes of jpeg data "
            f"do not decode (corrupt or truncated)") in log


def test_from_sequence_compressed_writes_jpeg_on_topic_compressed(data, tmp_path):
    path = str(tmp_path / "cam.mcap")
    assert bag.from_sequence(str(data / "data" / "images" / "0000"), path, compressed=True) == FRAMES
    topic, msgtype, first, name, raw = bag.read_images(path)
    assert (topic, msgtype, first, name) == ("/camera/image_raw/compressed", bag.COMPRESSED_TYPE, 0, "0000")
    assert bag.camera_of(path, topic, msgtype) == ("/camera/image_raw", "compressed")
    for (frame, msg), rgb in zip(bag.image_messages(path, raw, first, msgtype), _frames(data)):
        assert msg.format == "rgb8; jpeg compressed bgr8" and msg.header.stamp.nanosec == frame * 100_000_000
        assert np.abs(compressed_to_rgb(msg).astype(int) - rgb).mean() < 10  # jpeg: lossy, colours in order
    with pytest.raises(MotsError, match="compressed images on /cam, not on CAMERA/compressed"):
        bag.camera_of(path, "/cam", bag.COMPRESSED_TYPE)


def test_bag_evaluate_scores_a_compressed_bag_and_rejects_a_corrupt_frame(data, tmp_path, monkeypatch):
    path = str(tmp_path / "cam.mcap")
    bag.from_sequence(str(data / "data" / "images" / "0000"), path, compressed=True)
    messages = bag.image_messages

    def one_bad(*args):
        for frame, msg in messages(*args):
            yield frame, _truncated(msg) if frame == 3 else msg

    monkeypatch.setattr(bag, "image_messages", one_bad)
    os.environ["ROS_DOMAIN_ID"] = str(100 + (os.getpid() + 17) % 100)
    scores = bag.evaluate(path, str(data / "data" / "instances_txt"), str(data / "seq.seqmap"), device="cpu",
                          out=str(tmp_path / "eval"))
    t = scores["transport"]
    assert (t["published"], t["received"], t["dropped"], t["rejected_by_nodes"]) == (FRAMES, FRAMES - 1, 1, 1)
    lines = (tmp_path / "eval" / "results" / "0000.txt").read_text().splitlines()
    assert {int(line.split()[0]) for line in lines} == set(range(FRAMES)) - {3}
    assert scores["car"]["combined"]["TP"] > 0 and scores["pedestrian"]["combined"]["TP"] > 0
