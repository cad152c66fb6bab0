"""`mots eval` semantics on hand-made cases (mots_tools CLEAR, TrackEval Identity/HOTA) and its command line."""
import json

import pytest

from helpers import box, make_seq
from mots_ros.cli import main
from mots_ros.data import formats
from mots_ros.eval.evaluate import evaluate_sequences

H, W = 20, 40


def run(gt_objs, res_objs, last=None):
    gt, res = make_seq(gt_objs), make_seq(res_objs)
    last = last if last is not None else int(max(gt.frames.max(initial=0), res.frames.max(initial=0)))
    return evaluate_sequences({"0000": (gt, res, 0, last)})["car"]["combined"]


def test_perfect_result():
    objs = [(t, 1001, box(H, W, 2, t, 8, t + 6)) for t in range(5)]
    r = run(objs, objs)
    assert (r["TP"], r["FP"], r["FN"], r["IDS"]) == (5, 0, 0, 0)
    for k in ("sMOTSA", "MOTSA", "MOTSP", "IDF1", "HOTA", "DetA", "AssA", "LocA", "F_DR", "R_DR_w"):
        assert r[k] == pytest.approx(100.0), k


def test_iou_must_exceed_half_for_clear_but_not_for_identity():
    gt = [(0, 1001, box(H, W, 0, 0, 10, 4))]  # 40 px
    res = [(0, 1001, box(H, W, 0, 0, 10, 2)), (0, 1002, box(H, W, 0, 2, 10, 4))]  # IoU exactly 0.5 each
    r = run(gt, res)
    assert (r["TP"], r["FN"], r["FP"]) == (0, 1, 2)
    assert r["IDTP"] == 1  # TrackEval's Identity matches at IoU >= 0.5


def test_ignore_region_semantics():
    gt = [(0, 1001, box(H, W, 0, 0, 10, 10)), (0, 10000, box(H, W, 0, 20, 20, 40))]
    inside = (0, 1005, box(H, W, 0, 19, 10, 29))  # 90 of 100 px in the ignore region: neither TP nor FP
    half = (0, 1006, box(H, W, 12, 15, 14, 25))  # exactly half inside: a false positive
    matched = (0, 1001, box(H, W, 0, 0, 10, 10))
    r = run(gt, [matched, inside, half])
    assert (r["TP"], r["FP"], r["FN"], r["TR_ignored"], r["TR_dets"]) == (1, 1, 0, 1, 3)
    assert r["IDFP"] == 1  # the ignored detection is removed before Identity, the other one counts


def test_id_switch_counted_against_last_matched_id():
    def track(ids):
        gt = [(t, 1001, box(H, W, 0, 0, 10, 10)) for t in range(len(ids))]
        res = [(t, i, box(H, W, 0, 0, 10, 10)) for t, i in enumerate(ids) if i]
        return run(gt, res)
    assert track([1001, None, 1001])["IDS"] == 0  # a gap is no switch
    assert track([1001, None, 1002])["IDS"] == 1  # compared with the last matched id, not the last frame
    assert track([1001, 1002, 1001, 1001])["IDS"] == 2
    r = track([1001, 1002, None, 1002, 1003])
    assert (r["IDS"], r["Frag"]) == (2, 2)  # KITTI-devkit fragmentation count


def test_mt_pt_ml():
    gt = [(t, 1000 + k, box(H, W, 0, 8 * k, 5, 8 * k + 5)) for k in (1, 2, 3) for t in range(10)]
    res = [(t, 1001, box(H, W, 0, 8, 5, 13)) for t in range(9)]  # 90 %
    res += [(t, 1002, box(H, W, 0, 16, 5, 21)) for t in range(5)]  # 50 %
    res += [(0, 1003, box(H, W, 0, 24, 5, 29))]  # 10 %
    r = run(gt, res)
    assert (r["MT"], r["PT"], r["ML"]) == (1, 1, 1)


def test_dr_scores_reward_fewer_longer_hypotheses():
    gt = [(t, 1001, box(H, W, 0, 0, 4, 4)) for t in range(12)]
    one = run(gt, [(t, 1001, box(H, W, 0, 0, 4, 4)) for t in range(12)])
    two = run(gt, [(t, 1001 if t < 6 else 1002, box(H, W, 0, 0, 4, 4)) for t in range(12)])
    assert one["R_DR"] == pytest.approx(100) and two["R_DR"] == pytest.approx(75)  # 6/12 + 1/2 * 6/12
    assert two["P_DR"] == pytest.approx(100) and two["F_DR"] == pytest.approx(100 * 2 * 0.75 / 1.75)


