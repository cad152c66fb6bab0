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
    # outputs that cannot be written, refused before any work
    "eval: --json in a missing folder": (EVAL + " --json missing/x.json", {}, "missing/x.json: cannot write the --json file: the folder"),
    "eval: --json unwritable": (EVAL + " --json /proc/x.json", {}, "/proc/x.json: cannot write the --json file"),
    "eval: --json a folder": (EVAL + " --json gt", {}, "gt: cannot write the --json file: a folder of that name exists"),
    "downsample-gt: --json in a missing folder": ("downsample-gt --gt gt --seqmap val.seqmap --stride 2 --json missing/x.json", {}, "missing/x.json: cannot write the --json file"),
    "synth: out a file": ("synth afile --sequences 1 --frames 1 --size 32x32", {}, "afile: cannot write the data set folder: a file of that name exists"),
    "synth: out unwritable": ("synth /proc/x --sequences 1 --frames 1 --size 32x32", {}, "/proc/x: cannot create the data set folder"),
    "synth: out not empty": ("synth gt --sequences 1 --frames 1 --size 32x32", {}, "gt: not empty"),
    "synth: size too big for memory": ("synth data --sequences 1 --frames 1 --size 100000x100000", {}, "size 100000x100000 needs about 931.3 GiB of memory"),
    "viz: out a file": (VIZ + " --out afile", {}, "afile: cannot write the frames folder: a file of that name exists"),
    "viz: video unwritable": (VIZ + " --out /proc/x.mp4", {}, "/proc/x.mp4: cannot write the video"),
    "viz: video in a file": (VIZ + " --out afile/x.mp4", {}, "afile/x.mp4: cannot create the folder of the video"),
    "viz: --fps -5": (VIZ + " --out v.mp4 --fps -5", {}, "--fps must be a positive number, got -5.0"),
    "viz: --fps nan": (VIZ + " --out v.mp4 --fps nan", {}, "--fps must be a positive number, got nan"),
    "convert: dst a file": ("convert gt afile --to txt", {}, "afile: cannot write the output folder: a file of that name exists"),
    "perturb: out a file": ("perturb --gt gt --seqmap val.seqmap --out afile", {}, "afile: cannot write the results folder"),
    "track: out a file": ("track --detections dets.txt --out afile", {"dets.txt": DET.format(rle=COUNTS)}, "afile: cannot write the results folder"),
    "run: out a file": ("run --images img --seqmap val.seqmap --out afile", {}, "afile: cannot write the results folder"),
    "run: --save-detections a file": ("run --images img --seqmap val.seqmap --out res2 --save-detections afile", {}, "afile: cannot write the detections folder"),
    "infer: out in a file": ("infer --checkpoint ckpt.pt --images img/0000 --out afile/d.txt", {}, "afile/d.txt: cannot create the folder of the detections file"),
    "infer: --checkpoint a folder": ("infer --checkpoint gt --images img/0000 --out d.txt", {}, "gt: is a folder, not a checkpoint file"),
    "demo: out a file": ("demo --out afile", {}, "afile: cannot write the output folder: a file of that name exists"),
    "bag from-sequence: in a file": ("bag from-sequence img/0000 afile/cam.mcap", {}, "afile/cam.mcap: cannot create the folder of the bag"),
    "bag from-sequence: unwritable": ("bag from-sequence img/0000 /proc/cam.mcap", {}, "/proc/cam.mcap: cannot write the bag"),
    # rates and topic names
    "bag from-sequence: --rate nan": ("bag from-sequence img/0000 cam.mcap --rate nan", {}, "--rate must lie in (0, 1e9] frames per second, got nan"),
    "bag from-sequence: --rate inf": ("bag from-sequence img/0000 cam.mcap --rate inf", {}, "--rate must lie in (0, 1e9] frames per second, got inf"),
    "bag from-sequence: --rate 0": ("bag from-sequence img/0000 cam.mcap --rate 0", {}, "--rate must lie in (0, 1e9]"),
    "bag from-sequence: topic with a space": ("bag from-sequence img/0000 cam.mcap --topic 'bad topic'", {}, "--topic 'bad topic' is not a valid ROS 2 topic name"),
    "bag from-sequence: topic ending in /": ("bag from-sequence img/0000 cam.mcap --topic /camera/", {}, "--topic '/camera/' is not a valid ROS 2 topic name"),
    "bag record: topic with a digit first": ("bag record tracks.mcap --topics /tracks /9cam", {}, "--topics '/9cam' is not a valid ROS 2 topic name"),
    "bag to-txt: --sequence ../x": ("bag to-txt t.mcap --images-bag cam.mcap --out res2 --sequence ../x", {}, "--sequence '../x' is not a plain file name"),
    "bag to-txt: out a file": ("bag to-txt t.mcap --images-bag cam.mcap --out afile", {}, "afile: cannot write the output folder"),
    "bag record: out in a file": ("bag record afile/t.mcap --duration 1", {}, "afile/t.mcap: cannot create the folder of the bag"),
    "bag evaluate: --json in a missing folder": ("bag evaluate cam.mcap --gt gt --seqmap val.seqmap --json missing/x.json", {}, "missing/x.json: cannot write the --json file"),
    "bag evaluate: --out a file": ("bag evaluate cam.mcap --gt gt --seqmap val.seqmap --out afile", {}, "afile: cannot write the output folder"),
    "launch: --camera-topic with //": ("launch tracker --camera-topic //camera", {}, "--camera-topic '//camera' is not a valid ROS 2 topic name"),
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


