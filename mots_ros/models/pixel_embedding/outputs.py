"""Per-frame network outputs of the pixel-embedding family (thesis 6.2.3): class probabilities and embeddings at
the output stride, before clustering, the centre offsets of a model with centre votes (6.3.1) and the votes for
previous frames of a model with them (6.3.2). Saved by `mots run --save-outputs` (one ``SEQ.npz`` per sequence, float32:
clustering them again gives the same detections), so that clustering and linking are tuned (`mots tune
--outputs`) and drawn (`mots viz-pixels`) without running the network again.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass

import numpy as np

from mots_ros import MotsError
from mots_ros.tracking.cluster import CLASS_IDS, ClusterConfig, cluster_frame
from mots_ros.tracking.types import FrameDetections

KEYS = ("frames", "stamps", "sizes", "resized", "stride", "probs", "embeddings")


@dataclass
class FrameOutputs:
    """One frame's outputs: ``probs`` (C, h, w), ``embeddings`` (D, h, w), ``offsets`` (2, h, w; None without
    centre votes) and ``past`` (3P, h, w: per previous frame the row and column offsets to the object's centre then
    and its existence probability; None without those votes) for an image of (height, width) that the network saw
    at ``resized``, with outputs at ``stride``; ``centre``: what the model takes as an object's centre, 'mass' or
    'box' (the votes' targets); ``image``: the (height, width, 3) uint8 RGB camera image or the path of its file
    (read when clustered), which guided upsampling needs (not saved with the outputs)."""

    frame: int
    stamp: int
    height: int
    width: int
    resized: tuple[int, int]
    stride: int
    probs: np.ndarray
    embeddings: np.ndarray
    offsets: np.ndarray | None = None
    past: np.ndarray | None = None
    centre: str = "mass"
    image: np.ndarray | str | None = None

    def cluster(self, config: ClusterConfig, score_threshold: float | None = None,
                classes: tuple[str, ...] = tuple(CLASS_IDS)) -> FrameDetections:
        """The frame's detections of ``classes`` (:func:`~mots_ros.tracking.cluster.cluster_frame`)."""
        image = self.image
        if isinstance(image, str) and config.upsampling == "guided":
            from mots_ros.data.images import read_image

            image = read_image(self.image)
            if image.shape[:2] != (self.height, self.width):
                raise MotsError(f"{self.image}: image is {image.shape[1]}x{image.shape[0]}, the outputs of frame "
                                f"{self.frame} are {self.width}x{self.height}")
        return cluster_frame(self.probs, self.embeddings, self.frame, self.stamp, self.height, self.width,
                             self.resized, self.stride, config, score_threshold, self.offsets, self.past,
                             self.centre, classes, image)


class OutputRecorder:
    """Collects the :class:`FrameOutputs` a :class:`PixelEmbeddingNet` decodes (its ``recorder``)."""

    def __init__(self):
        self.frames: list[FrameOutputs] = []

    def __call__(self, outputs: FrameOutputs) -> None:
        self.frames.append(outputs)

    def save(self, path: str) -> None:
        """Write the collected frames to ``path`` (.npz) and start over."""
        save_outputs(path, self.frames)
        self.frames = []


def save_outputs(path: str, frames: list[FrameOutputs]) -> None:
    """One sequence's outputs as an .npz (maps of one shape: one image size per sequence)."""
    if not frames:
        raise MotsError(f"{path}: no frames to save")
    if len({f.probs.shape + f.embeddings.shape for f in frames}) > 1:
        raise MotsError(f"{path}: the image size changes within the sequence; its outputs cannot be stacked")
    extra = {} if frames[0].offsets is None else {"offsets": np.stack([f.offsets for f in frames]).astype(np.float32)}
    if frames[0].past is not None:
        extra.update(past=np.stack([f.past for f in frames]).astype(np.float32), centre=np.array(frames[0].centre))
    np.savez(path, **extra, frames=np.array([f.frame for f in frames], np.int64),
             stamps=np.array([f.stamp for f in frames], np.int64),
             sizes=np.array([(f.height, f.width) for f in frames], np.int64),
             resized=np.array([f.resized for f in frames], np.int64), stride=np.array(frames[0].stride, np.int64),
             probs=np.stack([f.probs for f in frames]).astype(np.float32),
             embeddings=np.stack([f.embeddings for f in frames]).astype(np.float32))


def load_outputs(path: str) -> list[FrameOutputs]:
    """The frames of a file written by :func:`save_outputs` ; a MotsError naming a missing or
    malformed file."""
    if not os.path.isfile(path):
        raise MotsError(f"{path}: no such outputs file")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in KEYS if k not in z.files]
            if missing:
                raise MotsError(f"{path}: not a network outputs file (no {missing[0]!r}; written by mots run "
                                f"--save-outputs)")
            data = {k: z[k] for k in KEYS}
            offsets = z["offsets"] if "offsets" in z.files else None
            past = z["past"] if "past" in z.files else None
            centre = str(z["centre"]) if "centre" in z.files else "mass"
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise MotsError(f"{path}: cannot read network outputs ({e})") from None
    n = len(data["frames"])
    if not all(len(data[k]) == n for k in ("stamps", "sizes", "resized", "probs", "embeddings")) or \
            data["probs"].shape[2:] != data["embeddings"].shape[2:] or \
            (offsets is not None and offsets.shape != (n, 2, *data["probs"].shape[2:])) or \
            (past is not None and (past.shape[0] != n or past.shape[1] % 3 or
                                   past.shape[2:] != data["probs"].shape[2:])):
        raise MotsError(f"{path}: frames, sizes and maps differ in number or shape")
    stride = int(data["stride"])
    return [FrameOutputs(int(data["frames"][i]), int(data["stamps"][i]), int(data["sizes"][i][0]),
                         int(data["sizes"][i][1]), tuple(int(v) for v in data["resized"][i]), stride,
                         data["probs"][i].astype(np.float32),
                         data["embeddings"][i].astype(np.float32),
                         None if offsets is None else offsets[i].astype(np.float32),
                         None if past is None else past[i].astype(np.float32), centre) for i in range(n)]
