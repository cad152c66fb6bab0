"""KITTI MOTS / MOTSChallenge annotation formats (thesis ch. 2.5; Voigtlaender et al. 2019).

* txt: one object per line ``frame id class_id height width rle`` (COCO compressed RLE, column-major).
* png: one 16-bit instance map per frame, value ``class_id * 1000 + instance``, 10000 = ignore region.
* seqmap (mots_tools): ``0002 empty 000000 000232`` = sequence, unused, first frame, last frame.

Ids are ``class_id * 1000 + instance``; class 1 = car, 2 = pedestrian, 10 = ignore region (id 10000).
Validation follows the official mots_tools loader: unique id per frame, classes 1/2/10, no overlapping
masks, one image size per sequence, frames inside the seqmap, RLE strings that pycocotools decodes to exactly
height*width pixels, integers of the int64 range, sequence names that are plain file names. Every error names
the file and line (or png).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mots_ros import MotsError
from mots_ros.data import rle as rle_ops

CAR, PEDESTRIAN, IGNORE = 1, 2, 10
CLASS_NAMES = {CAR: "car", PEDESTRIAN: "pedestrian", IGNORE: "ignore"}
IGNORE_ID = 10000
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


class FormatError(MotsError):
    """Malformed annotation input; the message names the file and line."""


@dataclass
class Sequence:
    """All objects of one sequence, columnar, in file order."""

    name: str
    frames: np.ndarray  # (N,) int64
    ids: np.ndarray  # (N,) int64, class*1000+instance
    classes: np.ndarray  # (N,) int64
    rles: list  # N dicts {'size': [h, w], 'counts': bytes}
    source: str = ""
    lines: np.ndarray = field(default=None)  # (N,) line number (txt) or frame (png) for messages
    _areas: np.ndarray = field(default=None, repr=False)

    def __post_init__(self):
        if self.lines is None:
            self.lines = np.arange(1, len(self.frames) + 1)

    @property
    def areas(self) -> np.ndarray:
        """Pixel count of each mask (computed once)."""
        if self._areas is None:
            self._areas = rle_ops.areas(self.rles)
        return self._areas

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int] | None:
        """(height, width) of the sequence, None when it has no objects."""
        return tuple(int(x) for x in self.rles[0]["size"]) if self.rles else None

    def by_frame(self) -> dict[int, np.ndarray]:
        """Object indices per frame (ascending frames, file order inside a frame)."""
        if len(self.frames) == 0:
            return {}
        order = np.argsort(self.frames, kind="stable")
        frames = self.frames[order]
        cuts = np.flatnonzero(np.diff(frames)) + 1
        return {int(frames[g[0]]): order[g[0]:g[-1] + 1] for g in np.split(np.arange(len(order)), cuts)}

    def subset(self, keep: np.ndarray) -> "Sequence":
        """The objects where the boolean or index array ``keep`` selects."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)
        return Sequence(self.name, self.frames[idx], self.ids[idx], self.classes[idx],
                        [self.rles[i] for i in idx], self.source, self.lines[idx],
                        None if self._areas is None else self._areas[idx])

    @staticmethod
    def empty(name: str, source: str = "") -> "Sequence":
        z = np.zeros(0, np.int64)
        return Sequence(name, z, z.copy(), z.copy(), [], source, z.copy())


def _where(seq: Sequence, i: int) -> str:
    if seq.source.endswith(".txt"):
        return f"{seq.source}:{int(seq.lines[i])}"
    return os.path.join(seq.source, f"{int(seq.frames[i]):06d}.png")


# ---------------------------------------------------------------------------------------------- txt

