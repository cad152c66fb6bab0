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


def test_subsample_clusters_a_quarter_and_labels_the_rest_by_the_nearest(monkeypatch):
    """subsample 2: HDBSCAN sees the pixels of every second row and column (a quarter), with the minimum size per
    clustered pixel four times larger; the other pixels join their nearest clustered pixel's cluster, so the blobs
    come out as with every pixel clustered."""
    from mots_ros.tracking import cluster

    calls, original = [], cluster.cluster_points
    monkeypatch.setattr(cluster, "cluster_points", lambda f, p, a: calls.append((len(f), a)) or original(f, p, a))
    probs, emb = outputs(BLOBS)
    full = run(probs, emb)
    sub = run(probs, emb, ClusterConfig(subsample=2))
    (n_car, a_car), (n_ped, a_ped), (m_car, b_car), (m_ped, b_ped) = calls
    assert (n_car, n_ped) == (128, 64) and (m_car, m_ped) == (32, 16)
    assert b_car == b_ped == 4 * a_car == 4 * a_ped
    assert sorted(sub.classes.tolist()) == [1, 1, 2]
    # the two cars (a lone cluster of a class, the pedestrian, is HDBSCAN's densest core of about the minimum size
    # either way, not the whole blob: thesis 6.2.9's single-cluster rule)
    def cars(det):  # car masks from left to right
        order = [i for i in np.argsort(det.boxes[:, 0]) if det.classes[i] == 1]
        return rle.decode(det.masks).transpose(2, 0, 1)[order].astype(bool)

    for x, y in zip(cars(full), cars(sub), strict=True):
        assert (x & y).sum() / (x | y).sum() > 0.9
    with pytest.raises(ValueError, match="subsample must be an integer >= 1"):
        ClusterConfig(subsample=0)


def test_a_class_subsample_keeps_every_pixel_of_a_far_pedestrian(monkeypatch):
    """A far pedestrian of 3 x 2 output pixels lies on one pixel of the grid of subsample 2, too few for a cluster;
    with ``pedestrian.subsample`` 1 it is found while the cars are still clustered on the grid."""
    from mots_ros.tracking import cluster
    from mots_ros.tracking.cluster import ClassClustering

    calls, original = [], cluster.cluster_points
    monkeypatch.setattr(cluster, "cluster_points", lambda f, p, a: calls.append(len(f)) or original(f, p, a))
    far = {**{k: BLOBS[k] for k in ("car_a", "car_b")}, "ped": (2, slice(13, 16), slice(13, 15), [0, 0, 8.0, 0])}
    probs, emb = outputs(far)
    shared = ClusterConfig(subsample=2, pedestrian=ClassClustering(2, 64))
    assert sorted(run(probs, emb, shared).classes.tolist()) == [1, 1]
    assert calls == [32, 1]  # one grid pixel of the pedestrian's 6: no cluster
    calls.clear()
    own = ClusterConfig(subsample=2, pedestrian=ClassClustering(2, 64, subsample=1))
    det = run(probs, emb, own)
    assert calls == [32, 6] and sorted(det.classes.tolist()) == [1, 1, 2]
    (i,) = np.flatnonzero(det.classes == 2)
    np.testing.assert_array_equal(det.boxes[i], [13 * S, 13 * S, 15 * S, 16 * S])
    assert (own.step("car"), own.step("pedestrian")) == (2, 1)
    with pytest.raises(ValueError, match="pedestrian.subsample must be an integer >= 0"):
        ClusterConfig(pedestrian=ClassClustering(subsample=-1))


def test_clustering_one_class_leaves_its_detections_as_they_are():
    probs, emb = outputs(BLOBS)
    full = run(probs, emb)
    for name, cls in (("car", 1), ("pedestrian", 2)):
        one = cluster_frame(probs, emb, 7, 70, h * S, w * S, (h * S, w * S), S, ClusterConfig(), classes=(name,))
        keep = full.classes == cls
        assert (one.classes == cls).all() and len(one) == keep.sum() > 0
        assert one.masks == [m for m, k in zip(full.masks, keep) if k]
        np.testing.assert_array_equal(one.boxes, full.boxes[keep])
        np.testing.assert_array_equal(one.scores, full.scores[keep])


