"""Bad input of every class the command line takes: exit status 2, a message naming the file and line, the argument
or the topic, no traceback, and nothing done before (no output). One row per input class: a new class is one line.

Each row runs ``mots ARGS`` in a small valid work folder (gt/ and res/ with one car, val.seqmap, img/ with one
frame, a plain file ``afile``) after writing the row's files over it."""
import shlex

import numpy as np
import pytest
from PIL import Image

from mots_ros.cli import main
from mots_ros.data import rle

MASK = np.zeros((4, 5), bool)
MASK[1:3, 1:3] = True
COUNTS = rle.encode(MASK)[0]["counts"].decode()
GT_LINE = f"0 1001 1 4 5 {COUNTS}\n"
EVAL = "eval --gt gt --results res --seqmap val.seqmap"
TRACK = "track --detections dets.txt --out tracks"
CONVERT = "convert gt out --to png"
DET = "0 1 1 3 3 0.9 1 4 5 {rle} 0.5\n"  # frame x0 y0 x1 y1 score class height width rle e_0
SYNTH = "synth data --sequences 1 --frames 1 --size 32x32"
VIZ = "viz --images img/0000 --tracks gt/0000.txt"
BAG = "bag from-sequence img cam.mcap"
BIG = "99999999999999999999"

# id: (command line, files written over the work folder, part of the message on stderr)
CASES = {
    # RLE strings (checked once where they are read, as pycocotools decodes them)
    "eval: garbage RLE": (EVAL, {"res/0000.txt": "0 1001 1 4 5 hello!\n"}, "res/0000.txt:1: RLE string 'hello!' is corrupt"),
    "eval: RLE runs short of h*w": (EVAL, {"res/0000.txt": "0 1001 1 4 5 24\n"}, "res/0000.txt:1: RLE string '24' is corrupt: it has runs of 6 pixels"),
    "eval: RLE count unterminated": (EVAL, {"res/0000.txt": "0 1001 1 4 5 0o\n"}, "res/0000.txt:1: RLE string '0o' is corrupt: it holds a count that is unterminated"),
    "eval: non-ASCII RLE": (EVAL, {"res/0000.txt": "0 1001 1 4 5 5ä\n"}, "res/0000.txt:1: RLE string '5ä' is corrupt"),
    "eval: garbage RLE in gt": (EVAL, {"gt/0000.txt": "0 1001 1 4 5 hello!\n"}, "gt/0000.txt:1: RLE string"),
    "track: garbage RLE": (TRACK, {"dets.txt": DET.format(rle="hello!")}, "dets.txt:1: RLE string 'hello!' is corrupt"),
    "track: RLE runs beyond h*w": (TRACK, {"dets.txt": DET.format(rle="0T1")}, "dets.txt:1: RLE string '0T1' is corrupt: it has runs of 36 pixels"),
    "convert: garbage RLE": (CONVERT, {"gt/0000.txt": "0 1001 1 4 5 hello!\n"}, "gt/0000.txt:1: RLE string 'hello!' is corrupt"),
    # numbers beyond int64, binary and hostile seqmaps
    "eval: frame beyond int64": (EVAL, {"res/0000.txt": f"{BIG} 1001 1 4 5 {COUNTS}\n"}, "res/0000.txt:1: frame, id, class_id, height and width must be integers of the int64 range"),
    "eval: id beyond int64": (EVAL, {"res/0000.txt": f"0 {BIG} 1 4 5 {COUNTS}\n"}, "res/0000.txt:1: frame, id"),
    "track: frame beyond int64": (TRACK, {"dets.txt": DET.format(rle=COUNTS).replace("0", BIG, 1)}, "dets.txt:1: frame must be an integer of the int64 range"),
    "eval: seqmap frame beyond int64": (EVAL, {"val.seqmap": f"0000 empty 000000 {BIG}\n"}, "val.seqmap:1: first and last frame must be integers of the int64 range"),
    "eval: binary seqmap": (EVAL, {"val.seqmap": b"0000 empty 0 0\n\x89PNG\x00\xff\xfe\n"}, "val.seqmap:2: not UTF-8 text"),
    "eval: seqmap name ../escape": (EVAL, {"val.seqmap": "../escape empty 000000 000000\n"}, "val.seqmap:1: sequence name '../escape' is not a plain file name"),
    "convert: seqmap name ..": (CONVERT + " --seqmap val.seqmap", {"val.seqmap": ".. empty 0 0\n"}, "val.seqmap:1: sequence name '..' is not a plain file name"),
    "run: seqmap name /abs": ("run --images img --seqmap val.seqmap --out res2", {"val.seqmap": "/tmp/x empty 0 0\n"}, "val.seqmap:1: sequence name '/tmp/x' is not a plain file name"),
}


@pytest.fixture
def work(tmp_path, monkeypatch):
    """The valid work folder, as the current directory."""
    for folder in ("gt", "res", "img/0000"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "gt" / "0000.txt").write_text(GT_LINE)
    (tmp_path / "res" / "0000.txt").write_text(GT_LINE)
    (tmp_path / "val.seqmap").write_text("0000 empty 000000 000000\n")
    Image.fromarray(np.full((4, 5, 3), 100, np.uint8)).save(tmp_path / "img" / "0000" / "000000.png")
    (tmp_path / "afile").write_text("a file, not a folder\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("args, files, message", CASES.values(), ids=CASES.keys())
def test_bad_input_exits_2_naming_it(work, capsys, args, files, message):
    for name, content in files.items():
        (work / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(shlex.split(args)) == 2
    out, err = capsys.readouterr()
    assert message in err and "Traceback" not in err
    assert out == ""  # refused before any work: no scores, no "wrote ..."
