"""Render tracks (KITTI MOTS txt or png instance maps) over a sequence's frames as PNGs or an mp4 video."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mots_ros import MotsError
from mots_ros.data import formats
from mots_ros.data.images import read_image
from mots_ros.outputs import output_dir, output_file
from mots_ros.viz.overlay import draw_overlay

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _frames(images_dir: str) -> list[tuple[int, str]]:
    """``(frame, path)`` of the images in a folder, by frame; the file stem is the frame number."""
    if not os.path.isdir(images_dir):
        raise MotsError(f"{images_dir}: images folder not found")
    found = {}
    for name in os.listdir(images_dir):
        if not name.lower().endswith(IMAGE_SUFFIXES):
            continue
        path = os.path.join(images_dir, name)
        try:
            frame = int(Path(name).stem)
        except ValueError:
            raise MotsError(f"{path}: image file name must be the frame number, e.g. 000001.jpg") from None
        if frame in found:
            raise MotsError(f"{path}: frame {frame} also given by {found[frame]}")
        found[frame] = path
    if not found:
        raise MotsError(f"{images_dir}: no .png or .jpg frames found")
    return sorted(found.items())


def _tracks(tracks: str) -> formats.Sequence:
    if os.path.isdir(tracks):
        return formats.read_png_dir(tracks)
    if os.path.isfile(tracks):
        return formats.read_txt(tracks)
    raise MotsError(f"{tracks}: tracks not found (expected a KITTI MOTS txt file or a folder of png instance maps)")


def render(images_dir, tracks, out, fps: float = 10.0) -> str:
    """Draw the objects of every frame of ``images_dir`` (plain frames where there are none) and write
    ``out`` as an mp4 video when it ends in ``.mp4``, else as ``out/FRAME.png``; returns ``out``."""
    images_dir, tracks, out = str(images_dir), str(tracks), str(out)
    frames = _frames(images_dir)
    seq = _tracks(tracks)
    groups = seq.by_frame()
    video = out.lower().endswith(".mp4")
    if video:
        writer = _video_writer(out, fps)
    else:
        output_dir(out, "frames folder")
    first_shape = None
    try:
        for frame, path in tqdm(frames, desc=f"viz {seq.name}", unit="frame"):
            image = read_image(path)
            if seq.size is not None and image.shape[:2] != seq.size:
                raise MotsError(f"{path}: image size {image.shape[1]}x{image.shape[0]} does not match the mask "
                                f"size {seq.size[1]}x{seq.size[0]} of {tracks}")
            first_shape = first_shape or image.shape
            idx = groups.get(frame, np.zeros(0, np.int64))
            drawn = draw_overlay(image, [seq.rles[i] for i in idx], seq.ids[idx])
            if not video:
                Image.fromarray(drawn).save(os.path.join(out, f"{frame:06d}.png"), compress_level=1)  # 3x faster than 6
                continue
            if image.shape != first_shape:
                raise MotsError(f"{path}: image size {image.shape[1]}x{image.shape[0]} differs from the first "
                                f"frame's {first_shape[1]}x{first_shape[0]}; a video needs one size")
            writer.append_data(_even(drawn))
    finally:
        if video:
            writer.close()
    if video:
        _check_written(out)
    return out


def _video_writer(out: str, fps: float):
    """An mp4 writer, after checking the frame rate and that ``out`` can be written (ffmpeg only prints its
    errors)."""
    import imageio.v2 as imageio

    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise MotsError(f"--fps must be a positive number, got {fps}")
    output_file(out, "video", make_folder=True)
    return imageio.get_writer(out, fps=fps, codec="libx264", quality=7, macro_block_size=1)


def _check_written(out: str) -> None:
    """An error when ffmpeg left no video file."""
    if not os.path.isfile(out) or os.path.getsize(out) == 0:
        raise MotsError(f"{out}: ffmpeg wrote no video (see its messages above)")


def _even(image: np.ndarray) -> np.ndarray:
    """yuv420p needs even sizes: pad bottom/right by one black pixel where odd."""
    return np.pad(image, ((0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0)))


def write_video(frames, out: str, fps: float = 10.0) -> str:
    """An mp4 of RGB frames (all of one size); returns ``out``."""
    writer = _video_writer(out, fps)
    try:
        for image in frames:
            writer.append_data(_even(image))
    finally:
        writer.close()
    _check_written(out)
    return out
