"""The TrackR-CNN tracker (thesis ch. 3), its config file, the detection format and `mots track`."""
from dataclasses import replace

import numpy as np
import pytest

from helpers import box, make_seq
from mots_ros import MotsError
from mots_ros.cli import main
from mots_ros.data import formats, rle
from mots_ros.tracking import detections_io
from mots_ros.tracking.config import (ClassParams, TrackerConfig, load_tracker_config, save_tracker_config)
from mots_ros.tracking.run import track_sequence
from mots_ros.tracking.tracker import Tracker, disjoint_by_score, match
from mots_ros.tracking.types import FrameDetections, FrameTracks

H, W = 20, 40
PARAMS = ClassParams(detection_score_threshold=0.5, new_track_score_threshold=0.5, association_threshold=1.0,
                     keep_alive=2, reid_weight=1.0, mask_iou_weight=0.0, box_center_weight=0.0)


def cfg(matching="hungarian", **kw) -> TrackerConfig:
    return TrackerConfig(matching, replace(PARAMS, **kw), replace(PARAMS, **kw))


def frame(t, objs, dim=2) -> FrameDetections:
    """``objs``: (class, score, (y0, x0, y1, x1), embedding) per detection."""
    if not objs:
        return FrameDetections.empty(t, 100 * t, H, W, dim)
    masks = rle.encode(np.stack([box(H, W, *o[2]) for o in objs], axis=2))
    boxes = np.array([[o[2][1], o[2][0], o[2][3], o[2][2]] for o in objs], np.float32)
    return FrameDetections(t, 100 * t, H, W, boxes, np.array([o[1] for o in objs], np.float32),
                           np.array([o[0] for o in objs], np.int64), masks, np.array([o[3] for o in objs], np.float32))


def ids(tracks: FrameTracks) -> list[int]:
    return tracks.track_ids.tolist()


A, B = (0, 0, 4, 4), (0, 10, 4, 14)  # two disjoint boxes


def test_ids_continue_while_embeddings_stay_close():
    rng = np.random.default_rng(0)
    frames = [frame(t, [(1, 0.9, A, [0, 0] + rng.normal(0, 0.05, 2)), (1, 0.9, B, [3, 0] + rng.normal(0, 0.05, 2))])
              for t in range(6)]
    out = track_sequence(frames, cfg())
    assert [ids(f) for f in out] == [[1, 2]] * 6
    assert [f.ages.tolist() for f in out] == [[t, t] for t in range(6)]
    assert [f.stamp for f in out] == [100 * t for t in range(6)]
    assert out[3].masks[0]["counts"] == frames[3].masks[0]["counts"]


def test_empty_frames_of_unknown_embedding_size_are_tracked():
    # a ROS message without detections does not tell the embedding size: first frame empty with dim 0, then dim 2,
    # then empty with dim 0 again
    frames = [frame(0, [], dim=0), frame(1, [(1, 0.9, A, [0, 0])]), frame(2, [], dim=0),
              frame(3, [(1, 0.9, A, [0, 0])])]
    out = track_sequence(frames, cfg())
    assert [ids(f) for f in out] == [[], [1], [], [1]]
    with pytest.raises(MotsError, match="embedding dimension 3, the tracks have 2"):
        t = Tracker(cfg())
        t.step(frames[1])
        t.step(frame(2, [(1, 0.9, A, [0, 0, 0])], dim=3))


def test_id_switch_when_the_embedding_jumps():
    frames = [frame(t, [(1, 0.9, A, [0, 0] if t < 3 else [5, 0])]) for t in range(5)]
    assert [ids(f) for f in track_sequence(frames, cfg())] == [[1], [1], [1], [2], [2]]


