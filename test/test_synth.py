"""The built-in synthetic data set: layout, determinism, valid exact ground truth, occlusion, visible objects."""
import numpy as np
import pytest
from PIL import Image

from mots_ros import MotsError
from mots_ros.data import formats, rle, synth

SEQS, FRAMES, SIZE, SEED = 2, 16, (96, 160), 3
NAMES = ("0000", "0001")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    synth.generate(out, sequences=SEQS, frames=FRAMES, size=SIZE, seed=SEED)
    return out


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _gt(data, name):
    return formats.read_txt(data / "instances_txt" / f"{name}.txt")


def test_deterministic_per_seed(data, tmp_path):
    synth.generate(tmp_path / "same", sequences=SEQS, frames=FRAMES, size=SIZE, seed=SEED)
    synth.generate(tmp_path / "other", sequences=SEQS, frames=FRAMES, size=SIZE, seed=SEED + 1)
    ref, other = _files(data), _files(tmp_path / "other")
    assert _files(tmp_path / "same") == ref
    assert other.keys() == ref.keys()
    for name in ("instances_txt/0000.txt", "instances_txt/0001.txt", "images/0000/000000.png"):
        assert other[name] != ref[name]


def test_layout_and_images(data):
    assert formats.read_seqmap(data / "train.seqmap") == {"0000": (0, FRAMES - 1)}
    assert formats.read_seqmap(data / "val.seqmap") == {"0001": (0, FRAMES - 1)}
    for name in NAMES:
        files = sorted((data / "images" / name).iterdir())
        assert [f.name for f in files] == [f"{t:06d}.png" for t in range(FRAMES)]
        with Image.open(files[0]) as im:
            assert im.mode == "RGB"
            assert np.asarray(im).shape == SIZE + (3,)


def test_ground_truth_valid_and_disjoint(data):
    classes = set()
    for name in NAMES:
        seq = _gt(data, name)
        formats.check_frames(seq, 0, FRAMES - 1)
        assert seq.size == SIZE
        assert formats.overlaps(seq) == []
        ignore = seq.classes == formats.IGNORE
        assert ignore.any()
        assert set(seq.ids[ignore].tolist()) == {formats.IGNORE_ID}
        assert np.all(seq.ids[~ignore] // 1000 == seq.classes[~ignore])
        assert rle.areas(seq.rles)[~ignore].min() >= synth.MIN_PIXELS
        classes |= set(seq.classes.tolist())
    assert classes == {formats.CAR, formats.PEDESTRIAN, formats.IGNORE}


def test_tracks_enter_or_leave(data):
    partial = 0
    for name in NAMES:
        seq = _gt(data, name)
        for i in np.unique(seq.ids[seq.classes != formats.IGNORE]):
            frames = seq.frames[seq.ids == i]
            partial += frames.min() > 0 or frames.max() < FRAMES - 1
    assert partial > 0


def test_objects_occlude_each_other():
    rng = np.random.default_rng(0)
    scene = synth._scene(rng, FRAMES, SIZE)
    partly_hidden = 0
    for t in range(FRAMES):
        _, labels = synth._render(scene, t, rng)
        alone = {}  # id -> where the object (all clutter blobs for the ignore id) is drawn without the others
        for obj in scene.objects:
            drawn = obj.draw(scene, t)
            if drawn is not None:
                r0, c0, mask, _ = drawn
                full = alone.setdefault(obj.id, np.zeros(SIZE, bool))
                full[r0:r0 + mask.shape[0], c0:c0 + mask.shape[1]] |= mask
        for i, full in alone.items():
            visible = labels == i
            assert not (visible & ~full).any()
            partly_hidden += 0 < visible.sum() < 0.9 * full.sum()
    assert partly_hidden > 0


def test_cars_visible_in_images(data):
    seq = _gt(data, "0000")
    images = np.stack([np.asarray(Image.open(data / "images" / "0000" / f"{t:06d}.png"), float)
                       for t in range(FRAMES)])
    groups = seq.by_frame()
    covered = np.stack([rle.decode([seq.rles[i] for i in groups[t]]).any(axis=2) if t in groups
                        else np.zeros(SIZE, bool) for t in range(FRAMES)])
    # a car's pixels against the same pixels in a frame where no object covers them
    diffs = []
    for i in np.flatnonzero(seq.classes == formats.CAR):
        car = rle.decode([seq.rles[i]])[:, :, 0].astype(bool)
        for u in range(FRAMES):
            free = car & ~covered[u]
            if free.sum() >= synth.MIN_PIXELS:
                diffs.append(np.abs(images[seq.frames[i]][free] - images[u][free]).mean())
    assert len(diffs) > 10
    assert np.median(diffs) > 25
    background = ~covered.any(axis=0)  # only sensor noise changes there
    assert np.abs(images[0][background] - images[-1][background]).mean() < 5


def test_single_small_sequence(tmp_path):
    synth.generate(tmp_path, sequences=1, frames=1, size=(32, 32), seed=0)
    assert formats.read_seqmap(tmp_path / "train.seqmap") == {"0000": (0, 0)}
    assert not (tmp_path / "val.seqmap").exists()  # one sequence cannot be both training and validation data
    formats.read_txt(tmp_path / "instances_txt" / "0000.txt")


@pytest.mark.parametrize("kwargs, match", [(dict(sequences=0), "sequences"), (dict(frames=0), "frames"),
                                           (dict(size=(16, 100)), "size"), (dict(size=(64,)), "size"),
                                           (dict(seed=-1), "seed")])
def test_rejects_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(MotsError, match=match):
        synth.generate(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()