def read_lines(path: str) -> tuple[bytes, list[bytes], list[int]]:
    """(file content, its lines, the 1-based numbers of the non-empty ones) of a text file."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise FormatError(f"{path}: cannot read ({e.strerror})") from None
    lines = data.split(b"\n")
    return data, lines, [k for k, line in enumerate(lines, 1) if line.strip()]


def parse_int64(text: bytes | str) -> int:
    """An integer of the int64 range (``ValueError`` otherwise, as for any other malformed number)."""
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{value} is beyond the 64-bit integer range")
    return value


def _bad_integer_line(path: str, lines: list[bytes], linenos: list[int]) -> FormatError:
    """The error for the first line whose integer fields do not parse as int64."""
    for k in linenos:
        fields = lines[k - 1].split()[:5]
        try:
            [parse_int64(x) for x in fields]
        except ValueError:
            return FormatError(f"{path}:{k}: frame, id, class_id, height and width must be integers of the int64 "
                               f"range, got {b' '.join(fields).decode(errors='replace')!r}")
    return FormatError(f"{path}: cannot parse the integers")


def read_txt(path: str | os.PathLike, name: str | None = None) -> Sequence:
    """Read a KITTI MOTS / MOTSChallenge txt file and validate it (vectorised; errors name file and line)."""
    path = str(path)
    name = name or Path(path).stem
    data, lines, linenos = read_lines(path)
    for k in linenos:  # exactly six single-space separated fields, as the official loader splits them
        if lines[k - 1].strip().count(b" ") != 5:
            n = len(lines[k - 1].strip().split(b" "))
            raise FormatError(f"{path}:{k}: expected 6 space-separated fields "
                              f"'frame id class_id height width rle', got {n}")
    tokens = data.split()
    try:
        ints = np.array([tokens[k::6] for k in range(5)], dtype=bytes).astype(np.int64).T.reshape(-1, 5)
    except (ValueError, OverflowError):
        raise _bad_integer_line(path, lines, linenos) from None
    t, i, c, h, w = ints.T
    lines_arr = np.array(linenos, np.int64)
    checks = (
        (~np.isin(c, list(CLASS_NAMES)), lambda k: f"unknown class_id {c[k]} (expected 1 car, 2 pedestrian, 10 ignore)"),
        ((t < 0) | (h <= 0) | (w <= 0), lambda k: "frame must be >= 0 and height, width > 0"),
        ((c != IGNORE) & (i // 1000 != c), lambda k: f"id {i[k]} does not encode class {c[k]} "
                                                      f"(expected class*1000+instance)"),
    )
    for bad, message in checks:
        if bad.any():
            k = int(np.argmax(bad))
            raise FormatError(f"{path}:{lines_arr[k]}: {message(k)}")
    if len(h) and (h == h[0]).all() and (w == w[0]).all():
        size = [int(h[0]), int(w[0])]  # one list shared by all objects (pycocotools only reads it)
        rles = [{"size": size, "counts": tok} for tok in tokens[5::6]]
    else:
        rles = [{"size": [int(a), int(b)], "counts": tok} for a, b, tok in zip(h, w, tokens[5::6])]
    seq = Sequence(name, t.copy(), i.copy(), c.copy(), rles, path, lines_arr)
    validate(seq)
    return seq


def write_txt(seq: Sequence, path: str | os.PathLike) -> None:
    """Write a sequence as txt, objects sorted by frame (stable)."""
    order = np.argsort(seq.frames, kind="stable")
    with open(path, "w") as fh:
        for i in order:
            r = seq.rles[i]
            counts = r["counts"].decode("ascii") if isinstance(r["counts"], bytes) else r["counts"]
            fh.write(f"{seq.frames[i]} {seq.ids[i]} {seq.classes[i]} {r['size'][0]} {r['size'][1]} {counts}\n")


# ---------------------------------------------------------------------------------------------- png

def read_png(path: str | os.PathLike) -> np.ndarray:
    """Read a 16-bit instance png as a uint16 (H, W) array."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.array(im)
    except (OSError, ValueError) as e:
        raise FormatError(f"{path}: cannot read png ({e})") from None
    if arr.ndim != 2:
        raise FormatError(f"{path}: expected a single-channel 16-bit instance map, got shape {arr.shape}")
    return arr.astype(np.uint16, copy=False)


def write_png(labels: np.ndarray, path: str | os.PathLike) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(labels, np.uint16)).save(path)


