"""Draw MOTS masks on an image: tint per track, outline, label ``car 12``; ignore regions grey (ROS-free)."""
from __future__ import annotations

import colorsys
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mots_ros import MotsError
from mots_ros.data import rle as rle_ops
from mots_ros.data.formats import CLASS_NAMES, IGNORE_ID

GOLDEN = 0.618033988749895
IGNORE_COLOR = (128, 128, 128)
OUTLINE = 2  # px, inside the mask


def track_color(track_id: int) -> tuple[int, int, int]:
    """Stable RGB colour of a track: golden-ratio hue steps over the instance, a hue offset per class,
    saturation and value alternating so that ids with nearby hues still differ."""
    cls, inst = divmod(int(track_id), 1000)
    hue = (inst * GOLDEN + cls * (2 ** 0.5 - 1)) % 1.0
    sat = (0.9, 0.65, 0.8)[inst % 3]
    val = (1.0, 0.8)[inst % 2]
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(hue, sat, val))


@lru_cache(maxsize=8)
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def _label_map(masks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(H, W) int16 index of the mask covering each pixel (-1 none); later masks win on overlaps."""
    lab = np.full(masks.shape[:2], -1, np.int16)
    for k, (x, y, w, h) in enumerate(boxes.astype(int)):
        if w and h:
            crop = lab[y:y + h, x:x + w]
            crop[masks[y:y + h, x:x + w, k] > 0] = k
    return lab


def _outline(lab: np.ndarray) -> np.ndarray:
    """Mask pixels within OUTLINE px (4-neighbourhood shifts) of a different label or the image border."""
    pad = np.pad(lab, OUTLINE, constant_values=-1)
    h, w = lab.shape
    edge = np.zeros(lab.shape, bool)
    for d in range(1, OUTLINE + 1):
        o = OUTLINE
        edge |= pad[o - d:o - d + h, o:o + w] != lab
        edge |= pad[o + d:o + d + h, o:o + w] != lab
        edge |= pad[o:o + h, o - d:o - d + w] != lab
        edge |= pad[o:o + h, o + d:o + d + w] != lab
    return edge & (lab >= 0)


def _free_y(x: int, y: int, w: int, h: int, placed: list) -> int:
    """Lowest y >= the given one where the label box does not cover an already placed label."""
    moved = True
    while moved:
        moved = False
        for px, py, pw, ph in placed:
            if x < px + pw and px < x + w and y < py + ph and py < y + h:
                y, moved = py + ph, True
    return y


def draw_overlay(image: np.ndarray, rles: list[dict], ids, alpha: float = 0.5) -> np.ndarray:
    """New RGB image with every mask tinted in its track colour (alpha), outlined and labelled near the
    top-left of its box; ignore regions (id 10000) tinted grey without label."""
    out = np.array(image, np.uint8, copy=True)
    if not len(rles):
        return out
    ids = np.asarray(ids, np.int64)
    order = np.argsort(ids != IGNORE_ID, kind="stable")  # ignore regions first: tracks paint over them
    rles = [rles[i] for i in order]
    ids = ids[order]
    h, w = rles[0]["size"]
    if (h, w) != out.shape[:2]:
        raise MotsError(f"mask size {w}x{h} does not match image size {out.shape[1]}x{out.shape[0]}")

    boxes = rle_ops.boxes(rles)
    lab = _label_map(rle_ops.decode(rles), boxes)
    palette = np.array([IGNORE_COLOR if i == IGNORE_ID else track_color(i) for i in ids], np.float32)
    hit = lab >= 0
    out[hit] = (out[hit] * (1.0 - alpha) + palette[lab[hit]] * alpha + 0.5).astype(np.uint8)
    edge = _outline(lab)
    out[edge] = palette[lab[edge]].astype(np.uint8)

    labelled = [k for k in range(len(ids)) if ids[k] != IGNORE_ID and boxes[k, 2] > 0]
    if not labelled:
        return out
    pil = Image.fromarray(out)
    draw = ImageDraw.Draw(pil)
    font = _font(max(10, h // 40))
    placed = []
    for k in sorted(labelled, key=lambda k: boxes[k, 1]):
        cls, inst = divmod(int(ids[k]), 1000)
        text = f"{CLASS_NAMES.get(cls, f'class {cls}')} {inst}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left + 4, bottom - top + 4
        x = int(min(max(boxes[k, 0], 0), w - tw))
        y = int(boxes[k, 1]) - th  # above the box, inside it at the image top
        y = _free_y(x, y if y >= 0 else int(boxes[k, 1]), tw, th, placed)
        placed.append((x, y, tw, th))
        draw.rectangle((x, y, x + tw - 1, y + th - 1), fill=tuple(int(c * 0.3) for c in palette[k]))
        draw.text((x + 2 - left, y + 2 - top), text, fill=(255, 255, 255), font=font)
    return np.array(pil)
