"""The centre votes of a pixel-embedding model as pictures (thesis 6.3.1, Fig. 6.28), for `mots viz-pixels`.

- :func:`direction_rgb`: the direction field of the predicted offsets in HSV, hue = direction (0 = right, a
  quarter turn = down, as image rows grow), value = magnitude (0 to the 99th percentile of the foreground's
  magnitudes), on the predicted foreground only (the offset loss sees instance pixels only), with a colour wheel
  of the same mapping as legend.
- :func:`vote_panel`: where the votes land. Each foreground pixel's predicted centre (its position + offset),
  counted per image pixel and drawn in its class's colour over the darkened image: a well-trained branch gathers
  the pixels of an object into one bright point.
"""
from __future__ import annotations

import numpy as np

from mots_ros.models.pixel_embedding.outputs import FrameOutputs
from mots_ros.tracking.cluster import image_coordinates

DARKEN = 0.35  # the image under the votes, dimmed to this fraction
WHEEL_FRACTION = 0.22  # the legend's diameter, as a fraction of the panel's shorter side
MAGNITUDE_PERCENTILE = 99.0


def direction_rgb(offsets: np.ndarray, mask: np.ndarray | None = None,
                  scale: float | None = None) -> tuple[np.ndarray, float]:
    """(h, w, 3) uint8 HSV direction field of (2, h, w) offsets (row, column) and the magnitude shown at full
    value: ``scale``, or the :data:`MAGNITUDE_PERCENTILE` of the magnitudes where ``mask`` holds (all pixels
    without one). Hue = ``atan2(d_row, d_col)`` (0 = right, 1/4 turn = down); saturation 1; value = magnitude /
    scale, clipped to 1; 0 outside ``mask``."""
    d_row, d_col = offsets.astype(np.float64)
    magnitude = np.hypot(d_row, d_col)
    inside = np.ones(magnitude.shape, bool) if mask is None else mask
    if scale is None:
        scale = float(np.percentile(magnitude[inside], MAGNITUDE_PERCENTILE)) if inside.any() else 0.0
    hue = np.mod(np.arctan2(d_row, d_col) / (2 * np.pi), 1.0)
    value = np.clip(magnitude / scale, 0, 1) if scale > 0 else np.zeros_like(magnitude)
    value[~inside] = 0
    from matplotlib.colors import hsv_to_rgb

    rgb = hsv_to_rgb(np.stack([hue, np.ones_like(hue), value], -1))
    return np.round(rgb * 255).astype(np.uint8), scale


def colour_wheel(diameter: int) -> tuple[np.ndarray, np.ndarray]:
    """(diameter, diameter, 3) legend of :func:`direction_rgb`: each pixel coloured by its offset from the centre,
    full value at the rim; and the (diameter, diameter) disk it fills."""
    r = (diameter - 1) / 2
    rows, cols = np.mgrid[0:diameter, 0:diameter] - r
    disk = np.hypot(rows, cols) <= r
    return direction_rgb(np.stack([rows, cols]), disk, max(r, 1e-9))[0], disk


def add_wheel(panel: np.ndarray) -> np.ndarray:
    """``panel`` with the colour wheel in its top right corner."""
    diameter = max(9, round(WHEEL_FRACTION * min(panel.shape[:2])))
    wheel, disk = colour_wheel(diameter)
    out = panel.copy()
    corner = out[2:2 + diameter, -2 - diameter:-2]
    corner[disk] = wheel[disk]
    return out


def vote_centres(outputs: FrameOutputs, foreground: np.ndarray) -> np.ndarray:
    """(N, 2) image coordinates (row, column) of the centres the ``foreground`` (h, w) pixels vote for (the offsets
    are in output pixels; :func:`~mots_ros.tracking.cluster.image_coordinates`)."""
    rows, cols = np.nonzero(foreground)
    centre = np.stack([rows, cols], -1) + outputs.offsets[:, rows, cols].T
    return image_coordinates(centre, outputs.stride, outputs.resized, outputs.height, outputs.width)


def vote_panel(outputs: FrameOutputs, classes: np.ndarray, image: np.ndarray | None,
               colours: np.ndarray, ground: tuple[int, int, int]) -> tuple[np.ndarray, int]:
    """(height, width, 3) votes of the foreground over the darkened ``image`` (``ground`` without one) and the
    number of votes inside the image: each image pixel hit by votes of class c in ``colours[c]``, brightness by
    the log of its count relative to the most hit pixel (at least 40 %)."""
    height, width = outputs.height, outputs.width
    base = np.full((height, width, 3), ground, np.uint8) if image is None else image
    panel = (base.astype(np.float64) * DARKEN).astype(np.uint8)
    counts = np.zeros((len(colours), height, width), np.int64)
    for cls in range(1, len(colours)):
        where = vote_centres(outputs, classes == cls)
        pixel = np.round(where).astype(np.int64)
        keep = (pixel[:, 0] >= 0) & (pixel[:, 0] < height) & (pixel[:, 1] >= 0) & (pixel[:, 1] < width)
        np.add.at(counts[cls], (pixel[keep, 0], pixel[keep, 1]), 1)
    peak = counts.max(initial=0)
    for cls in range(1, len(colours)):
        hit = counts[cls] > 0
        if not hit.any():
            continue
        level = 0.4 + 0.6 * np.log1p(counts[cls][hit]) / np.log1p(peak)
        panel[hit] = np.round(colours[cls][None].astype(np.float64) * level[:, None]).astype(np.uint8)
    return panel, int(counts.sum())