def test_track_survives_gaps_up_to_keep_alive():
    seen = {0, 3, 7}  # a gap of 2 frames (= keep_alive) then one of 3
    frames = [frame(t, [(2, 0.9, A, [0, 0])] if t in seen else []) for t in range(8)]
    out = track_sequence(frames, cfg(keep_alive=2))
    assert [ids(f) for f in out] == [[1], [], [], [1], [], [], [], [2]]
    # frame numbers that skip count as gaps too
    assert [ids(f) for f in track_sequence([frames[t] for t in sorted(seen)], cfg(keep_alive=2))] == [[1], [1], [2]]
    assert [ids(f) for f in track_sequence(frames, cfg(keep_alive=3))][7] == [1]


def test_score_thresholds():
    c = cfg(detection_score_threshold=0.6, new_track_score_threshold=0.7)
    f0 = frame(0, [(1, 0.9, A, [0, 0]), (1, 0.5, B, [5, 0])])  # second below the detection threshold
    f1 = frame(1, [(1, 0.6, A, [0, 0]), (1, 0.65, B, [5, 0])])  # continues track 1; too weak for a new track
    f2 = frame(2, [(1, 0.7, B, [5, 0])])  # float32(0.7) < 0.7, but thresholds compare at float32 precision
    out = track_sequence([f0, f1, f2], c)
    assert [ids(f) for f in out] == [[1], [1], [2]]
    assert out[1].scores.tolist() == pytest.approx([0.6])


def test_overlapping_masks_are_made_disjoint_by_score():
    big, small, inside = (0, 0, 10, 10), (5, 5, 15, 15), (1, 1, 3, 3)
    f = frame(0, [(1, 0.7, big, [0, 0]), (2, 0.9, small, [9, 9]), (1, 0.8, inside, [5, 5]), (2, 0.6, inside, [7, 7])])
    out = Tracker(cfg()).step(f)
    assert out.classes.tolist() == [1, 1, 2]  # the pedestrian inside the car box lost every pixel: dropped
    masks = rle.decode(out.masks).astype(bool)
    order = [out.scores.tolist().index(s) for s in np.float32([0.7, 0.8, 0.9])]
    m_big, m_inside, m_small = (masks[:, :, i] for i in order)
    assert (m_small == box(H, W, *small)).all()  # highest score keeps the contested pixels
    assert (m_inside == box(H, W, *inside)).all()
    assert (m_big == box(H, W, *big) & ~box(H, W, *small) & ~box(H, W, *inside)).all()
    assert masks.sum(axis=2).max() == 1


def test_disjoint_by_score_equals_pixel_reference():
    rng = np.random.default_rng(1)
    for trial in range(200):
        h, w, n = int(rng.integers(1, 25)), int(rng.integers(1, 25)), int(rng.integers(1, 7))
        m = rng.random((h, w, n)) < rng.random()
        scores = rng.random(n).round(1)  # ties: the earlier mask wins
        out, area = disjoint_by_score(rle.encode(m), scores)
        ref, taken = m.copy(), np.zeros((h, w), bool)
        for i in np.argsort(-scores, kind="stable"):
            ref[:, :, i] &= ~taken
            taken |= m[:, :, i]
        assert area.tolist() == ref.sum(axis=(0, 1)).tolist()
        assert [o["counts"] for o in out] == [r["counts"] for r in rle.encode(ref)]  # pycocotools' own strings


def test_greedy_and_hungarian_differ():
    f0 = frame(0, [(1, 0.9, A, [0, 0]), (1, 0.9, B, [1, 0])])
    f1 = frame(1, [(1, 0.9, A, [0.45, 0]), (1, 0.9, B, [-0.5, 0])])  # costs 0.45 0.55 / 0.5 1.5
    assert ids(track_sequence([f0, f1], cfg("greedy", association_threshold=0.6))[1]) == [1, 3]
    assert ids(track_sequence([f0, f1], cfg("hungarian", association_threshold=0.6))[1]) == [2, 1]
    cost = np.array([[0.45, 0.55], [0.5, 1.5]])
    assert [x.tolist() for x in match(cost, 0.6, "greedy")] == [[0], [0]]
    assert [x.tolist() for x in match(cost, 0.6, "hungarian")] == [[0, 1], [1, 0]]
    assert [x.tolist() for x in match(cost, 0.4, "hungarian")] == [[], []]