def test_guided_upsampling_follows_the_image_at_mask_borders():
    """A red object over image columns 6-14 whose output pixels (4 x 4 image pixels each) cover columns 4-15: the
    nearest upsampling is 3 columns too wide; guided by the image, the mask is the red object exactly."""
    from mots_ros.tracking.cluster import guided_labels

    low = np.zeros((6, 6), np.int32)
    low[1:5, 1:4] = 1  # output columns 1-3 = image columns 4-15, rows 1-4 = image rows 4-19
    image = np.full((24, 24, 3), 100, np.uint8)
    image[4:20, 6:15] = (200, 30, 30)
    truth = np.zeros((24, 24), np.int32)
    truth[4:20, 6:15] = 1
    nearest = np.kron(low, np.ones((4, 4), np.int32))
    assert (nearest != truth).sum() == 3 * 16
    np.testing.assert_array_equal(guided_labels(low, image, (24, 24), 4), truth)
    # through the clustering: the detection's mask
    probs, emb = np.zeros((3, 6, 6), np.float32), np.zeros((D, 6, 6), np.float32)
    probs[0], probs[1] = low == 0, low == 1
    config = ClusterConfig(upsampling="guided", single_cluster=True)  # HDBSCAN's core, grown to the class
    config.car.min_cluster_size = 100
    det = cluster_frame(probs, emb, 0, 0, 24, 24, (24, 24), 4, config, image=image)
    np.testing.assert_array_equal(rle.decode(det.masks)[:, :, 0], truth)
    with pytest.raises(ValueError, match="clustering.upsampling 'guided' needs the camera image of the frame"):
        cluster_frame(probs, emb, 0, 0, 24, 24, (24, 24), 4, config)


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


def test_single_cluster_rule_takes_every_confident_pixel_of_the_class():
    probs, emb = outputs({"car": BLOBS["car_a"], "ped": BLOBS["ped"]})
    # six scattered car pixels, each far off in embedding space: HDBSCAN noise
    outliers = (np.array([14, 16, 18, 12, 15, 17]), np.array([22, 25, 27, 28, 1, 5]))
    probs[:, outliers[0], outliers[1]] = np.array([0.05, 0.9, 0.05], np.float32)[:, None]
    emb[:, outliers[0], outliers[1]] = np.random.default_rng(5).normal(0, 30, (D, 6)).astype(np.float32)
    unsure = (slice(2, 4), slice(12, 16))  # most likely a car, but only 0.45
    probs[:, unsure[0], unsure[1]] = np.array([0.35, 0.45, 0.2], np.float32)[:, None, None]

    def car_mask(config):
        det = run(probs, emb, config)
        (i,) = np.flatnonzero(det.classes == 1)
        return det, rle.decode([det.masks[i]])[..., 0].astype(bool)[::S, ::S]  # at the output grid

    plain_det, plain = car_mask(ClusterConfig())
    rule_det, rule = car_mask(ClusterConfig(single_cluster=True))
    assert not plain[outliers].any() and rule[outliers].all()  # the confident outliers join the one cluster
    assert not rule[unsure].any()  # confidence 0.45: not
    np.testing.assert_array_equal(rule, plain | (probs[1] > 0.5))  # also the blob's border pixels called noise
    car = lambda d: int(np.flatnonzero(d.classes == 1)[0])  # noqa: E731
    np.testing.assert_array_equal(rule_det.representatives[car(rule_det)],
                                  plain_det.representatives[car(plain_det)])
    # two car clusters: the rule does not apply to cars (it does to the one pedestrian cluster)
    probs2, emb2 = outputs(BLOBS)
    probs2[:, outliers[0], outliers[1]] = np.array([0.05, 0.9, 0.05], np.float32)[:, None]
    emb2[:, outliers[0], outliers[1]] = emb[:, outliers[0], outliers[1]]
    a, b = run(probs2, emb2), run(probs2, emb2, ClusterConfig(single_cluster=True))
    cars = lambda d: [m["counts"] for m, c in zip(d.masks, d.classes) if c == 1]  # noqa: E731
    assert len(cars(a)) == 2 and cars(a) == cars(b)


def reference_bilinear(maps, height, width):
    """Bilinear interpolation between output pixel centres ((j + 0.5) * S in image pixels; image = resized size),
    clamped at the borders, written independently with np.interp."""
    centres_r, centres_c = (np.arange(h) + 0.5) * S, (np.arange(w) + 0.5) * S
    ys, xs = np.arange(height) + 0.5, np.arange(width) + 0.5
    out = []
    for m in maps:
        rows = np.stack([np.interp(ys, centres_r, m[:, j]) for j in range(w)], 1)
        out.append(np.stack([np.interp(xs, centres_c, rows[i]) for i in range(height)]))
    return np.stack(out)


