"""Conversion between KITTI MOTS txt files and 16-bit png instance maps (``mots convert``)."""
from __future__ import annotations

import os

from mots_ros import MotsError
from mots_ros.data import formats
from mots_ros.outputs import output_dir


def list_sequences(directory: str) -> list[str]:
    """Sequence names in a folder of ``SEQ.txt`` files and/or ``SEQ/`` png folders."""
    if not os.path.isdir(directory):
        raise MotsError(f"{directory}: not a folder")
    names = {e[:-4] for e in os.listdir(directory) if e.endswith(".txt")}
    names |= {e for e in os.listdir(directory) if os.path.isdir(os.path.join(directory, e))}
    return sorted(names)


def convert(src: str, dst: str, to: str, seqmap: str | None = None) -> int:
    """Write every sequence of ``src`` to ``dst`` as ``txt`` or ``png``; returns the number of sequences."""
    if to not in ("txt", "png"):
        raise MotsError(f"unknown output format {to!r} (txt or png)")
    ranges = formats.read_seqmap(seqmap) if seqmap else {s: None for s in list_sequences(src)}
    output_dir(dst)
    for name, frame_range in ranges.items():
        seq = formats.load_sequence(src, name)
        if frame_range:
            formats.check_frames(seq, *frame_range, seqmap)
        if to == "txt":
            formats.write_txt(seq, os.path.join(dst, f"{name}.txt"))
        else:
            frames = range(frame_range[0], frame_range[1] + 1) if frame_range else None
            formats.write_png_dir(seq, os.path.join(dst, name), frames=frames)
    return len(ranges)
