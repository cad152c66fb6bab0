"""Checks that an output can be written, made before any work is done, so a bad path fails at once with a
:class:`MotsError` instead of a traceback after the work (or a claim of success without a file)."""
from __future__ import annotations

import os
import tempfile

from mots_ros import MotsError


def _probe(folder: str, path: str, what: str) -> None:
    """Create and remove a file in ``folder``: the one test that holds for every user and file system."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".mots-probe-")
    except OSError as e:
        raise MotsError(f"{path}: cannot write the {what} in {folder} ({e.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def output_dir(path: str | os.PathLike, what: str = "output folder") -> str:
    """Create the folder ``path`` (and its parents) and check that files can be written in it."""
    path = str(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise MotsError(f"{path}: cannot write the {what}: a file of that name exists")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise MotsError(f"{path}: cannot create the {what} ({e.strerror})") from None
    _probe(path, path, what)
    return path


def output_file(path: str | os.PathLike, what: str = "output file", make_folder: bool = False) -> str:
    """Check that the file ``path`` can be written: not a folder, its folder exists (created with
    ``make_folder``) and takes files."""
    path = str(path)
    if os.path.isdir(path):
        raise MotsError(f"{path}: cannot write the {what}: a folder of that name exists")
    folder = os.path.dirname(os.path.abspath(path))
    if make_folder:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise MotsError(f"{path}: cannot create the folder of the {what} ({e.strerror})") from None
    elif not os.path.isdir(folder):
        raise MotsError(f"{path}: cannot write the {what}: the folder {folder} does not exist")
    _probe(folder, path, what)
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise MotsError(f"{path}: cannot write the {what}: the file is read-only")
    return path
