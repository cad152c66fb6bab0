"""`mots track`: the tracker over detection files, written as KITTI MOTS results (thesis ch. 3)."""
from __future__ import annotations

import os
from pathlib import Path

from mots_ros import MotsError
from mots_ros.outputs import output_dir
from mots_ros.tracking.config import TrackerConfig, load_tracker_config
from mots_ros.tracking.detections_io import read_detections, write_tracks
from mots_ros.tracking.linking import make_tracker
from mots_ros.tracking.types import FrameDetections, FrameTracks


def track_sequence(frames: list[FrameDetections], config: TrackerConfig) -> list[FrameTracks]:
    """Tracks of one sequence, one :class:`FrameTracks` per frame of detections (a fresh tracker of
    ``config.linker``)."""
    tracker = make_tracker(config)
    return [tracker.step(f) for f in frames]


def detection_files(path: str | os.PathLike) -> dict[str, str]:
    """``{SEQ: file}`` for a detection file ``SEQ.txt`` or a folder of them (sorted by name)."""
    path = str(path)
    if os.path.isfile(path):
        return {Path(path).stem: path}
    if not os.path.isdir(path):
        raise MotsError(f"{path}: no such detection file or folder")
    files = {Path(f).stem: os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith(".txt")}
    if not files:
        raise MotsError(f"{path}: no SEQ.txt detection files in this folder")
    return files


def track_files(detections: str | os.PathLike, config_path: str | os.PathLike | None,
                out_dir: str | os.PathLike) -> dict[str, int]:
    """Track every sequence of ``detections`` (a ``SEQ.txt`` file or a folder of them) with the config file
    (defaults when None) and write ``out_dir/SEQ.txt``; returns the number of tracks per sequence."""
    config = load_tracker_config(config_path) if config_path else TrackerConfig()
    files = detection_files(detections)
    output_dir(out_dir, "results folder")
    counts = {}
    for seq, path in files.items():
        tracks = track_sequence(read_detections(path), config)
        write_tracks(os.path.join(out_dir, f"{seq}.txt"), tracks)
        counts[seq] = len({(c, t) for f in tracks for c, t in zip(f.classes.tolist(), f.track_ids.tolist())})
    return counts
