"""Camera frames from image files as RGB uint8 arrays (no torch import: `mots viz` uses it too)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from mots_ros import MotsError

GRAY16_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # "I": 16-bit grey PNGs in some Pillow versions


def _gray16_to_rgb(values: np.ndarray, path: str) -> np.ndarray:
    """16-bit grey levels as RGB by their high byte, as Pillow converts 16-bit colour (its ``convert('RGB')``
    clips them to 255 instead: an all-white image)."""
    values = values.astype(np.int64, copy=False)
    if values.size and (values.min() < 0 or values.max() > 0xFFFF):
        raise MotsError(f"{path}: 32-bit integer image; save the frames with 8 or 16 bits per channel")
    return np.repeat((values >> 8).astype(np.uint8)[:, :, None], 3, axis=2)


def read_image(path: str) -> np.ndarray:
    """An RGB uint8 (H, W, 3) array of an 8- or 16-bit image file; a clear error for unreadable files."""
    try:
        with Image.open(path) as im:
            if im.mode in GRAY16_MODES:
                return _gray16_to_rgb(np.array(im), path)
            if im.mode == "F":
                raise MotsError(f"{path}: floating-point image; save the frames with 8 or 16 bits per channel")
            return np.array(im.convert("RGB"))
    except (OSError, ValueError) as e:
        raise MotsError(f"{path}: cannot read image ({e})") from None
