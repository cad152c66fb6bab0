"""The worked examples of the thesis, chapter 5 (Tables 5.1 to 5.4), reproduced exactly with the evaluator.

Only the numbers of the tables survive, not their drawings, so each example is rebuilt as a tiny sequence: every
row of a description is one pixel of a 1 x N image, every character one frame. A ground-truth row ("black",
"gray") holds '.' where the track is absent, '-' where it is present but missed, and a letter where the
hypothesis of that letter predicts exactly that pixel (IoU 1). A row named "fp..." holds no ground truth: a
letter there is a false positive of that hypothesis. All tracks are cars; scores are compared as exact fractions.
"""
from fractions import Fraction

import numpy as np
import pytest

from mots_ros.data import rle
from mots_ros.data.formats import Sequence
from mots_ros.eval.evaluate import evaluate_sequences


def build(tracks: dict[str, str], gt_rows=None, hyps=None) -> tuple[Sequence, Sequence, int]:
    """(ground truth, results, number of frames); ``gt_rows`` / ``hyps`` keep only those GT rows / hypotheses."""
    n_frames = len(next(iter(tracks.values())))
    letters = sorted({c for row in tracks.values() for c in row if c.isalpha()})
    gt_names = [name for name in tracks if not name.startswith("fp")]
    gt, res = [], []  # (frame, id, pixel)
    for pixel, (name, row) in enumerate(tracks.items()):
        assert len(row) == n_frames, name
        for frame, c in enumerate(row):
            if c != "." and name in gt_names and (gt_rows is None or name in gt_rows):
                gt.append((frame, 1001 + gt_names.index(name), pixel))
            if c.isalpha() and (hyps is None or c in hyps):
                res.append((frame, 1001 + letters.index(c), pixel))

    def sequence(objects):
        masks = [np.arange(len(tracks))[None, :] == pixel for _, _, pixel in objects]
        frames, ids = (np.array([o[k] for o in objects], np.int64) for k in (0, 1))
        return Sequence("seq", frames, ids, np.ones(len(objects), np.int64), [rle.encode(m)[0] for m in masks])

    return sequence(gt), sequence(res), n_frames


def scores(tracks: dict[str, str], gt_rows=None, hyps=None) -> dict:
    gt, res, n_frames = build(tracks, gt_rows, hyps)
    return evaluate_sequences({"seq": (gt, res, 0, n_frames - 1)})["car"]["combined"]


def check(got: dict, **expected: str) -> None:
    """``expected``: evaluator key -> fraction as text ("17/18"); scores are in percent."""
    for key, value in expected.items():
        assert got[key] == pytest.approx(100 * Fraction(value), abs=1e-9), (key, value, got[key])


def check_mota_id(got: dict, mota: str, idr: str, idp: str, idf1: str) -> None:
    check(got, MOTSA=mota, IDR=idr, IDP=idp, IDF1=idf1)


# ------------------------------------------------------------------------------------------------ Table 5.1
# (1) a 1000-frame track switching ids at frame 500, (2) the same track missed in one frame,
# (3) a five-frame track tracked in four frames, (4) the same, tracked with another id in the fifth.
@pytest.mark.parametrize("row, mota, idr, idp, idf1", [
    ("A" * 500 + "B" * 500, "999/1000", "500/1000", "500/1000", "500/1000"),
    ("A" * 499 + "-" + "A" * 500, "999/1000", "999/1000", "1", "1998/1999"),
    ("AAAA-", "4/5", "4/5", "1", "8/9"),
    ("AAAAB", "4/5", "4/5", "4/5", "4/5"),
])
def test_table_5_1(row, mota, idr, idp, idf1):
    check_mota_id(scores({"black": row}), mota, idr, idp, idf1)


# ------------------------------------------------------------------------------------------------ Table 5.2
# One ground-truth track of one pixel for twelve frames and no false positives, so P = 1 in every line.
@pytest.mark.parametrize("row, mota, idr, idp, idf1, r", [
    ("AAAAAAAAAAAA", "1", "1", "1", "1", "1"),
    ("AAAAAA------", "1/2", "1/2", "1", "2/3", "1/2"),
    ("AAAAAABBBBBB", "11/12", "1/2", "1/2", "1/2", "3/4"),  # R = 6/12 + 1/2 * 6/12
    ("AAAAAABBBCCC", "5/6", "1/2", "1/2", "1/2", "17/24"),  # R = 6/12 + 1/2 * 3/12 + 1/3 * 3/12
    ("AAABBBAAAAAA", "5/6", "3/4", "3/4", "3/4", "21/24"),  # re-identified: R = 9/12 + 1/2 * 3/12
])
def test_table_5_2(row, mota, idr, idp, idf1, r):
    got = scores({"black": row})
    check_mota_id(got, mota, idr, idp, idf1)
    check(got, R_DR=r, P_DR="1")


