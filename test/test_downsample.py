"""`mots downsample-gt`: resampling at pixel centres, and the thesis's Fig. 6.2 on KITTI MOTS val."""
import json

import numpy as np
import pytest

from helpers import box, make_seq
from mots_ros.cli import main
from mots_ros.eval.downsample import downsample_sequence, resample_labels
from mots_ros.eval.evaluate import evaluate_sequences


def test_resample_keeps_aligned_blocks_and_centres():
    labels = np.zeros((8, 12), np.uint16)
    labels[2:6, 4:8] = 1001  # aligned with stride 2: survives exactly
    assert (resample_labels(labels, 2) == labels).all()
    odd = np.zeros((9, 9), np.uint16)
    odd[4, 4] = 2001  # the centre pixel of 9x9 -> 4x4 at stride 2 is sampled from pixels 1, 3, 5, 7: lost
    assert not resample_labels(odd, 2).any()
    assert resample_labels(odd, 1).tolist() == odd.tolist()


def test_vanished_object_stays_as_empty_mask_and_counts_as_false_positive():
    gt = make_seq([(0, 1001, box(16, 16, 0, 0, 8, 8)), (0, 2001, box(16, 16, 12, 12, 13, 13))])
    down = downsample_sequence(gt, 4)
    assert sorted(down.ids.tolist()) == [1001, 2001]
    assert down.areas[down.ids.tolist().index(2001)] == 0
    ped = evaluate_sequences({"0000": (gt, down, 0, 0)})["pedestrian"]["combined"]
    assert (ped["TP"], ped["FN"], ped["FP"]) == (0, 1, 1)


@pytest.mark.parametrize("stride, car, pedestrian", [(2, 93.6, 89.4), (4, 88.0, 79.6)])
def test_thesis_figure_6_2(kitti, tmp_path, stride, car, pedestrian):
    gt_dir, seqmap = kitti
    out = tmp_path / "d.json"
    assert main(["downsample-gt", "--gt", str(gt_dir), "--seqmap", str(seqmap), "--stride", str(stride),
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["car"]["combined"]["sMOTSA"] == pytest.approx(car, abs=0.1)
    assert res["pedestrian"]["combined"]["sMOTSA"] == pytest.approx(pedestrian, abs=0.1)
