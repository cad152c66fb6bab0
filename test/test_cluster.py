"""Per-class HDBSCAN clustering of pixel embeddings into detections (thesis 6.2.3, 6.2.4), numpy only."""
import numpy as np
import pytest

pytest.importorskip("hdbscan")

from mots_ros.data import rle  # noqa: E402
from mots_ros.tracking.cluster import ClusterConfig, cluster_frame, upsample_indices  # noqa: E402

h, w, S, D = 20, 30, 4, 4
BLOBS = {  # name: (class, rows, cols, embedding centre)
    "car_a": (1, slice(2, 10), slice(2, 10), [8.0, 0, 0, 0]),
    "car_b": (1, slice(2, 10), slice(18, 26), [0, 8.0, 0, 0]),
    "ped": (2, slice(11, 19), slice(10, 18), [0, 0, 8.0, 0]),
}


def outputs(blobs, seed=0):
    """(probs (3, h, w), embeddings (D, h, w)): confident classes, embeddings at the blob centres + noise."""
    rng = np.random.default_rng(seed)
    probs = np.zeros((3, h, w), np.float32)
    probs[0] = 0.9
    probs[1:] = 0.05
    emb = rng.normal(0, 0.1, (D, h, w)).astype(np.float32)
    for cls, rows, cols, centre in blobs.values():
        probs[:, rows, cols] = 0.05
        probs[cls, rows, cols] = 0.9
        emb[:, rows, cols] += np.array(centre, np.float32)[:, None, None]
    return probs, emb


def run(probs, emb, config=None, score_threshold=None):
    return cluster_frame(probs, emb, 7, 70, h * S, w * S, (h * S, w * S), S, config or ClusterConfig(),
                         score_threshold)


def test_separated_blobs_become_one_detection_each():
    probs, emb = outputs(BLOBS)
    det = run(probs, emb)
    assert (det.frame, det.stamp, det.height, det.width) == (7, 70, h * S, w * S)
    assert sorted(det.classes.tolist()) == [1, 1, 2]
    masks = rle.decode(det.masks).transpose(2, 0, 1).astype(bool)
    assert not (masks.sum(0) > 1).any()  # disjoint
    for cls, rows, cols, centre in BLOBS.values():
        want = np.zeros((h * S, w * S), bool)
        want[rows.start * S:rows.stop * S, cols.start * S:cols.stop * S] = True
        (i,) = [i for i, m in enumerate(masks) if (m & want).any()]  # one detection per blob, inside it
        assert det.classes[i] == cls and not (masks[i] & ~want).any()
        assert masks[i].sum() >= 0.6 * want.sum()  # HDBSCAN may call a few border pixels noise
        ys, xs = np.nonzero(masks[i])
        np.testing.assert_array_equal(det.boxes[i], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        assert det.scores[i] == pytest.approx(0.9)
        np.testing.assert_allclose(det.embeddings[i], centre, atol=0.1)
        assert det.representatives.shape[1:] == (5, D)
        np.testing.assert_allclose(det.representatives[i], np.broadcast_to(centre, (5, D)), atol=0.3)
    assert len(run(probs, emb, score_threshold=0.95)) == 0


def test_positions_split_two_look_alike_objects():
    same = {"left": (1, slice(2, 10), slice(1, 9), [8.0, 0, 0, 0]),
            "right": (1, slice(2, 10), slice(21, 29), [8.0, 0, 0, 0])}
    probs, emb = outputs(same)
    assert len(run(probs, emb)) == 2
    assert len(run(probs, emb, ClusterConfig(position_scale=0.0))) == 1


def test_small_clusters_are_noise_min_size_at_full_resolution():
    tiny = {"car": (1, slice(2, 5), slice(2, 5), [8.0, 0, 0, 0])}  # 9 output pixels = 144 image pixels
    probs, emb = outputs(tiny)
    assert len(run(probs, emb)) == 0  # below 250 pixels
    config = ClusterConfig()
    config.car.min_cluster_size = 100
    assert len(run(probs, emb, config)) == 1


def test_nearest_upsampling_indices():
    # 2 output pixels at stride 4 of a 7-pixel resized row, image 14 pixels wide
    np.testing.assert_array_equal(upsample_indices(2, 4, 7, 14), [0] * 8 + [1] * 6)