# ------------------------------------------------------------------------------------------------ Table 5.3
# Two ground-truth tracks (black, gray) and two hypotheses (g = green, b = blue) over twelve frames. These
# configurations come from an exhaustive search (every track one pixel per frame, at most twelve frames; all
# track sizes and overlap counts, then frame orders for the ID switches). In lines 1, 2 and 6 the solution is
# unique up to renaming and frame order; in lines 3 and 5 once the printed denominators are taken literally
# (12 and 9 GT pixels). Line 4 allows any split of its 12 GT pixels into black and gray: 6 + 6 mirrors line 3.
# The per-track columns are read as R_black, R_gray, P_blue, P_green (the text: green has perfect precision in
# lines 1 to 3). A per-track score is the mean score of the example reduced to that GT track (R_m depends only
# on m and the hypotheses) or to that hypothesis (P_h depends only on h and the ground truth).
TABLE_5_3 = {
    1: ({"black": "ggggggbbbbbb",
         "gray": "bbbbbb......"},
        ("17/18", "12/18", "12/18", "12/18"), ("3/4", "1", "3/4", "1"), "7/8"),
    2: ({"black": "---gggbbbbbb",
         "gray": "---bbb......"},
        ("11/18", "6/18", "6/12", "2/5"), ("15/24", "1/2", "15/18", "1"), "99/142"),
    # The thesis prints F_DR = 3/5, which needs P = 3/4 (P_blue = 1/2), but no configuration reaches F_DR = 3/5 (nor
    # P_blue = 1/2) together with the printed MOTA, ID and R columns, while all other printed columns (P_blue = 1/3
    # included) match this one, whose F_DR is 2 * 1/2 * 2/3 / (1/2 + 2/3) = 4/7. The printed 3/5 is a slip.
    3: ({"black": "bbb---......",
         "gray": "ggg---......",
         "fp": "......bbbbbb"},
        ("0", "6/12", "6/12", "6/12"), ("1/2", "1/2", "1/3", "1"), "4/7"),
    4: ({"black": "ggg---......",
         "gray": "bbb---......",
         "fp": "......gggbbb"},
        ("0", "6/12", "6/12", "6/12"), ("1/2", "1/2", "1/2", "1/2"), "1/2"),
    # The thesis prints IDP = 6/12 and IDF1 = 2/5 (the IDF1 of line 2), but no configuration has them together
    # with its MOTA = -1/9 and IDR = 3/9: IDP = IDR * 3/2 leaves 6 hypothesis pixels for 9 GT pixels (or 12 for
    # 18), too few true positives to allow the ID switches that 10 (or 20) errors would need. This configuration
    # matches every other printed column, literally: 9 GT pixels, IDTP 3, 6 true positives among 12 hypothesis
    # pixels. Its true IDP is 3/12 and IDF1 2*3/(9+12); the printed "IDP" 6/12 is the plain precision
    # TP/(TP+FP), and 2/5 the harmonic mean of 3/9 and 6/12.
    5: ({"black": "......---...",
         "gray": "gggbbb......",
         "fp": "......gggbbb"},
        ("-1/9", "3/9", "3/12", "6/21"), ("0", "3/4", "1/2", "1/2"), "3/7"),
    6: ({"black": "ggg---......",
         "gray": "bbbbbb......",
         "fp": "......gggb.."},
        ("5/12", "9/12", "9/13", "18/25"), ("1/2", "1", "6/7", "1/2"), "57/80"),
}


@pytest.mark.parametrize("line", sorted(TABLE_5_3))
def test_table_5_3(line):
    tracks, mota_id, (r_black, r_gray, p_blue, p_green), f_dr = TABLE_5_3[line]
    got = scores(tracks)
    check_mota_id(got, *mota_id)
    r_mean, p_mean = (Fraction(r_black) + Fraction(r_gray)) / 2, (Fraction(p_blue) + Fraction(p_green)) / 2
    check(got, R_DR=str(r_mean), P_DR=str(p_mean), F_DR=f_dr)
    check(scores(tracks, gt_rows=["black"]), R_DR=r_black)
    check(scores(tracks, gt_rows=["gray"]), R_DR=r_gray)
    check(scores(tracks, hyps="b"), P_DR=p_blue)
    check(scores(tracks, hyps="g"), P_DR=p_green)


def test_table_5_3_lines_3_and_4_differ_only_in_dr_scores():
    line3, line4 = scores(TABLE_5_3[3][0]), scores(TABLE_5_3[4][0])
    for key in ("MOTSA", "IDR", "IDP", "IDF1"):
        assert line3[key] == pytest.approx(line4[key], abs=1e-9)
    assert line3["F_DR"] > line4["F_DR"]


# ------------------------------------------------------------------------------------------------ Table 5.4
# A ground-truth track switching once (1) or in every frame (2) between the same two hypotheses: R cannot tell.
@pytest.mark.parametrize("row, mota", [("AAAAABBBBB", "9/10"), ("ABABABABAB", "1/10")])
def test_table_5_4(row, mota):
    got = scores({"black": row})
    check_mota_id(got, mota, "1/2", "1/2", "1/2")
    check(got, R_DR="3/4", P_DR="1")


# ------------------------------------------------------------------------------------ size-weighted R', P'
def test_size_weighted_dr():
    # black (8 frames): A then B -> R_black = (4 + 4/2) / 8 = 3/4; gray (4 frames): C in 2 -> R_gray = 2/4.
    # R = (3/4 + 1/2) / 2 = 5/8, but R' = (6 + 2) / (8 + 4) = 2/3 weighs the longer track more.
    # P_A = P_B = 1, P_C = 2/3 (one false positive): P = 8/9, P' = (4 + 4 + 2) / (4 + 4 + 3) = 10/11.
    got = scores({"black": "AAAABBBB",
                  "gray": "CC--....",
                  "fp": "..C....."})
    check(got, R_DR="5/8", R_DR_w="2/3", P_DR="8/9", P_DR_w="10/11",
          F_DR=str(2 * Fraction(5, 8) * Fraction(8, 9) / (Fraction(5, 8) + Fraction(8, 9))),
          F_DR_w=str(2 * Fraction(2, 3) * Fraction(10, 11) / (Fraction(2, 3) + Fraction(10, 11))))