def read_png_dir(path: str | os.PathLike, name: str | None = None) -> Sequence:
    """Read a folder of ``FRAME.png`` instance maps (``class*1000+instance``, 10000 ignore)."""
    path = str(path)
    name = name or Path(path).name
    files = sorted(p for p in os.listdir(path) if p.endswith(".png"))
    frames, ids, rles = [], [], []
    for fname in files:
        try:
            frame = int(Path(fname).stem)
        except ValueError:
            raise FormatError(f"{os.path.join(path, fname)}: file name must be the frame number") from None
        values, masks = rle_ops.from_label_map(read_png(os.path.join(path, fname)))
        bad = [int(v) for v in values if v // 1000 not in (CAR, PEDESTRIAN) and v != IGNORE_ID]
        if bad:
            raise FormatError(f"{os.path.join(path, fname)}: values {bad} are not class*1000+instance "
                              f"for class 1/2 nor the ignore value 10000")
        frames += [frame] * len(values)
        ids += values.tolist()
        rles += masks
    ids = np.array(ids, np.int64)
    frames = np.array(frames, np.int64)
    seq = Sequence(name, frames, ids, np.where(ids == IGNORE_ID, IGNORE, ids // 1000), rles, path, frames.copy())
    validate(seq)
    return seq


def write_png_dir(seq: Sequence, path: str | os.PathLike, size: tuple[int, int] | None = None,
                  frames: range | None = None) -> None:
    """Write one instance png per frame (also for frames without objects when ``frames`` is given)."""
    os.makedirs(path, exist_ok=True)
    size = size or seq.size
    if size is None:
        raise FormatError(f"sequence {seq.name}: no objects and no image size given for png output")
    groups = seq.by_frame()
    for frame in (frames if frames is not None else groups):
        idx = groups.get(frame, np.zeros(0, np.int64))
        labels = rle_ops.label_map([seq.rles[i] for i in idx], seq.ids[idx], *size)
        write_png(labels, os.path.join(path, f"{frame:06d}.png"))


# ------------------------------------------------------------------------------------------ seqmap

def read_seqmap(path: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """Read a mots_tools seqmap: ``{sequence: (first_frame, last_frame)}`` in file order (UTF-8, a BOM is
    skipped). Sequence names become file names, so only plain file names are accepted."""
    _, lines, linenos = read_lines(str(path))
    if lines[0].startswith(b"\xef\xbb\xbf"):
        lines[0] = lines[0][3:]
    out = {}
    for lineno in linenos:
        try:
            fields = lines[lineno - 1].decode("utf-8").split()
        except UnicodeDecodeError:
            raise FormatError(f"{path}:{lineno}: not UTF-8 text (is this a seqmap?)") from None
        if not fields:
            continue
        if len(fields) != 4:
            raise FormatError(f"{path}:{lineno}: expected 'sequence empty first_frame last_frame', got "
                              f"{' '.join(fields)!r}")
        try:
            first, last = parse_int64(fields[2]), parse_int64(fields[3])
        except ValueError:
            raise FormatError(f"{path}:{lineno}: first and last frame must be integers of the int64 range") from None
        if last < first or first < 0:
            raise FormatError(f"{path}:{lineno}: last frame {last} before first frame {first}")
        name = check_sequence_name(fields[0], f"{path}:{lineno}: sequence name")
        if name in out:
            raise FormatError(f"{path}:{lineno}: sequence {name} listed twice")
        out[name] = (first, last)
    if not out:
        raise FormatError(f"{path}: seqmap lists no sequences")
    return out


def check_sequence_name(name: str, what: str = "sequence name") -> str:
    """``name`` when it is a plain file name (sequence names become file names); else a FormatError."""
    if name in ("", ".", "..") or os.path.basename(name) != name or (os.altsep and os.altsep in name):
        raise FormatError(f"{what} {name!r} is not a plain file name")
    return name


def write_seqmap(seqmap: dict[str, tuple[int, int]], path: str | os.PathLike) -> None:
    with open(path, "w") as fh:
        for name, (first, last) in seqmap.items():
            fh.write(f"{name} empty {first:06d} {last:06d}\n")


# ------------------------------------------------------------------------------------ validation

def validate(seq: Sequence) -> None:
    """Per-object checks of the official loader: unique id per frame, one image size per sequence."""
    if len(seq) == 0:
        return
    order = np.lexsort((seq.ids, seq.frames))  # stable: of two equal (frame, id), the first in the file first
    dup = np.flatnonzero((np.diff(seq.frames[order]) == 0) & (np.diff(seq.ids[order]) == 0))
    if len(dup):
        i, j = order[dup[0]], order[dup[0] + 1]
        raise FormatError(f"{_where(seq, j)}: id {seq.ids[j]} appears twice in frame {seq.frames[j]} "
                          f"(first at {_where(seq, i)})")
    sizes = np.array([seq.rles[0]["size"]] if all(r["size"] is seq.rles[0]["size"] for r in seq.rles)
                     else [r["size"] for r in seq.rles], np.int64)
    bad = np.flatnonzero((sizes != sizes[0]).any(axis=1))
    if len(bad):
        raise FormatError(f"{_where(seq, bad[0])}: mask size {tuple(sizes[bad[0]].tolist())} differs from "
                          f"{tuple(sizes[0].tolist())} at {_where(seq, 0)}")
    seq._areas = check_rles([r["counts"] for r in seq.rles], int(sizes[0, 0]), int(sizes[0, 1]),
                            lambda i: _where(seq, i))


def check_rles(counts: list, height: int, width: int, where) -> np.ndarray:
    """The areas of COCO compressed RLE strings of a ``height x width`` image, each decoded once as pycocotools
    does; a :class:`FormatError` at ``where(i)`` (file and line) for the first corrupt string ``i``."""
    from mots_ros.data import rle_runs

    areas, pixels, errors = rle_runs.check_strings(counts, height * width)
    bad = np.flatnonzero(errors)
    if len(bad):
        i = int(bad[0])
        text = counts[i] if isinstance(counts[i], str) else counts[i].decode("utf-8", "replace")
        shown = repr(text if len(text) <= 40 else text[:37] + "...")
        why = {rle_runs.BAD_CHARACTER: "holds characters outside the COCO RLE code '0'..'o'",
               rle_runs.BAD_COUNT: "holds a count that is unterminated, negative or beyond 32 bits",
               rle_runs.BAD_TOTAL: f"has runs of {pixels[i]} pixels in all, not height*width = {height}*{width} "
                                   f"= {height * width}"}[int(errors[i])]
        raise FormatError(f"{where(i)}: RLE string {shown} is corrupt: it {why}")
    return areas


def overlaps(seq: Sequence) -> list[tuple[int, int, int]]:
    """``(frame, id_a, id_b)`` for every pair of masks that share pixels (a before b in the file)."""
    from mots_ros.data.rle_runs import pair_intersections

    a, b, _ = pair_intersections([r["counts"] for r in seq.rles], seq.frames)
    order = np.lexsort((b, a, seq.frames[a]))
    return [(int(seq.frames[i]), int(seq.ids[i]), int(seq.ids[j])) for i, j in zip(a[order], b[order])]


def make_disjoint(seq: Sequence, frames: set[int]) -> Sequence:
    """Resolve overlaps in ``frames``: a mask loses the pixels claimed by masks earlier in the file."""
    from mots_ros.data.rle_runs import make_disjoint as disjoint_runs

    rles = list(seq.rles)
    groups = seq.by_frame()
    for frame in frames:
        idx = np.sort(groups[frame])
        new, _ = disjoint_runs([rles[i] for i in idx], np.arange(len(idx)))
        for k, i in enumerate(idx):
            rles[i] = new[k]
    return Sequence(seq.name, seq.frames, seq.ids, seq.classes, rles, seq.source, seq.lines)


def overlap_error(seq: Sequence, found: list[tuple[int, int, int]]) -> FormatError:
    """The error for overlapping masks, naming sequence, frames and ids."""
    shown = "; ".join(f"frame {f}: ids {a} and {b}" for f, a, b in found[:5])
    more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
    return FormatError(f"{seq.source}: sequence {seq.name} has overlapping masks: {shown}{more}")


def check_disjoint(seq: Sequence) -> None:
    """Raise naming sequence, frame and ids when masks overlap."""
    found = overlaps(seq)
    if found:
        raise overlap_error(seq, found)


def check_frames(seq: Sequence, first: int, last: int, seqmap_path: str = "the seqmap") -> None:
    """Raise when an object lies outside the frame range the seqmap gives for its sequence."""
    bad = np.flatnonzero((seq.frames < first) | (seq.frames > last))
    if len(bad):
        raise FormatError(f"{_where(seq, bad[0])}: frame {seq.frames[bad[0]]} outside {first}..{last} "
                          f"given for sequence {seq.name} in {seqmap_path}")


def load_sequence(directory: str | os.PathLike, name: str, required: bool = True) -> Sequence:
    """Load ``DIR/NAME.txt`` or the png folder ``DIR/NAME/``; an empty sequence when absent and not required."""
    txt = os.path.join(directory, f"{name}.txt")
    png = os.path.join(directory, name)
    if os.path.isfile(txt):
        return read_txt(txt, name)
    if os.path.isdir(png):
        return read_png_dir(png, name)
    if required:
        raise FormatError(f"{directory}: neither {name}.txt nor a png folder {name}/ found")
    return Sequence.empty(name, txt)