def png16(path, values: np.ndarray) -> None:
    """Write a uint16 (H, W) or (H, W, C) array as a 16-bit PNG (colour type 0, 4, 2 or 6 for C = 1 to 4)."""
    import struct
    import zlib

    values = values[:, :, None] if values.ndim == 2 else values
    h, w, c = values.shape

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    rows = b"".join(b"\0" + values[y].astype(">u2").tobytes() for y in range(h))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16_bit_frames_keep_their_grey_levels(tmp_path, channels):
    """Pillow's convert('RGB') clipped 16-bit grey to 255 (all white): every channel layout gives the high byte."""
    from mots_ros.data.images import read_image

    values = np.random.default_rng(channels).integers(0, 1 << 16, (6, 7, channels)).astype(np.uint16)
    png16(tmp_path / "000000.png", values)
    expected = np.repeat(values[:, :, :1], 3, axis=2) if channels < 3 else values[:, :, :3]
    assert np.array_equal(read_image(str(tmp_path / "000000.png")), (expected >> 8).astype(np.uint8))


def test_bag_from_16_bit_frames(tmp_path):
    from mots_ros.ros import bag

    grey = (np.arange(35, dtype=np.uint16).reshape(5, 7) * 1800)
    (tmp_path / "img").mkdir()
    png16(tmp_path / "img" / "000000.png", grey)
    assert main(["bag", "from-sequence", str(tmp_path / "img"), str(tmp_path / "cam.mcap")]) == 0
    _, _, first, _, raw = bag.read_images(str(tmp_path / "cam.mcap"))
    (_, msg), = bag.image_messages(str(tmp_path / "cam.mcap"), raw, first)
    assert np.array_equal(np.asarray(msg.data).reshape(5, 7, 3)[:, :, 0], (grey >> 8).astype(np.uint8))


def test_table_columns_stay_apart_at_minus_1000():
    from mots_ros.eval.report import format_table

    row = {"sMOTSA": -12345.6, "TP": 3, "FP": 123456789}
    table = format_table({"car": {"combined": row, "per_sequence": {"0000": row}}}, fields=("sMOTSA", "TP", "FP"))
    assert [line.split() for line in table.splitlines()[1:]] == [["all", "-12345.6", "3", "123456789"],
                                                                 ["0000", "-12345.6", "3", "123456789"]]
