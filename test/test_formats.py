"""KITTI MOTS txt/png/seqmap reading, writing and validation."""
import numpy as np
import pytest

from helpers import box, make_seq
from mots_ros.data import formats, rle
from mots_ros.data.convert import convert
from mots_ros.data.formats import FormatError

H, W = 20, 30


def sample_seq():
    return make_seq([
        (0, 1001, box(H, W, 0, 0, 5, 5)),
        (0, 2001, box(H, W, 10, 10, 18, 14)),
        (0, 10000, box(H, W, 0, 20, 20, 30)),
        (2, 1001, box(H, W, 1, 1, 6, 6)),
    ])


def test_txt_roundtrip(tmp_path):
    seq = sample_seq()
    formats.write_txt(seq, tmp_path / "0000.txt")
    back = formats.read_txt(tmp_path / "0000.txt")
    assert back.frames.tolist() == [0, 0, 0, 2]
    assert back.ids.tolist() == [1001, 2001, 10000, 1001]
    assert back.classes.tolist() == [1, 2, 10, 1]
    assert back.size == (H, W)
    assert (rle.decode(back.rles) == rle.decode(seq.rles)).all()
    first = (tmp_path / "0000.txt").read_text().splitlines()[0].split(" ")
    assert first[:5] == ["0", "1001", "1", str(H), str(W)]


def test_png_roundtrip_and_convert(tmp_path):
    seq = sample_seq()
    formats.write_txt(seq, tmp_path / "0000.txt")
    formats.write_seqmap({"0000": (0, 3)}, tmp_path / "s.seqmap")
    convert(str(tmp_path), str(tmp_path / "png"), "png", seqmap=str(tmp_path / "s.seqmap"))
    files = sorted(p.name for p in (tmp_path / "png" / "0000").iterdir())
    assert files == ["000000.png", "000001.png", "000002.png", "000003.png"]  # empty frames written too
    labels = formats.read_png(tmp_path / "png" / "0000" / "000000.png")
    assert labels.dtype == np.uint16 and labels[12, 12] == 2001 and labels[5, 25] == 10000 and labels[8, 8] == 0
    convert(str(tmp_path / "png"), str(tmp_path / "txt"), "txt")
    back = formats.read_txt(tmp_path / "txt" / "0000.txt")
    order = np.lexsort((back.ids, back.frames))
    ref = np.lexsort((seq.ids, seq.frames))
    assert back.ids[order].tolist() == seq.ids[ref].tolist()
    assert (rle.decode([back.rles[i] for i in order]) == rle.decode([seq.rles[i] for i in ref])).all()


def test_seqmap_roundtrip(tmp_path):
    formats.write_seqmap({"0002": (0, 232), "0005": (1, 837)}, tmp_path / "a.seqmap")
    assert (tmp_path / "a.seqmap").read_text().splitlines()[0] == "0002 empty 000000 000232"
    assert formats.read_seqmap(tmp_path / "a.seqmap") == {"0002": (0, 232), "0005": (1, 837)}


@pytest.mark.parametrize("line, message", [
    ("0 1001 1 20 30", "expected 6 space-separated fields"),
    ("0 1001 x 20 30 abc", "must be integers"),
    ("0 3001 3 20 30 abc", "unknown class_id 3"),
    ("0 2001 1 20 30 abc", "does not encode class 1"),
])
def test_malformed_line_names_file_and_line(tmp_path, line, message):
    good = (tmp_path / "ok.txt")
    formats.write_txt(sample_seq(), good)
    bad = tmp_path / "0007.txt"
    bad.write_text(good.read_text() + line + "\n")
    with pytest.raises(FormatError, match=message) as e:
        formats.read_txt(bad)
    assert f"{bad}:5:" in str(e.value)