def test_cues_and_reset():
    c = cfg(reid_weight=0.0, mask_iou_weight=1.0, box_center_weight=1.0, association_threshold=0.9)
    tracker = Tracker(c)
    tracker.step(frame(0, [(1, 0.9, A, [0, 0]), (1, 0.9, B, [0, 0])]))
    moved = frame(1, [(1, 0.9, (0, 11, 4, 15), [0, 0]), (1, 0.9, (0, 1, 4, 5), [0, 0])])
    assert ids(tracker.step(moved)) == [2, 1]  # mask overlap and box centres, embeddings equal
    with pytest.raises(MotsError, match="frames must increase"):
        tracker.step(moved)
    tracker.reset()
    assert ids(tracker.step(moved)) == [1, 2]


def test_per_class_parameters():
    c = TrackerConfig("hungarian", replace(PARAMS, detection_score_threshold=0.5),
                      replace(PARAMS, detection_score_threshold=0.8, association_threshold=0.1))
    f0 = frame(0, [(1, 0.7, A, [0, 0]), (2, 0.7, B, [0, 0]), (2, 0.9, (10, 0, 14, 4), [5, 5])])
    f1 = frame(1, [(1, 0.9, A, [0.5, 0]), (2, 0.9, (10, 0, 14, 4), [5.5, 5])])
    out = track_sequence([f0, f1], c)
    assert out[0].classes.tolist() == [1, 2] and ids(out[0]) == [1, 1]  # ids count per class
    assert ids(out[1]) == [1, 2]  # the car continues (0.5 <= 1.0), the pedestrian does not (0.5 > 0.1)


def test_config_roundtrip_and_errors(tmp_path):
    c = TrackerConfig("greedy", replace(PARAMS, keep_alive=7, association_threshold=1.5e-5),
                      replace(PARAMS, reid_weight=0.25))
    save_tracker_config(c, tmp_path / "t.yaml")
    assert load_tracker_config(tmp_path / "t.yaml") == c
    assert load_tracker_config("config/tracker.yaml") == TrackerConfig()  # shipped file = built-in defaults
    (tmp_path / "w.yaml").write_text("/**:\n  ros__parameters:\n    car:\n      keep_alive: 3\n"
                                     "other_node:\n  ros__parameters:\n    foo: 1\n")
    assert load_tracker_config(tmp_path / "w.yaml").car.keep_alive == 3
    bad = {"car:\n      keep_alives: 3": "unknown key 'car.keep_alives'",
           "matching: best": "matching: expected one of",
           "car:\n      reid_weight: 1": r"car.reid_weight: expected a float, got 1 \(write 1.0",
           "pedestrian:\n      detection_score_threshold: 1.5": r"pedestrian.detection_score_threshold: .*\[0, 1\]",
           "car:\n      keep_alive: -1": "car.keep_alive: must be >= 0",
           "cars: {}": "unknown key 'cars'"}
    for body, message in bad.items():
        path = tmp_path / "bad.yaml"
        path.write_text(f"tracker_node:\n  ros__parameters:\n    {body}\n")
        with pytest.raises(MotsError, match=f"^{path}: {message}"):
            load_tracker_config(path)
    (tmp_path / "none.yaml").write_text("other_node:\n  ros__parameters: {}\n")
    with pytest.raises(MotsError, match="no 'tracker_node:' or '/\\*\\*:' section"):
        load_tracker_config(tmp_path / "none.yaml")


