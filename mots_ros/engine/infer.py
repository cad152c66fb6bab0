"""Streaming inference and tracking over image folders: `mots infer` and `mots run` (thesis ch. 3).

The same two core objects as the ROS nodes: a :class:`StreamingModel` fed one frame at a time and a
:class:`Tracker` fed its detections.
"""
from __future__ import annotations

import os

from tqdm import tqdm

from mots_ros import MotsError
from mots_ros.data import formats
from mots_ros.data.windows import list_frames, read_image
from mots_ros.engine.build import build_stream, demo_files
from mots_ros.models.streaming import StreamingModel
from mots_ros.outputs import output_dir, output_file
from mots_ros.tracking.config import TrackerConfig, load_tracker_config
from mots_ros.tracking.detections_io import write_detections, write_tracks
from mots_ros.tracking.linking import make_tracker
from mots_ros.tracking.types import FrameDetections


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


def infer(checkpoint: str, images: str, out: str, lookahead: int | None = None, device: str | None = None,
          precision: str = "float32") -> int:
    """`mots infer`: detections of one sequence folder written in the TrackR-CNN detection format."""
    output_file(out, "detections file", make_folder=True)
    stream = build_stream(checkpoint, device, lookahead, precision=precision)
    detections = infer_frames(stream, images)
    write_detections(out, detections)
    return sum(len(d) for d in detections)


def run_sequences(stream: StreamingModel, images_root: str, seqmap: str, out_dir: str,
                  tracker_config: str | TrackerConfig | None = None, detections_dir: str | None = None,
                  outputs_dir: str | None = None) -> None:
    """Inference (``stream``) and tracking of every seqmap sequence (``images_root/SEQ/``) into ``out_dir/SEQ.txt``.

    With ``detections_dir``, a sequence whose tracks cannot be written (over 999 tracks of a class: untuned tracker
    parameters) does not stop the others: every sequence's detections are saved for ``mots tune``, then the
    failures are raised together. With ``outputs_dir`` (pixel-embedding models), each sequence's network outputs
    are saved as ``outputs_dir/SEQ.npz`` (:mod:`mots_ros.models.pixel_embedding.outputs`, for ``mots tune
    --outputs``).
    """
    config = (tracker_config if isinstance(tracker_config, TrackerConfig)
              else load_tracker_config(tracker_config) if tracker_config else default_tracker(stream.model.arch))
    if config.linker == "votes" and not getattr(stream.model, "past_frames", 0):
        where = f"{tracker_config}: " if isinstance(tracker_config, str) else ""
        raise MotsError(f"{where}linker: votes needs a model with votes for previous frames (past_votes); this "
                        f"{stream.model.arch} model has none (use linker: clusters)")
    tracker = make_tracker(config)
    recorder = output_recorder(stream, outputs_dir)
    output_dir(out_dir, "results folder")
    if detections_dir:
        output_dir(detections_dir, "detections folder")
    failed = []
    for seq, (first, last) in formats.read_seqmap(seqmap).items():
        detections = infer_frames(stream, os.path.join(images_root, seq), seq, first, last)
        if detections_dir:
            write_detections(os.path.join(detections_dir, f"{seq}.txt"), detections)
        if recorder is not None:
            recorder.save(os.path.join(outputs_dir, f"{seq}.npz"))
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


def output_recorder(stream: StreamingModel, outputs_dir: str | None):
    """An :class:`~mots_ros.models.pixel_embedding.outputs.OutputRecorder` on the stream's model when
    ``outputs_dir`` is given (the folder checked); a MotsError for a model without network outputs to save."""
    if not outputs_dir:
        return None
    from mots_ros.models.pixel_embedding.outputs import OutputRecorder

    if not hasattr(stream.model, "recorder"):
        raise MotsError(f"--save-outputs: a {stream.model.arch} model has no per-pixel outputs to save "
                        f"(pixel-embedding models only; use --save-detections)")
    output_dir(outputs_dir, "outputs folder")
    stream.model.recorder = OutputRecorder()
    return stream.model.recorder


def default_tracker(arch: str) -> TrackerConfig:
    """The tracker of a checkpoint given without tracker parameters: the association tracker for TrackR-CNN, the
    cluster linker for pixel embeddings (thesis 6.2.4), default thresholds."""
    return TrackerConfig(linker="clusters" if arch == "pixel_embedding" else "association")


def run(images: str, seqmap: str, out: str, checkpoint: str | None = None, tracker_config: str | None = None,
        device: str | None = None, lookahead: int | None = None, detections_dir: str | None = None,
        model: str = "trackrcnn", outputs_dir: str | None = None, precision: str = "float32") -> None:
    """`mots run`: the shipped demo weights of family ``model`` and their tuned tracker unless a checkpoint is
    given. A tracker file's ``inference_node`` clustering parameters (`mots tune --outputs`) cluster the
    outputs of pixel-embedding models."""
    from mots_ros.tracking.cluster import load_cluster_config

    if checkpoint is None:
        checkpoint, tuned = demo_files(model)
        tracker_config = tracker_config or tuned
    clustering = load_cluster_config(tracker_config) if tracker_config else None
    run_sequences(build_stream(checkpoint, device, lookahead, clustering=clustering, precision=precision), images,
                  seqmap, out, tracker_config, detections_dir, outputs_dir)
