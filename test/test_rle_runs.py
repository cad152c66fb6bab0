"""The numba RLE run kernels equal pycocotools: intersections of every same-frame pair, and the validation of
strings as its decoder reads them."""
import numpy as np
import pycocotools.mask as mask_utils
import pytest

from mots_ros.data import formats, rle
from mots_ros.data.rle_runs import BAD_CHARACTER, BAD_COUNT, BAD_TOTAL, check_strings, pair_intersections


def reference(rles, frames):
    """Intersections from pycocotools: I = iou * (A + B) / (1 + iou) for pairs in the same frame."""
    area = rle.areas(rles)
    out = {}
    for f in np.unique(frames):
        idx = np.flatnonzero(frames == f)
        if len(idx) < 2:
            continue
        sub = [rles[i] for i in idx]
        iou = mask_utils.iou(sub, sub, np.zeros(len(idx), np.uint8))
        for x, y in zip(*np.nonzero(np.triu(iou, 1) > 0)):
            a, b = idx[x], idx[y]
            out[(a, b)] = int(round(iou[x, y] * (area[a] + area[b]) / (1 + iou[x, y])))
    return out


def kernel(rles, frames):
    a, b, inter = pair_intersections([r["counts"] for r in rles], frames)
    return {(int(x), int(y)): int(i) for x, y, i in zip(a, b, inter)}


def test_random_masks_match_pycocotools():
    rng = np.random.default_rng(0)
    for trial in range(30):
        h, w = (int(x) for x in rng.integers(1, 40, 2))
        n = int(rng.integers(2, 12))
        masks = rng.random((h, w, n)) < rng.random(n)  # from empty to full, touching corners and edges
        masks[:, :, rng.random(n) < 0.2] = False
        rles = rle.encode(masks)
        frames = rng.integers(0, 3, n)
        assert kernel(rles, frames) == reference(rles, frames), trial


def test_large_counts_and_full_masks():
    h, w = 600, 2000  # first runs beyond what two characters encode; a mask covering the last pixel
    masks = np.zeros((h, w, 3), bool)
    masks[500:, 1500:, 0] = True
    masks[550:, 1900:, 1] = True
    masks[:, :, 2] = True
    rles = rle.encode(masks)
    assert kernel(rles, np.zeros(3, np.int64)) == reference(rles, np.zeros(3, np.int64))


def test_real_kitti_sequence(kitti):
    gt_dir, _ = kitti
    seq = formats.read_txt(gt_dir / "0002.txt")
    shifted = [rle.encode(np.roll(rle.decode([r])[:, :, 0], 3, axis=1))[0] for r in seq.rles[:300]]
    rles = seq.rles[:300] + shifted
    frames = np.concatenate([seq.frames[:300], seq.frames[:300]])
    got = kernel(rles, frames)
    assert got == reference(rles, frames)
    assert len(got) > 300  # shifted copies overlap their originals


def test_check_strings_equals_pycocotools_on_valid_strings():
    rng = np.random.default_rng(1)
    for trial in range(30):
        h, w = (int(x) for x in rng.integers(1, 40, 2))
        n = int(rng.integers(1, 12))
        rles = rle.encode(rng.random((h, w, n)) < rng.random(n))
        areas, pixels, errors = check_strings([r["counts"] for r in rles], h * w)
        assert errors.tolist() == [0] * n and pixels.tolist() == [h * w] * n, trial
        assert areas.tolist() == rle.areas(rles).tolist(), trial


@pytest.mark.parametrize("counts, error", [
    (b"hello!", BAD_CHARACTER),  # '!' is below '0'
    ("5ä", BAD_CHARACTER),  # str is taken as UTF-8: bytes above 'o'
    (b"0o", BAD_COUNT),  # 'o' continues the count, the string ends
    (b"0" + b"o" * 8 + b"1", BAD_COUNT),  # beyond 32 bits
    (b"234K", BAD_COUNT),  # the fourth count is delta coded: -5 + 3 (two back) < 0
    (b"24", BAD_TOTAL),  # 2 + 4 = 6 pixels, not 20
    (b"0T1", BAD_TOTAL),  # 0 + 36 pixels
])
def test_check_strings_names_the_fault(counts, error):
    assert check_strings([counts], 20)[2].tolist() == [error]
