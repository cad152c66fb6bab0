"""Streaming inference and tracking over image folders: `mots infer` and `mots run` (thesis ch. 3).

The same two core objects as the ROS nodes: a :class:`StreamingModel` fed one frame at a time and a
:class:`Tracker` fed its detections.
"""
from __future__ import annotations

import os

import torch
from tqdm import tqdm

from mots_ros import MotsError
from mots_ros.data import formats
from mots_ros.data.windows import list_frames, read_image
from mots_ros.models.streaming import StreamingModel
from mots_ros.outputs import output_dir, output_file
from mots_ros.tracking.config import TrackerConfig, load_tracker_config
from mots_ros.tracking.detections_io import write_detections, write_tracks
from mots_ros.tracking.tracker import Tracker
from mots_ros.tracking.types import FrameDetections

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CHECKPOINT = os.path.join(PACKAGE_DIR, "weights", "trackrcnn_demo.pt")
DEMO_TRACKER = os.path.join(PACKAGE_DIR, "weights", "tracker_demo.yaml")


def resolve_device(device: str | None) -> torch.device:
    """``cuda`` when available and not asked otherwise; a clear error for an unavailable CUDA device."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MotsError(f"--device {device}: no CUDA device available (use --device cpu)")
    return torch.device(device)


def infer_frames(stream: StreamingModel, image_dir: str, desc: str = "infer", first: int | None = None,
                 last: int | None = None) -> list[FrameDetections]:
    """Detections of every frame of ``image_dir`` (between ``first`` and ``last`` when given), pushed one at a
    time, the end flushed."""
    out = []
    frames = {f: p for f, p in list_frames(image_dir).items()
              if (first is None or f >= first) and (last is None or f <= last)}
    for frame, path in tqdm(frames.items(), desc=desc, unit="frame"):
        out += stream.push(read_image(path), frame, frame)
    return out + stream.flush()


def infer(checkpoint: str, images: str, out: str, lookahead: int | None = None, device: str | None = None) -> int:
    """`mots infer`: detections of one sequence folder written in the TrackR-CNN detection format."""
    from mots_ros.models.weights import build_from_checkpoint

    output_file(out, "detections file", make_folder=True)
    stream = StreamingModel(build_from_checkpoint(checkpoint), lookahead=lookahead, device=resolve_device(device))
    detections = infer_frames(stream, images)
    write_detections(out, detections)
    return sum(len(d) for d in detections)


def run_sequences(model, images_root: str, seqmap: str, out_dir: str, tracker_config: str | TrackerConfig | None = None,
                  device: str | torch.device | None = None, lookahead: int | None = None,
                  detections_dir: str | None = None) -> None:
    """Inference and tracking of every seqmap sequence (``images_root/SEQ/``) into ``out_dir/SEQ.txt``.

    With ``detections_dir``, a sequence whose tracks cannot be written (over 999 tracks of a class: untuned tracker
    parameters) does not stop the others: every sequence's detections are saved for ``mots tune``, then the
    failures are raised together.
    """
    config = (tracker_config if isinstance(tracker_config, TrackerConfig)
              else load_tracker_config(tracker_config) if tracker_config else TrackerConfig())
    device = device if isinstance(device, torch.device) else resolve_device(device)
    stream = StreamingModel(model, lookahead=lookahead, device=device)
    tracker = Tracker(config)
    output_dir(out_dir, "results folder")
    if detections_dir:
        output_dir(detections_dir, "detections folder")
    failed = []
    for seq, (first, last) in formats.read_seqmap(seqmap).items():
        detections = infer_frames(stream, os.path.join(images_root, seq), seq, first, last)
        if detections_dir:
            write_detections(os.path.join(detections_dir, f"{seq}.txt"), detections)
        tracker.reset()
        try:
            write_tracks(os.path.join(out_dir, f"{seq}.txt"), [tracker.step(d) for d in detections])
        except MotsError as e:
            if not detections_dir:
                raise
            failed.append(str(e))
    if failed:
        raise MotsError("; ".join(failed) + f" (the detections of every sequence are in {detections_dir}: "
                        "`mots tune` them for parameters that fit)")


def run(images: str, seqmap: str, out: str, checkpoint: str | None = None, tracker_config: str | None = None,
        device: str | None = None, lookahead: int | None = None, detections_dir: str | None = None) -> None:
    """`mots run`: the shipped demo weights and their tuned tracker unless others are given."""
    from mots_ros.models.weights import build_from_checkpoint

    if checkpoint is None:
        if not os.path.exists(DEMO_CHECKPOINT):
            raise MotsError(f"no --checkpoint given and the demo weights {DEMO_CHECKPOINT} are not installed")
        checkpoint, tracker_config = DEMO_CHECKPOINT, tracker_config or DEMO_TRACKER
    run_sequences(build_from_checkpoint(checkpoint), images, seqmap, out, tracker_config, device, lookahead,
                  detections_dir)
