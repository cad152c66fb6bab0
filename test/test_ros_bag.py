"""Rosbags: a synthetic sequence written as a bag, replayed through the node processes by `mots bag evaluate`,
scores exactly as the offline `mots run` (= mots infer + mots track) + `mots eval` path; broken bags are named."""
import json
import os

import pytest

from mots_ros import MotsError
from mots_ros.data import formats
from mots_ros.data.synth import generate
from mots_ros.eval.evaluate import evaluate
from mots_ros.ros import bag

FRAMES = 8


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    root = tmp_path_factory.mktemp("bagdata")
    generate(str(root / "data"), sequences=1, frames=FRAMES, size=(188, 620), seed=7)
    seqmap = root / "seq.seqmap"
    formats.write_seqmap({"0000": (0, FRAMES - 1)}, str(seqmap))
    path = str(root / "cam.mcap")
    assert bag.from_sequence(str(root / "data" / "images" / "0000"), path, rate=10) == FRAMES
    return root, path, str(seqmap)


def test_from_sequence_stamps_and_metadata(sequence):
    root, path, _ = sequence
    topic, msgtype, first, name, raw = bag.read_images(path)
    assert (topic, msgtype, first, name, len(raw)) == ("/camera/image_raw", bag.IMAGE_TYPE, 0, "0000", FRAMES)
    msgs = list(bag.image_messages(path, raw, first))
    assert [f for f, _ in msgs] == list(range(FRAMES))
    assert [m.header.stamp.nanosec for _, m in msgs] == [i * 100_000_000 for i in range(FRAMES)]
    assert {(m.encoding, m.height, m.width, m.header.frame_id) for _, m in msgs} == {("rgb8", 188, 620, "camera")}


def test_bag_evaluate_equals_the_offline_path(sequence, tmp_path):
    from mots_ros.engine.infer import run

    root, path, seqmap = sequence
    gt = str(root / "data" / "instances_txt")
    os.environ["ROS_DOMAIN_ID"] = str(100 + (os.getpid() + 7) % 100)
    out_json = tmp_path / "eval.json"
    online = bag.evaluate(path, gt, seqmap, json_out=str(out_json), device="cpu", out=str(tmp_path / "bag"))
    run(str(root / "data" / "images"), seqmap, str(tmp_path / "offline"), device="cpu")
    offline = evaluate(gt, str(tmp_path / "offline"), seqmap)
    for cls in ("car", "pedestrian"):
        for metric in ("sMOTSA", "MOTSA", "MOTSP", "IDF1", "HOTA", "TP", "FP", "FN", "IDS"):
            assert online[cls]["combined"][metric] == pytest.approx(offline[cls]["combined"][metric], abs=1e-12), \
                (cls, metric)
    assert (tmp_path / "bag" / "results" / "0000.txt").read_text() == (tmp_path / "offline" / "0000.txt").read_text()
    report = json.loads(out_json.read_text())
    t = report["transport"]
    assert (t["published"], t["received"], t["dropped"]) == (FRAMES, FRAMES, 0)
    assert 0 < t["latency_ms_p50"] <= t["latency_ms_p95"]
    assert report["car"]["combined"]["TP"] == offline["car"]["combined"]["TP"]


def test_broken_bags_are_named(tmp_path, sequence):
    _, path, _ = sequence
    with pytest.raises(MotsError, match="missing.mcap"):
        bag.read_images(str(tmp_path / "missing.mcap"))
    mcap = next(p for p in os.listdir(path) if p.endswith(".mcap"))
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in os.listdir(path):
        data = open(os.path.join(path, name), "rb").read()
        (broken / name).write_bytes(data[: len(data) // 2] if name == mcap else data)
    with pytest.raises(MotsError, match="broken"):
        bag.read_images(str(broken))
    with pytest.raises(MotsError, match="no sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage messages on "
                                        "/other"):
        bag.read_images(path, topic="/other")


def test_bag_evaluate_scores_the_rest_when_the_node_drops_a_bad_frame(sequence, tmp_path, monkeypatch):
    root, path, seqmap = sequence
    messages = bag.image_messages

    def one_bad(*args):
        for frame, msg in messages(*args):
            if frame == 3:
                msg.encoding = "32FC1"
            yield frame, msg

    monkeypatch.setattr(bag, "image_messages", one_bad)
    os.environ["ROS_DOMAIN_ID"] = str(100 + (os.getpid() + 11) % 100)
    scores = bag.evaluate(path, str(root / "data" / "instances_txt"), seqmap, device="cpu", out=str(tmp_path))
    t = scores["transport"]
    assert (t["published"], t["received"], t["dropped"], t["rejected_by_nodes"]) == (FRAMES, FRAMES - 1, 1, 1)
    frames = {int(line.split()[0]) for line in (tmp_path / "results" / "0000.txt").read_text().splitlines()}
    assert 3 not in frames and frames == set(range(FRAMES)) - {3}
    assert scores["car"]["combined"]["TP"] > 0