def test_detection_file_roundtrip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    frames = [frame(0, [(1, 0.912345678, A, rng.normal(size=3)), (2, 0.5, B, rng.normal(size=3))], dim=3),
              frame(4, [(2, 0.7, B, rng.normal(size=3) * 1e-7)], dim=3)]
    path = tmp_path / "0000.txt"
    detections_io.write_detections(path, frames)
    back = detections_io.read_detections(path)
    assert [f.frame for f in back] == [0, 4] and [f.stamp for f in back] == [0, 4]
    for a, b in zip(frames, back):
        for name in ("boxes", "scores", "classes", "embeddings"):
            assert (getattr(a, name) == getattr(b, name)).all() and getattr(a, name).dtype == getattr(b, name).dtype
        assert [m["counts"] for m in a.masks] == [m["counts"] for m in b.masks]
        assert (a.height, a.width) == (b.height, b.width)
    good = path.read_text().splitlines()[0].split()
    cases = {" ".join(good[:-1]): "expected 13 fields .* D = 3 as on line 1, got 12",
             " ".join(good[:6] + ["3"] + good[7:]): "class_id must be 1 .* got 3",
             " ".join(good[:5] + ["x"] + good[6:]): "score must be a number, got 'x'",
             " ".join(good[:7] + ["10"] + good[8:]): "image size 10x40 differs from 20x40 on line 1",
             " ".join(good[:3] + ["-1"] + good[4:]): "box must have x1 >= x0"}
    for line, message in cases.items():
        path.write_text(f"{' '.join(good)}\n{line}\n")
        with pytest.raises(MotsError, match=f"^{path}:2: {message}"):
            detections_io.read_detections(path)
    path.write_text("\n0 1 2\n")
    with pytest.raises(MotsError, match=f"^{path}:2: expected at least 10 fields"):
        detections_io.read_detections(path)


def test_track_ids_beyond_kitti_range():
    t = FrameTracks(0, 0, H, W, np.array([1000]), np.array([1]), np.ones(1, np.float32), np.zeros((1, 4)),
                    rle.encode(box(H, W, *A)), np.zeros(1, np.int64))
    with pytest.raises(MotsError, match="track id 1000 >= 1000 cannot be written in KITTI MOTS format"):
        detections_io.tracks_to_sequence("0000", [t])
    assert detections_io.tracks_to_sequence("0000", [t], kitti_ids=False).ids.tolist() == [2000]


def test_mots_track_cli_then_eval(tmp_path, capsys):
    rng = np.random.default_rng(0)
    boxes = {1001: lambda t: (2, t, 8, t + 6), 1002: lambda t: (10, 30 - t, 16, 36 - t), 2001: lambda t: (0, 20, 8, 24)}
    emb = {k: rng.normal(size=4) for k in boxes}
    gt = make_seq([(t, k, box(H, W, *b(t))) for t in range(10) for k, b in boxes.items()])
    (tmp_path / "gt").mkdir()
    (tmp_path / "dets").mkdir()
    formats.write_txt(gt, tmp_path / "gt" / "0000.txt")
    formats.write_seqmap({"0000": (0, 9)}, tmp_path / "s.seqmap")
    frames = [frame(t, [(k // 1000, 0.95, b(t), emb[k] + rng.normal(0, 0.01, 4)) for k, b in boxes.items()], dim=4)
              for t in range(10)]
    detections_io.write_detections(tmp_path / "dets" / "0000.txt", frames)
    assert main(["track", "--detections", str(tmp_path / "dets"), "--config", "config/tracker.yaml",
                 "--out", str(tmp_path / "res")]) == 0
    assert "tracked 1 sequence(s) (3 tracks)" in capsys.readouterr().out
    res = formats.read_txt(tmp_path / "res" / "0000.txt")
    assert sorted(set(res.ids.tolist())) == [1001, 1002, 2001]
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--results", str(tmp_path / "res"),
                 "--seqmap", str(tmp_path / "s.seqmap"), "--json", str(tmp_path / "e.json")]) == 0
    import json
    scores = json.loads((tmp_path / "e.json").read_text())
    assert scores["car"]["combined"]["sMOTSA"] == 100.0 and scores["pedestrian"]["combined"]["IDS"] == 0
    assert main(["track", "--detections", str(tmp_path / "missing"), "--out", str(tmp_path / "r2")]) == 2
    assert "no such detection file or folder" in capsys.readouterr().err
