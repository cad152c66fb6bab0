"""Every metric shared with the PyPI ``trackeval`` package equals its number on real KITTI MOTS val ground truth
against perturbed result sets (dropped, shifted, eroded masks, swapped and re-started ids, false positives,
detections inside ignore regions). Frag is excluded: mots_tools and TrackEval define it differently."""
import pytest

from mots_ros.data import formats
from mots_ros.eval.evaluate import evaluate
from mots_ros.eval.perturb import Perturbation, perturb_dir

pytest.importorskip("trackeval", reason="the reference needs the PyPI trackeval package (pip install trackeval)")
from mots_ros.eval.trackeval_ref import run_trackeval  # noqa: E402

CASES = {
    "default": (None, Perturbation()),
    "identity_errors": (("0002", "0013", "0016"),
                        Perturbation(drop=0.3, shift=0.1, swap=0.3, restart=0.3, false_positive=0.05)),
    "geometry_and_clutter": (("0007", "0014"),
                             Perturbation(drop=0.05, shift=0.7, max_shift=12, erode=0.5, swap=0.05, restart=0.05,
                                          false_positive=0.8, in_ignore=0.9)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_trackeval(kitti, tmp_path, case):
    gt_dir, val = kitti
    seqs, p = CASES[case]
    seqmap = tmp_path / "eval.seqmap"
    full = formats.read_seqmap(val)
    formats.write_seqmap({s: r for s, r in full.items() if seqs is None or s in seqs}, seqmap)
    perturb_dir(str(gt_dir), str(seqmap), str(tmp_path / "res"), p, seed=len(case))
    ours = evaluate(str(gt_dir), str(tmp_path / "res"), str(seqmap))
    ref = run_trackeval(str(gt_dir), str(tmp_path / "res"), str(seqmap), workdir=str(tmp_path / "te"))
    checked = 0
    for cls in ("car", "pedestrian"):
        rows = [("combined", ours[cls]["combined"], ref[cls]["combined"])]
        rows += [(s, ours[cls]["per_sequence"][s], r) for s, r in ref[cls]["per_sequence"].items()]
        for where, o, r in rows:
            for key, value in r.items():
                assert o[key] == pytest.approx(value, abs=1e-9, rel=1e-12), f"{case} {cls} {where} {key}"
                checked += 1
    # the perturbations really exercise the metrics
    car = ours["car"]["combined"]
    assert car["IDS"] > 0 and car["FP"] > 0 and car["FN"] > 0 and car["TR_ignored"] > 0
    assert checked > 100
