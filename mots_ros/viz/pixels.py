"""`mots viz-pixels`: one frame of the pixel-embedding family as one picture (thesis 6.2, Fig. 6.7).

Four panels of the image size, each under a small title: the input image, the predicted class map (most likely class
per output pixel: background / car / pedestrian in :data:`CLASS_COLORS`), the embeddings projected to RGB by PCA
(the first three principal components of the frame's foreground pixels, or of all pixels, each scaled to 0..255
between its 1st and 99th percentile) and the clusters (thesis 6.2.3: each cluster's mask tinted in its own colour
over the image). Output-stride maps are brought to the image size with the nearest-neighbour indices the clustering
uses (:func:`~mots_ros.tracking.cluster.upsample_indices`), so the panels show what the masks are made of. A
model with centre votes (thesis 6.3.1) adds a row: the offsets' direction field in HSV (Fig. 6.28) and the centres
they vote for (:mod:`mots_ros.viz.votes`).

The outputs come from a saved ``SEQ.npz`` (`mots run --save-outputs`, :func:`load_outputs`) or from a
pixel-embedding checkpoint run over the frames of an image folder (:func:`outputs_from_checkpoint`). The drawing
is numpy and Pillow; the PCA is an SVD in numpy.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from mots_ros import MotsError
from mots_ros.data.images import read_image
from mots_ros.models.pixel_embedding.outputs import FrameOutputs, OutputRecorder, load_outputs
from mots_ros.outputs import output_file
from mots_ros.tracking.cluster import CLASS_IDS, ClusterConfig, upsample_indices
from mots_ros.tracking.types import FrameDetections
from mots_ros.viz.overlay import _font, draw_overlay
from mots_ros.viz.votes import add_wheel, direction_rgb, vote_panel

CLASS_COLORS = np.array([(0, 0, 0), (30, 120, 255), (230, 40, 40)], np.uint8)  # background, car, pedestrian
EMPTY_COLOR = (96, 96, 96)  # the photo panel without an image, the ground of the clusters
PERCENTILES = (1.0, 99.0)  # robust range of each principal component, mapped to 0..255
MIN_FIT = 10  # fewer foreground pixels: the PCA is fitted on all pixels
GAP = 4  # px between panels
PCA_PIXELS = ("foreground", "all")


# ---------------------------------------------------------------------------------------------- maps

def upsample(grid: np.ndarray, outputs: FrameOutputs) -> np.ndarray:
    """A (h, w, ...) output-stride map at image size (height, width, ...): the output pixel over each image
    pixel, as the clustering's nearest-neighbour upsampling (thesis 6.2.3)."""
    rows = upsample_indices(grid.shape[0], outputs.stride, outputs.resized[0], outputs.height)
    cols = upsample_indices(grid.shape[1], outputs.stride, outputs.resized[1], outputs.width)
    return grid[rows[:, None], cols[None, :]]


def class_map(probs: np.ndarray) -> np.ndarray:
    """(h, w) most likely class (0 background, 1 car, 2 pedestrian) of (C, h, w) class probabilities."""
    return probs.argmax(0)


def class_panel(outputs: FrameOutputs) -> np.ndarray:
    """(height, width, 3) class map in :data:`CLASS_COLORS` (thesis Fig. 6.7, second panel)."""
    classes = class_map(outputs.probs)
    if classes.max(initial=0) >= len(CLASS_COLORS):
        raise MotsError(f"frame {outputs.frame}: {outputs.probs.shape[0]} classes; the class map knows "
                        f"{len(CLASS_COLORS)} (background, car, pedestrian)")
    return upsample(CLASS_COLORS[classes], outputs)


