"""Overlay drawing and the `mots viz` renderer on tiny synthetic data."""
import itertools

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from mots_ros import MotsError
from mots_ros.data import formats
from mots_ros.data.rle import encode
from mots_ros.viz.overlay import draw_overlay, track_color
from mots_ros.viz.render import render

H, W = 64, 96


def _mask(y0, y1, x0, x1, h=H, w=W):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def _image(h=H, w=W, rgb=(40, 90, 160)):
    return np.tile(np.array(rgb, np.uint8), (h, w, 1))


def test_tint_outline_and_label():
    image = _image()
    mask = _mask(30, 50, 20, 60)
    out = draw_overlay(image, encode(mask), [2012])
    color = np.array(track_color(2012))
    inside = out[40, 40].astype(int)
    assert np.abs(inside - color).sum() < np.abs(image[40, 40].astype(int) - color).sum()
    assert tuple(out[49, 40]) == track_color(2012)  # outline on the bottom edge
    assert (out[55:, 70:] == image[55:, 70:]).all()  # far outside
    assert (out[:30][:, 20:] != image[:30][:, 20:]).any()  # label above the box
    assert (image == _image()).all()  # input untouched


def test_empty_returns_copy():
    image = _image()
    out = draw_overlay(image, [], np.zeros(0, int))
    assert out is not image and (out == image).all()


def test_colors_stable_and_distinct():
    ids = [c * 1000 + i for c in (1, 2) for i in range(1, 26)]
    colors = [track_color(i) for i in ids]
    assert colors == [track_color(i) for i in ids]
    assert all(a != b for a, b in itertools.combinations(colors, 2))


def test_ignore_region_grey_without_label():
    image = _image(rgb=(220, 40, 40))
    mask = _mask(20, 40, 30, 70)
    out = draw_overlay(image, encode(mask), [formats.IGNORE_ID]).astype(int)
    spread = out.max(axis=2) - out.min(axis=2)
    assert (spread[mask] <= 90).all()  # was 180
    assert (out[~mask] == image[~mask]).all()


def _write_images(folder, frames, h, w, suffix=".png"):
    folder.mkdir()
    for t in frames:
        Image.fromarray(_image(h, w, (10 * t, 100, 50))).save(folder / f"{t:06d}{suffix}")


def _write_tracks(path, h, w):
    masks = [_mask(2, 10, 3, 12, h, w), _mask(12, 20, 15, 25, h, w), _mask(5, 15, 5, 15, h, w)]
    seq = formats.Sequence("0000", np.array([0, 0, 2]), np.array([1001, 2003, 1001]), np.array([1, 2, 1]),
                           [encode(m)[0] for m in masks])
    formats.write_txt(seq, path)


def test_render_png_frames(tmp_path):
    _write_images(tmp_path / "img", range(3), 24, 32)
    _write_tracks(tmp_path / "t.txt", 24, 32)
    out = render(tmp_path / "img", tmp_path / "t.txt", tmp_path / "out")
    assert out == str(tmp_path / "out")
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["000000.png", "000001.png", "000002.png"]
    for name in files:
        assert np.array(Image.open(tmp_path / "out" / name)).shape == (24, 32, 3)
    for t, drawn in ((0, True), (1, False), (2, True)):
        plain = np.array(Image.open(tmp_path / "img" / f"{t:06d}.png"))
        assert (np.array(Image.open(tmp_path / "out" / f"{t:06d}.png")) != plain).any() == drawn


def test_render_mp4_odd_size(tmp_path):
    _write_images(tmp_path / "img", range(1, 5), 25, 33, ".jpg")
    _write_tracks(tmp_path / "t.txt", 25, 33)
    out = render(tmp_path / "img", tmp_path / "t.txt", tmp_path / "v.mp4", fps=5)
    assert (tmp_path / "v.mp4").stat().st_size > 0
    with imageio.get_reader(out) as reader:
        frames = [f for f in reader]
    assert len(frames) == 4 and frames[0].shape == (26, 34, 3)


def test_render_errors(tmp_path):
    _write_images(tmp_path / "img", range(2), 24, 32)
    _write_tracks(tmp_path / "t.txt", 20, 30)
    with pytest.raises(MotsError, match=r"000000\.png.*32x24.*30x20"):
        render(tmp_path / "img", tmp_path / "t.txt", tmp_path / "out")
    with pytest.raises(MotsError, match="nope"):
        render(tmp_path / "nope", tmp_path / "t.txt", tmp_path / "out")
    with pytest.raises(MotsError, match="missing.txt"):
        render(tmp_path / "img", tmp_path / "missing.txt", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MotsError, match="no .png or .jpg"):
        render(tmp_path / "empty", tmp_path / "t.txt", tmp_path / "out")
