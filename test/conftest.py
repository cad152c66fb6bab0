"""Shared fixtures: the real reference data in ``$MOTS_DATA`` (default ``../shared/data`` beside the repo)."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def mots_data() -> Path | None:
    path = Path(os.environ.get("MOTS_DATA") or REPO.parent / "shared" / "data")
    return path if (path / "kitti_mots" / "instances_txt").is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = mots_data()
    if path is None:
        pytest.skip("real KITTI MOTS / MOTS20 ground truth not found: set MOTS_DATA to the shared data folder "
                    "(the one holding kitti_mots/ and mots20/)")
    return path


@pytest.fixture(scope="session")
def kitti(data_dir) -> tuple[Path, Path]:
    """(ground-truth folder, val seqmap) of KITTI MOTS."""
    return data_dir / "kitti_mots" / "instances_txt", data_dir / "kitti_mots" / "val.seqmap"


def pytest_configure(config):
    config.addinivalue_line("markers", "colcon: builds the package with colcon in a temporary workspace "
                                       "(deselect with -m 'not colcon')")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors: one thread avoids OpenMP waits (100x slower steps on a busy 2-core machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