def pca_rgb(embeddings: np.ndarray, fit: np.ndarray | None = None,
            percentiles: tuple[float, float] = PERCENTILES) -> tuple[np.ndarray, np.ndarray]:
    """(h, w, 3) uint8 RGB of (D, h, w) embeddings and the variance fraction of each channel's component.

    PCA by SVD on the pixels where ``fit`` (h, w) is True (None: all): red, green, blue are the projections on
    the 1st, 2nd, 3rd principal direction, each direction signed so that its largest entry is positive, mapped
    linearly from its ``percentiles`` over the fitted pixels to 0..255 and clipped (thesis Fig. 6.7, third
    panel). Missing components (D < 3, or fewer distinct pixels) and constant ones are 0."""
    dim, h, w = embeddings.shape
    points = embeddings.reshape(dim, -1).T.astype(np.float64)
    fitted = points if fit is None else points[fit.ravel()]
    if len(fitted) == 0:
        raise ValueError("no pixels to fit the PCA on")
    mean = fitted.mean(0)
    _, sv, vt = np.linalg.svd(fitted - mean, full_matrices=False)
    pick = np.argmax(np.abs(vt), axis=1)
    vt = vt * np.sign(vt[np.arange(len(vt)), pick])[:, None]
    total = float((sv ** 2).sum())
    rgb = np.zeros((h * w, 3), np.uint8)
    explained = np.zeros(3)
    for c in range(min(3, len(vt))):
        projected = (points - mean) @ vt[c]
        lo, hi = np.percentile((fitted - mean) @ vt[c], percentiles)
        if hi - lo > 1e-9 * max(1.0, abs(hi)):
            rgb[:, c] = np.round(np.clip((projected - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
            explained[c] = sv[c] ** 2 / total if total else 0.0
    return rgb.reshape(h, w, 3), explained


def embedding_panel(outputs: FrameOutputs, pixels: str = "foreground") -> tuple[np.ndarray, np.ndarray, str]:
    """(height, width, 3) PCA colours of the embeddings, the channels' variance fractions and the pixels fitted
    (``'foreground'``: not background, when at least :data:`MIN_FIT` pixels are; else ``'all'``)."""
    if pixels not in PCA_PIXELS:
        raise MotsError(f"PCA pixels must be one of {', '.join(PCA_PIXELS)}, got {pixels!r}")
    fit = class_map(outputs.probs) > 0 if pixels == "foreground" else None
    if not np.isfinite(outputs.embeddings).all():
        raise MotsError(f"frame {outputs.frame}: the embeddings hold NaN or infinite values")
    if fit is not None and fit.sum() < MIN_FIT:
        fit, pixels = None, "all"
    rgb, explained = pca_rgb(outputs.embeddings, fit)
    return upsample(rgb, outputs), explained, pixels


def cluster_ids(classes: np.ndarray) -> np.ndarray:
    """Overlay ids ``class * 1000 + n`` (n = 1, 2, ... per class): one colour and label per cluster."""
    ids = np.zeros(len(classes), np.int64)
    for cls in np.unique(classes):
        where = np.flatnonzero(classes == cls)
        ids[where] = cls * 1000 + np.arange(1, len(where) + 1)
    return ids


def cluster_panel(detections: FrameDetections, image: np.ndarray | None) -> np.ndarray:
    """(height, width, 3) clusters (thesis 6.2.3) tinted in their own colours over the image (a grey ground
    without one)."""
    base = image if image is not None else np.full((detections.height, detections.width, 3), EMPTY_COLOR, np.uint8)
    return draw_overlay(base, list(detections.masks), cluster_ids(detections.classes))


# ---------------------------------------------------------------------------------------------- figure

def title_height(height: int, width: int) -> int:
    """Height of the title strip above each panel."""
    return max(12, round(min(height, width) / 16))


def figure_size(height: int, width: int, rows: int = 2) -> tuple[int, int]:
    """(height, width) of the figure of ``rows`` x 2 (height, width) panels."""
    return rows * (title_height(height, width) + height) + (rows - 1) * GAP, 2 * width + GAP


def _titled(panel: np.ndarray, parts: list[tuple[str, tuple[int, int, int]]], strip: int) -> Image.Image:
    """``panel`` under a white strip holding the text ``parts`` (text, colour), left to right."""
    h, w = panel.shape[:2]
    out = Image.new("RGB", (w, strip + h), (255, 255, 255))
    out.paste(Image.fromarray(panel), (0, strip))
    draw = ImageDraw.Draw(out)
    font = _font(max(8, strip - 4))
    x = 3
    for text, colour in parts:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        draw.text((x - left, (strip - (bottom - top)) // 2 - top), text, fill=colour, font=font)
        x += right - left + 4
    return out


def _photo(image: np.ndarray | None, outputs: FrameOutputs) -> tuple[np.ndarray, str]:
    if image is None:
        return np.full((outputs.height, outputs.width, 3), EMPTY_COLOR, np.uint8), f"frame {outputs.frame} (no image)"
    if image.shape[:2] != (outputs.height, outputs.width):
        raise MotsError(f"frame {outputs.frame}: image size {image.shape[1]}x{image.shape[0]} differs from the "
                        f"outputs' {outputs.width}x{outputs.height}")
    return image, f"input frame {outputs.frame}"


def _cluster_title(detections: FrameDetections) -> str:
    counts = [f"{int((detections.classes == cls).sum())} {name}" for name, cls in CLASS_IDS.items()]
    return f"clusters: {', '.join(counts)}"


def render_pixels(outputs: FrameOutputs, image: np.ndarray | None = None,
                  detections: FrameDetections | None = None, config: ClusterConfig | None = None,
                  pca_pixels: str = "foreground") -> np.ndarray:
    """The figure (:func:`figure_size`) of one frame (thesis Fig. 6.7): input image, class map, embeddings by PCA,
    clusters; with centre votes (``outputs.offsets``) a third row: their direction field and where they land
    (Fig. 6.28, :mod:`mots_ros.viz.votes`). ``detections``: the frame's clusters (None:
    ``outputs.cluster(config)``, the thesis's parameters without ``config``)."""
    photo, photo_title = _photo(image, outputs)
    if detections is None:
        detections = outputs.cluster(config or ClusterConfig())
    embedded, explained, fitted = embedding_panel(outputs, pca_pixels)
    strip = title_height(outputs.height, outputs.width)
    black = (0, 0, 0)
    legend = [("classes:", black)] + [(name, tuple(int(v) for v in CLASS_COLORS[cls]))
                                      for name, cls in {"background": 0, **CLASS_IDS}.items()]
    variance = "/".join(f"{100 * v:.0f}" for v in explained)
    panels = [_titled(photo, [(photo_title, black)], strip), _titled(class_panel(outputs), legend, strip),
              _titled(embedded, [(f"embeddings: PCA 1-3 -> RGB ({fitted} pixels, {variance}% var.)", black)], strip),
              _titled(cluster_panel(detections, image), [(_cluster_title(detections), black)], strip)]
    if outputs.offsets is not None:
        panels += _vote_panels(outputs, image, strip)
    rows = len(panels) // 2
    height, width = figure_size(outputs.height, outputs.width, rows)
    figure = Image.new("RGB", (width, height), (255, 255, 255))
    for k, panel in enumerate(panels):
        figure.paste(panel, ((k % 2) * (outputs.width + GAP), (k // 2) * (strip + outputs.height + GAP)))
    return np.array(figure)


def _vote_panels(outputs: FrameOutputs, image: np.ndarray | None, strip: int) -> list[Image.Image]:
    """The titled direction field and vote panels of a frame with centre votes (thesis 6.3.1, Fig. 6.28)."""
    classes = class_map(outputs.probs)
    if not np.isfinite(outputs.offsets).all():
        raise MotsError(f"frame {outputs.frame}: the centre offsets hold NaN or infinite values")
    field, scale = direction_rgb(outputs.offsets, classes > 0)  # output pixels; upsampled below
    votes, count = vote_panel(outputs, classes, image, CLASS_COLORS, EMPTY_COLOR)
    black = (0, 0, 0)
    return [_titled(add_wheel(upsample(field, outputs)),
                    [(f"centre offsets on the foreground: hue direction, value length (full at {scale:.1f} "
                      f"output px)", black)], strip),
            _titled(votes, [(f"votes: {count} predicted centres (pixel + offset)", black)], strip)]


# ---------------------------------------------------------------------------------------------- inputs

def frame_from_file(path: str, frame: int) -> FrameOutputs:
    """Frame ``frame`` of a saved outputs file; a MotsError naming file and frame when it holds none."""
    frames = {f.frame: f for f in load_outputs(path)}
    if frame not in frames:
        raise MotsError(f"{path}: no outputs of frame {frame} (it holds frames {min(frames)}..{max(frames)})")
    return frames[frame]


def frame_paths(images: str, frame: int) -> dict[int, str]:
    """``{frame: path}`` of the folder ``images`` (by frame), which must hold ``frame``; else a MotsError naming
    folder and frame."""
    from mots_ros.data.windows import list_frames

    paths = list_frames(images)
    if frame not in paths:
        raise MotsError(f"{images}: no image of frame {frame} (frames {min(paths)}..{max(paths)})")
    return paths


def outputs_from_checkpoint(checkpoint: str, images: str, frame: int, device: str | None = None,
                            clustering: ClusterConfig | None = None
                            ) -> tuple[FrameOutputs, FrameDetections, np.ndarray]:
    """(outputs, clusters, image) of frame ``frame`` of the folder ``images`` by a pixel-embedding checkpoint.

    The frames of its temporal window are pushed through the streaming model (with the model's lookahead k, up to
    frame + k; the stream is flushed when the folder ends first) with an
    :class:`~mots_ros.models.pixel_embedding.outputs.OutputRecorder` on the net. Earlier frames do not reach the
    window, so they are skipped: the outputs equal those of the whole sequence."""
    from mots_ros.engine.build import build_stream

    paths = frame_paths(images, frame)
    stream = build_stream(checkpoint, device, model_type="pixel_embedding", clustering=clustering)
    stream.model.recorder = recorder = OutputRecorder()
    order = list(paths)
    at = order.index(frame)
    start = max(0, at - (stream.model.receptive_field - 1 - stream.lookahead))
    detections = []
    for f in order[start:at + stream.lookahead + 1]:
        detections += stream.push(read_image(paths[f]), f, f)
    if not any(d.frame == frame for d in detections):
        detections += stream.flush()
    outputs = next(o for o in recorder.frames if o.frame == frame)
    return outputs, next(d for d in detections if d.frame == frame), read_image(paths[frame])


def viz_pixels(out: str, frame: int, checkpoint: str | None = None, outputs: str | None = None,
               images: str | None = None, device: str | None = None, pca_pixels: str = "foreground",
               tracker_config: str | None = None) -> str:
    """Write the figure of ``frame`` (:func:`render_pixels`) as the PNG ``out``, from a ``checkpoint`` run over
    ``images`` or from a saved ``outputs`` file (with the image from ``images`` when given), clustered with the
    clustering of ``tracker_config`` (a tuned file; the thesis's defaults without one); returns ``out``."""
    from mots_ros.tracking.cluster import load_cluster_config

    if (checkpoint is None) == (outputs is None):
        raise MotsError("give either --checkpoint (with --images) or --outputs")
    if pca_pixels not in PCA_PIXELS:
        raise MotsError(f"PCA pixels must be one of {', '.join(PCA_PIXELS)}, got {pca_pixels!r}")
    output_file(out, "figure")
    clustering = load_cluster_config(tracker_config) if tracker_config else None
    if checkpoint is not None:
        if images is None:
            raise MotsError("--checkpoint needs --images DIR (the frames to run the network on)")
        frame_outputs, detections, image = outputs_from_checkpoint(checkpoint, images, frame, device, clustering)
    else:
        frame_outputs, detections = frame_from_file(outputs, frame), None
        image = read_image(frame_paths(images, frame)[frame]) if images is not None else None
        if image is None and clustering is not None and clustering.upsampling == "guided":
            raise MotsError(f"{tracker_config}: guided upsampling needs the camera image: give --images DIR")
        frame_outputs.image = image
    figure = render_pixels(frame_outputs, image, detections, config=clustering, pca_pixels=pca_pixels)
    try:
        Image.fromarray(figure).save(out, format="PNG")
    except OSError as e:
        raise MotsError(f"{out}: cannot write the figure ({e})") from None
    return out
