"""`mots tune` (thesis 4.1) on a small synthetic problem: moving boxes, noisy embeddings, weak false positives."""
from dataclasses import replace

import numpy as np

from helpers import box, make_seq
from mots_ros.cli import main
from mots_ros.data import formats, rle
from mots_ros.tracking.config import ClassParams, TrackerConfig, load_tracker_config
from mots_ros.tracking.detections_io import write_detections
from mots_ros.tracking.tune import load_data, score, tune
from mots_ros.tracking.types import FrameDetections

H, W, FRAMES, DIM = 40, 80, 15, 8


def synthetic(root, seqs=("0000", "0001"), seed=0):
    """Ground truth of 2 cars and 2 pedestrians moving in rows; detections = ground truth (some missed) with
    embeddings near a per-object vector, plus low-scoring false positives with random embeddings."""
    rng = np.random.default_rng(seed)
    (root / "gt").mkdir()
    (root / "dets").mkdir()
    for s in seqs:
        objs = {1001: (0, 1), 1002: (10, -1), 2001: (20, 2), 2002: (30, -2)}  # id: (row, speed)
        start = {k: int(rng.integers(10, 60)) for k in objs}
        base = {k: rng.normal(size=DIM) for k in objs}
        gt, frames = [], []
        for t in range(FRAMES):
            boxes = {k: (y, (start[k] + v * t) % 70, y + 8, (start[k] + v * t) % 70 + 8) for k, (y, v) in objs.items()}
            gt += [(t, k, box(H, W, *b)) for k, b in boxes.items()]
            dets = [(k // 1000, rng.uniform(0.85, 1), b, base[k] + rng.normal(0, 0.15, DIM))
                    for k, b in boxes.items() if rng.random() > 0.1]
            for _ in range(2):
                y, x = int(rng.integers(0, H - 4)), int(rng.integers(0, W - 4))
                fp = (int(rng.integers(1, 3)), rng.uniform(0.3, 0.6), (y, x, y + 4, x + 4), rng.normal(size=DIM))
                dets.append(fp)
            masks = rle.encode(np.stack([box(H, W, *d[2]) for d in dets], axis=2))
            frames.append(FrameDetections(
                t, t, H, W, np.array([[d[2][1], d[2][0], d[2][3], d[2][2]] for d in dets], np.float32),
                np.array([d[1] for d in dets], np.float32), np.array([d[0] for d in dets], np.int64), masks,
                np.array([d[3] for d in dets], np.float32)))
        formats.write_txt(make_seq(gt, s), root / "gt" / f"{s}.txt")
        write_detections(root / "dets" / f"{s}.txt", frames)
    formats.write_seqmap({s: (0, FRAMES - 1) for s in seqs}, root / "train.seqmap")


def test_tune_beats_a_bad_config_and_is_deterministic(tmp_path):
    synthetic(tmp_path)
    args = (str(tmp_path / "dets"), str(tmp_path / "gt"), str(tmp_path / "train.seqmap"))
    bad_params = ClassParams(detection_score_threshold=0.3, new_track_score_threshold=0.3,
                             association_threshold=0.01, keep_alive=0)
    bad = score(TrackerConfig("greedy", bad_params, replace(bad_params)), load_data(*args))
    result = tune(*args, trials=40, jobs=2, seed=3, out=str(tmp_path / "best.yaml"), log=str(tmp_path / "t.csv"),
                  val_seqmap=str(tmp_path / "train.seqmap"), progress=False)
    for c in ("car", "pedestrian"):
        assert result.train[c]["combined"]["sMOTSA"] >= bad[c]["combined"]["sMOTSA"] + 20
        assert result.val[c]["combined"] == result.train[c]["combined"]
    assert load_tracker_config(tmp_path / "best.yaml") == result.config
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert len(lines) == 41 and lines[0].startswith("trial,matching,car.detection_score_threshold")
    # the same seed in one process through the CLI: the same choice and the same trial log
    assert main(["tune", "--detections", args[0], "--gt", args[1], "--seqmap", args[2], "--trials", "40",
                 "--jobs", "1", "--seed", "3", "--out", str(tmp_path / "again.yaml"),
                 "--log", str(tmp_path / "again.csv")]) == 0
    assert (tmp_path / "again.yaml").read_text() == (tmp_path / "best.yaml").read_text()
    assert (tmp_path / "again.csv").read_text() == (tmp_path / "t.csv").read_text()