def test_bilinear_upsampling_assigns_each_pixel_to_the_most_confident_cluster():
    probs, emb = outputs(BLOBS)
    rng = np.random.default_rng(1)
    for cls, rows, cols, _ in BLOBS.values():  # uneven confidences (all still the most likely class)
        probs[cls, rows, cols] = rng.uniform(0.55, 0.95, probs[cls, rows, cols].shape).astype(np.float32)
    det = run(probs, emb, ClusterConfig(upsampling="bilinear"))
    nearest = run(probs, emb)
    assert sorted(det.classes.tolist()) == [1, 1, 2]
    masks = rle.decode(det.masks).transpose(2, 0, 1).astype(bool)
    assert (masks.sum(0) <= 1).all()  # disjoint
    np.testing.assert_array_equal(det.classes, nearest.classes)  # the same clusters, in the same order
    # the cluster members at the output grid: the nearest-neighbour masks at the output pixel centres
    cells = rle.decode(nearest.masks).transpose(2, 0, 1)[:, S // 2::S, S // 2::S].astype(bool)
    maps = np.where(cells, probs[nearest.classes], 0.0)
    up = reference_bilinear(maps, h * S, w * S)
    want = np.where(up.max(0) > 0.5, up.argmax(0) + 1, 0)
    got = (masks * np.arange(1, len(masks) + 1)[:, None, None]).sum(0)
    assert (got == want).mean() > 0.999  # float rounding at the 0.5 border may flip a pixel
    assert not all(np.array_equal(a, b) for a, b in
                   zip(masks, rle.decode(nearest.masks).transpose(2, 0, 1).astype(bool)))  # smoother shapes
    with pytest.raises(ValueError, match="upsampling must be one of"):
        ClusterConfig(upsampling="bicubic")


def centre_votes(blobs, noise=0.0, seed=0):
    """(2, h, w) offsets from each blob pixel to its blob's centre (0 elsewhere), + Gaussian noise."""
    offsets = np.random.default_rng(seed).normal(0, noise, (2, h, w)).astype(np.float32)
    rows, cols = np.mgrid[0:h, 0:w]
    for _, r, c, _ in blobs.values():
        offsets[0, r, c] += (r.start + r.stop - 1) / 2 - rows[r, c]
        offsets[1, r, c] += (c.start + c.stop - 1) / 2 - cols[r, c]
    return offsets


def test_centre_votes_split_touching_look_alike_objects():
    """Two cars side by side with one embedding (thesis 6.3.1): clustered on embeddings and positions they are
    one cluster; on the predicted centres (pixel + offset) two, one per car, and "both" agrees."""
    touching = {"left": (1, slice(2, 12), slice(2, 12), [8.0, 0, 0, 0]),
                "right": (1, slice(2, 12), slice(12, 22), [8.0, 0, 0, 0])}
    probs, emb = outputs(touching)
    offsets = centre_votes(touching, noise=0.3)
    assert len(run(probs, emb)) == 1
    for features in ("centre", "both"):
        config = ClusterConfig(features=features, centre_scale=32.0, position_scale=0.0)
        det = cluster_frame(probs, emb, 7, 70, h * S, w * S, (h * S, w * S), S, config, None, offsets)
        assert len(det) == 2, features
        masks = rle.decode(det.masks).transpose(2, 0, 1).astype(bool)
        left = masks[np.argmin(det.boxes[:, 0])]
        want = np.zeros((h * S, w * S), bool)
        want[2 * S:12 * S, 2 * S:12 * S] = True
        assert (left & want).sum() / (left | want).sum() > 0.8
        np.testing.assert_allclose(det.embeddings, [[8.0, 0, 0, 0]] * 2, atol=0.1)  # representatives: embeddings


def test_centre_features_need_offsets():
    probs, emb = outputs(BLOBS)
    with pytest.raises(ValueError, match="needs a model with centre votes"):
        run(probs, emb, ClusterConfig(features="centre"))
    with pytest.raises(ValueError, match="features must be one of"):
        ClusterConfig(features="votes")


def test_centre_parameters_parse_dump_and_refuse_bad_values():
    from mots_ros import MotsError
    from mots_ros.tracking.cluster import cluster_from_dict, dump_cluster_config

    config = cluster_from_dict({"features": "both", "centre_scale": 16.0})
    assert (config.features, config.centre_scale) == ("both", 16.0)
    dumped = dump_cluster_config(config)
    assert "      features: both\n" in dumped and "      centre_scale: 16.0\n" in dumped
    with pytest.raises(MotsError, match=r"f.yaml: clustering.features: expected one of embedding, centre, both"):
        cluster_from_dict({"features": "votes"}, "f.yaml: ")
    with pytest.raises(MotsError, match="clustering.centre_scale: expected a float >= 0, got 16 .write it"):
        cluster_from_dict({"centre_scale": 16})


def test_selection_epsilon_keeps_an_object_whole_that_a_small_minimum_size_would_cut():
    """Two halves of one car whose embeddings lie 2 apart: with a small minimum size HDBSCAN makes each half a
    cluster; a selection epsilon of 3 keeps the car whole, and the other car, 8 away, still apart."""
    halves = {"car_left": (1, slice(2, 10), slice(2, 6), [8.0, 0, 0, 0]),
              "car_right": (1, slice(2, 10), slice(6, 10), [8.0, 2.0, 0, 0]),
              "car_b": BLOBS["car_b"]}
    probs, emb = outputs(halves)
    config = ClusterConfig(position_scale=0.0)
    config.car.min_cluster_size = 100
    assert len(run(probs, emb, config)) == 3
    config.car.selection_epsilon = 3.0
    det = run(probs, emb, config)
    assert len(det) == 2
    masks = rle.decode(det.masks).transpose(2, 0, 1).astype(bool)[:, ::S, ::S]
    assert any(m[2:10, 2:10].sum() >= 0.9 * 64 and not m[:, 18:].any() for m in masks)  # the whole left car


def test_selection_epsilon_parses_dumps_and_refuses_bad_values():
    from mots_ros import MotsError
    from mots_ros.tracking.cluster import cluster_from_dict, cluster_params, dump_cluster_config

    config = cluster_from_dict({"pedestrian": {"min_cluster_size": 300, "selection_epsilon": 2.5}})
    assert (config.pedestrian.min_cluster_size, config.pedestrian.selection_epsilon) == (300, 2.5)
    assert config.car.selection_epsilon == 0.0 and config.pedestrian.min_samples == 5  # defaults kept
    assert cluster_params(config)["pedestrian.selection_epsilon"] == 2.5  # what the inference node declares
    assert cluster_from_dict(_nested_dump(dump_cluster_config(config))) == config
    with pytest.raises(MotsError, match=r"f.yaml: clustering.car.selection_epsilon: expected a float >= 0, got -1.0"):
        cluster_from_dict({"car": {"selection_epsilon": -1.0}}, "f.yaml: ")
    with pytest.raises(MotsError, match="clustering.car.selection_epsilon: expected a float >= 0, got 2 .write it"):
        cluster_from_dict({"car": {"selection_epsilon": 2}})
    with pytest.raises(MotsError, match="clustering.car: expected min_samples, min_cluster_size, selection_epsilon"):
        cluster_from_dict({"car": {"epsilon": 2.0}})


def test_class_subsample_parses_dumps_and_refuses_bad_values():
    from mots_ros import MotsError
    from mots_ros.tracking.cluster import cluster_from_dict, cluster_params, dump_cluster_config

    config = cluster_from_dict({"subsample": 2, "pedestrian": {"subsample": 1}})
    assert (config.car.subsample, config.pedestrian.subsample, config.step("car"), config.step("pedestrian")) == (
        0, 1, 2, 1)
    assert cluster_params(config)["pedestrian.subsample"] == 1  # what the inference node declares
    text = dump_cluster_config(config)
    assert "The class's own clustering subsample (0: the shared clustering.subsample)" in text
    assert cluster_from_dict(_nested_dump(text)) == config
    for bad in (-1, 1.5, True):
        with pytest.raises(MotsError, match=r"f.yaml: clustering.car.subsample: expected an integer >= 0 \(0: the "
                                            r"shared clustering.subsample\), got"):
            cluster_from_dict({"car": {"subsample": bad}}, "f.yaml: ")


def _nested_dump(text: str) -> dict:
    """The clustering mapping of a dumped ``/**/inference_node`` section."""
    import yaml

    return yaml.safe_load(text)["/**/inference_node"]["ros__parameters"]["clustering"]
