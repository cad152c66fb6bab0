"""TrackR-CNN detection files (the tracker's input, thesis ch. 3) and tracks as KITTI MOTS txt (its output).

One detection per line, space separated::

    frame x0 y0 x1 y1 score class_id height width rle e_0 ... e_{D-1}

boxes in pixels, ``class_id`` 1 car / 2 pedestrian, ``rle`` COCO compressed RLE of an ``height x width`` image,
``e_*`` the association embedding (thesis Fig. 3.2). Floats are written with 9 significant digits, which
round-trips float32 exactly. A file holds one sequence; frames without detections have no lines.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mots_ros import MotsError
from mots_ros.data import formats
from mots_ros.tracking.types import FrameDetections, FrameTracks

FIELDS = "frame x0 y0 x1 y1 score class_id height width rle e_0 ... e_{D-1}"
INT_COLS, FLOAT_COLS = [0, 6, 7, 8], [1, 2, 3, 4, 5]


def write_detections(path: str | os.PathLike, frames: list[FrameDetections]) -> None:
    """Write the detections of one sequence, frame by frame."""
    with open(path, "w") as fh:
        for det in frames:
            fmt = "%d %.9g %.9g %.9g %.9g %.9g %d %d %d %s" + " %.9g" * det.embeddings.shape[1] + "\n"
            for i in range(len(det)):
                counts = det.masks[i]["counts"]
                fh.write(fmt % (det.frame, *det.boxes[i], det.scores[i], det.classes[i], det.height, det.width,
                                counts.decode("ascii") if isinstance(counts, bytes) else counts,
                                *det.embeddings[i]))


def _bad_number_line(path, lines, linenos) -> MotsError:
    """The error for the first line whose numeric fields do not parse."""
    for k in linenos:
        f = lines[k - 1].split()
        for j in range(len(f)):
            if j == 9:
                continue
            try:
                formats.parse_int64(f[j]) if j in INT_COLS else float(f[j])
            except ValueError:
                kind = "an integer of the int64 range" if j in INT_COLS else "a number"
                name = FIELDS.split()[j] if j < 9 else f"e_{j - 10}"
                return MotsError(f"{path}:{k}: {name} must be {kind}, got {f[j].decode(errors='replace')!r}")
    return MotsError(f"{path}: cannot parse the numbers")


def read_detections(path: str | os.PathLike) -> list[FrameDetections]:
    """Read and validate a detection file: one :class:`FrameDetections` per frame present, ascending, detections
    in file order; ``stamp`` = frame. Errors name the file and line."""
    path = str(path)
    data, lines, linenos = formats.read_lines(path)
    if not linenos:
        return []
    nf = len(lines[linenos[0] - 1].split())
    if nf < 10:
        raise MotsError(f"{path}:{linenos[0]}: expected at least 10 fields '{FIELDS}', got {nf}")
    for k in linenos:
        got = len(lines[k - 1].split())
        if got != nf:
            raise MotsError(f"{path}:{k}: expected {nf} fields '{FIELDS}' with D = {nf - 10} as on line "
                            f"{linenos[0]}, got {got}")
    tokens = data.split()
    n = len(linenos)
    try:  # column by column: Python's int() and float() parse bytes faster than numpy's string casts
        frame, cls, h, w = (np.fromiter(map(int, tokens[k::nf]), np.int64, n) for k in INT_COLS)
        floats = np.stack([np.fromiter(map(float, tokens[k::nf]), np.float64, n)
                           for k in FLOAT_COLS + list(range(10, nf))], axis=1)
    except (ValueError, OverflowError):
        raise _bad_number_line(path, lines, linenos) from None
    boxes, score = floats[:, :4], floats[:, 4]
    bad_float = ~np.isfinite(floats).all(axis=1)
    checks = (
        (bad_float, lambda i: "numbers must be finite"),
        (frame < 0, lambda i: f"frame must be >= 0, got {frame[i]}"),
        (~np.isin(cls, (formats.CAR, formats.PEDESTRIAN)), lambda i: f"class_id must be 1 (car) or 2 (pedestrian), "
                                                                      f"got {cls[i]}"),
        ((h <= 0) | (w <= 0), lambda i: f"height and width must be > 0, got {h[i]} {w[i]}"),
        ((h != h[0]) | (w != w[0]), lambda i: f"image size {h[i]}x{w[i]} differs from {h[0]}x{w[0]} on line "
                                              f"{linenos[0]}"),
        ((score < 0) | (score > 1), lambda i: f"score must lie in [0, 1], got {score[i]}"),
        ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]), lambda i: "box must have x1 >= x0 and y1 >= y0"),
    )
    for bad, message in checks:
        if bad.any():
            i = int(np.argmax(bad))
            raise MotsError(f"{path}:{linenos[i]}: {message(i)}")
    size = [int(h[0]), int(w[0])]
    masks = [{"size": size, "counts": c} for c in tokens[9::nf]]
    formats.check_rles(tokens[9::nf], *size, lambda i: f"{path}:{linenos[i]}")
    emb, boxes, score = floats[:, 5:].astype(np.float32), boxes.astype(np.float32), score.astype(np.float32)
    order = np.argsort(frame, kind="stable")
    cuts = np.flatnonzero(np.diff(frame[order])) + 1
    out = []
    for idx in np.split(order, cuts):
        f = int(frame[idx[0]])
        out.append(FrameDetections(f, f, size[0], size[1], boxes[idx], score[idx], cls[idx],
                                   [masks[i] for i in idx], emb[idx]))
    return out


def tracks_to_sequence(name: str, tracks: list[FrameTracks], kitti_ids: bool = True) -> formats.Sequence:
    """Tracks as a KITTI MOTS :class:`~mots_ros.data.formats.Sequence` with ids ``class * 1000 + track_id``.

    With ``kitti_ids`` a track id >= 1000 is an error (the format cannot hold it); without, such ids are kept
    (still unique per class, which is all the evaluator needs).
    """
    tracks = [t for t in tracks if len(t)]
    if not tracks:
        return formats.Sequence.empty(name)
    tid = np.concatenate([t.track_ids for t in tracks])
    classes = np.concatenate([t.classes for t in tracks])
    if kitti_ids and (tid >= 1000).any():
        i = int(np.argmax(tid >= 1000))
        raise MotsError(f"sequence {name}: track id {tid[i]} >= 1000 cannot be written in KITTI MOTS format "
                        f"(ids are class*1000+track_id); the tracker started too many tracks — raise "
                        f"new_track_score_threshold or association_threshold")
    frames = np.concatenate([np.full(len(t), t.frame, np.int64) for t in tracks])
    return formats.Sequence(name, frames, classes * 1000 + tid, classes, [m for t in tracks for m in t.masks])


def write_tracks(path: str | os.PathLike, tracks: list[FrameTracks]) -> None:
    """Write the tracks of one sequence as KITTI MOTS txt (``mots eval`` reads it)."""
    formats.write_txt(tracks_to_sequence(Path(path).stem, tracks), path)
