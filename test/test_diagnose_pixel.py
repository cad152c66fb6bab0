"""benchmarks/diagnose_pixel.py blames each missed object on the right stage (hand-made network outputs)."""
import importlib.util
import os

import numpy as np

from mots_ros.data import rle
from mots_ros.models.pixel_embedding.outputs import FrameOutputs
from mots_ros.tracking.cluster import ClassClustering, ClusterConfig

HERE = os.path.dirname(os.path.abspath(__file__))


def _diagnose():
    spec = importlib.util.spec_from_file_location("diagnose_pixel",
                                                  os.path.join(HERE, "..", "benchmarks", "diagnose_pixel.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_missed_object_is_blamed_on_its_stage():
    """Stride 1, 40 x 80: a found car; two touching cars with one embedding (merged); a car the class map calls
    background; a pedestrian below min_cluster_size; an embedding blob on the background class of nothing."""
    h, w = 40, 80
    gt = np.zeros((5, h, w), bool)
    gt[0, 2:12, 2:22] = True  # found
    gt[1, 20:30, 2:14] = True  # merged with 2
    gt[2, 20:30, 14:26] = True
    gt[3, 2:12, 40:60] = True  # class map: background
    gt[4, 30:33, 70:73] = True  # 9 pixels: too small
    classes = np.array([1, 1, 1, 1, 2])
    probs = np.zeros((3, h, w), np.float32)
    probs[0] = 1
    emb = np.zeros((16, h, w), np.float32)
    for k, value in ((0, 0.0), (1, 20.0), (2, 20.0), (4, 40.0)):
        probs[:, gt[k]] = 0
        probs[classes[k], gt[k]] = 1
        emb[0, gt[k]] = value
    probs[:, 34:38, 2:30] = 0  # a car cluster where there is no object
    probs[1, 34:38, 2:30] = 1
    emb[0, 34:38, 2:30] = 60.0
    outputs = FrameOutputs(0, 0, h, w, (h, w), 1, probs, emb)
    config = ClusterConfig(position_scale=0.0, single_cluster=False,
                           car=ClassClustering(min_samples=3, min_cluster_size=20),
                           pedestrian=ClassClustering(min_samples=3, min_cluster_size=20))
    objects, clusters = _diagnose().frame_report(outputs, rle.encode(gt.transpose(1, 2, 0)), classes, config)
    assert [r for _, _, r in objects] == ["found", "merged", "merged", "class map", "too small"]
    assert [a for _, a, _ in objects] == [200, 120, 120, 200, 9]
    assert sorted(clusters) == [(1, "background"), (1, "merged")]