def test_duplicate_id_and_size_mismatch(tmp_path):
    formats.write_txt(sample_seq(), tmp_path / "a.txt")
    text = (tmp_path / "a.txt").read_text()
    lines = text.splitlines()
    (tmp_path / "dup.txt").write_text("\n".join(lines + [lines[0]]) + "\n")
    with pytest.raises(FormatError, match=r"dup.txt:5: id 1001 appears twice in frame 0 \(first at .*dup.txt:1\)"):
        formats.read_txt(tmp_path / "dup.txt")
    other = make_seq([(1, 1001, box(10, 10, 0, 0, 2, 2))])
    formats.write_txt(other, tmp_path / "o.txt")
    (tmp_path / "size.txt").write_text(text + (tmp_path / "o.txt").read_text())
    with pytest.raises(FormatError, match=r"size.txt:5: mask size \(10, 10\) differs from \(20, 30\)"):
        formats.read_txt(tmp_path / "size.txt")


def test_frames_far_apart_are_not_duplicates(tmp_path):
    """The duplicate check once keyed frame * 2^20 + id: frame 2^50 overflowed int64 onto frame 0."""
    seq = make_seq([(0, 1001, box(H, W, 0, 0, 2, 2)), (1 << 50, 1001, box(H, W, 0, 0, 2, 2))])
    formats.write_txt(seq, tmp_path / "far.txt")
    assert formats.read_txt(tmp_path / "far.txt").frames.tolist() == [0, 1 << 50]


def test_seqmap_with_bom(tmp_path):
    (tmp_path / "bom.seqmap").write_bytes(b"\xef\xbb\xbf0002 empty 000000 000232\n")
    assert formats.read_seqmap(tmp_path / "bom.seqmap") == {"0002": (0, 232)}


def test_missing_file_and_bad_seqmap(tmp_path):
    with pytest.raises(FormatError, match="cannot read"):
        formats.read_txt(tmp_path / "nope.txt")
    (tmp_path / "bad.seqmap").write_text("0002 empty 000000\n")
    with pytest.raises(FormatError, match=r"bad.seqmap:1: expected 'sequence empty first_frame last_frame'"):
        formats.read_seqmap(tmp_path / "bad.seqmap")
    with pytest.raises(FormatError, match="neither 0009.txt nor a png folder"):
        formats.load_sequence(tmp_path, "0009")


def test_bad_png_values(tmp_path):
    (tmp_path / "0001").mkdir()
    labels = np.zeros((H, W), np.uint16)
    labels[2:4, 2:4] = 3005
    formats.write_png(labels, tmp_path / "0001" / "000004.png")
    with pytest.raises(FormatError, match=r"000004.png: values \[3005\]"):
        formats.read_png_dir(tmp_path / "0001")


def test_overlaps_and_make_disjoint():
    seq = make_seq([
        (3, 1001, box(H, W, 0, 0, 10, 10)),
        (3, 1002, box(H, W, 5, 5, 15, 15)),
        (4, 1001, box(H, W, 0, 0, 10, 10)),
    ])
    assert formats.overlaps(seq) == [(3, 1001, 1002)]
    with pytest.raises(FormatError, match="frame 3: ids 1001 and 1002"):
        formats.check_disjoint(seq)
    fixed = formats.make_disjoint(seq, {3})
    assert formats.overlaps(fixed) == []
    masks = rle.decode(fixed.rles).astype(bool)
    assert masks[:, :, 0].sum() == 100  # the earlier mask keeps its pixels
    assert masks[:, :, 1].sum() == 100 - 25  # the later one loses the contested 5x5 block
    assert not masks[7, 7, 1] and masks[12, 12, 1]


def test_frames_outside_seqmap():
    with pytest.raises(FormatError, match=r"frame 2 outside 0..1 given for sequence 0000 in x.seqmap"):
        formats.check_frames(sample_seq(), 0, 1, "x.seqmap")


def test_real_kitti_loads_with_documented_counts(kitti):
    gt_dir, seqmap = kitti
    cars = peds = 0
    car_tracks, ped_tracks = set(), set()
    for seq in formats.read_seqmap(seqmap):
        s = formats.read_txt(gt_dir / f"{seq}.txt")
        cars += int((s.classes == 1).sum())
        peds += int((s.classes == 2).sum())
        car_tracks |= {(seq, i) for i in s.ids[s.classes == 1]}
        ped_tracks |= {(seq, i) for i in s.ids[s.classes == 2]}
    assert (cars, len(car_tracks), peds, len(ped_tracks)) == (8029, 151, 3347, 68)