def test_missing_class_gives_defined_numbers():
    r = run([(0, 1001, box(H, W, 0, 0, 4, 4))], [(0, 1001, box(H, W, 0, 0, 4, 4))])
    ped = evaluate_sequences({"0000": (make_seq([(0, 1001, box(H, W, 0, 0, 4, 4))]),
                                       make_seq([(0, 1001, box(H, W, 0, 0, 4, 4))]), 0, 0)})["pedestrian"]
    assert r["TP"] == 1
    # no pedestrians at all: TrackEval's conventions (denominators at least 1) keep the numbers defined
    assert ped["combined"]["GT_dets"] == 0 and ped["combined"]["sMOTSA"] == 0.0 and ped["combined"]["MOTSP"] == 0.0
    assert ped["combined"]["HOTA"] == 0.0


def write(tmp_path, name, objs):
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    formats.write_txt(make_seq(objs), d / "0000.txt")
    return d


def test_cli_eval_json_and_table(tmp_path, capsys):
    objs = [(t, 1001, box(H, W, 2, t, 8, t + 6)) for t in range(5)] + [(2, 2001, box(H, W, 10, 0, 18, 5))]
    gt, res = write(tmp_path, "gt", objs), write(tmp_path, "res", objs[:-1])
    formats.write_seqmap({"0000": (0, 4)}, tmp_path / "val.seqmap")
    out = tmp_path / "o.json"
    assert main(["eval", "--gt", str(gt), "--results", str(res), "--seqmap", str(tmp_path / "val.seqmap"),
                 "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "sMOTSA" in table and "pedestrian" in table
    data = json.loads(out.read_text())
    assert set(data) == {"car", "pedestrian"}
    car = data["car"]["combined"]
    for key in ("sMOTSA", "MOTSA", "MOTSP", "MOTSAL", "TP", "FP", "FN", "IDS", "Frag", "MT", "PT", "ML", "Recall",
                "Precision", "IDF1", "IDP", "IDR", "HOTA", "DetA", "AssA", "LocA", "R_DR", "P_DR", "F_DR", "R_DR_w"):
        assert key in car, key
    assert car["sMOTSA"] == 100.0 and isinstance(car["TP"], int) and car["TP"] == 5
    assert data["pedestrian"]["per_sequence"]["0000"]["FN"] == 1


def test_cli_overlapping_results_error_and_make_disjoint(tmp_path, capsys, caplog):
    gt = write(tmp_path, "gt", [(0, 1001, box(H, W, 0, 0, 10, 10))])
    res = write(tmp_path, "res", [(0, 1001, box(H, W, 0, 0, 10, 10)), (0, 1002, box(H, W, 5, 5, 15, 15))])
    formats.write_seqmap({"0000": (0, 0)}, tmp_path / "val.seqmap")
    args = ["eval", "--gt", str(gt), "--results", str(res), "--seqmap", str(tmp_path / "val.seqmap")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "sequence 0000 has overlapping masks: frame 0: ids 1001 and 1002" in err and "0000.txt" in err
    assert main(args + ["--make-disjoint", "--json", str(tmp_path / "o.json")]) == 0
    assert "made disjoint" in caplog.text
    car = json.loads((tmp_path / "o.json").read_text())["car"]["combined"]
    assert (car["TP"], car["FP"]) == (1, 1)


def test_cli_reports_bad_input_without_traceback(tmp_path, capsys):
    gt = write(tmp_path, "gt", [(0, 1001, box(H, W, 0, 0, 10, 10))])
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "0000.txt").write_text("0 1001 1 20 40\n")
    formats.write_seqmap({"0000": (0, 0)}, tmp_path / "val.seqmap")
    assert main(["eval", "--gt", str(gt), "--results", str(tmp_path / "res"), "--seqmap",
                 str(tmp_path / "val.seqmap")]) == 2
    err = capsys.readouterr().err
    assert "0000.txt:1: expected 6 space-separated fields" in err and "Traceback" not in err
