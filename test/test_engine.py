"""`mots train` (incl. --resume), `mots infer`, `mots run` and the window dataset, on tiny synthetic data."""
import csv
import math
import os

import numpy as np
import pytest
import torch
import yaml

from mots_ros.cli import main
from mots_ros.data import formats
from mots_ros.data.synth import generate
from mots_ros.data.windows import Augment, FrameWindows, masks_to_boxes
from mots_ros.tracking.detections_io import read_detections

MODEL = {"backbone": "resnet18", "min_size": 64, "max_size": 96, "rpn_pre_nms_top_n_train": 100,
         "rpn_post_nms_top_n_train": 50, "rpn_pre_nms_top_n_test": 50, "rpn_post_nms_top_n_test": 20,
         "box_batch_size_per_image": 32, "box_score_thresh": 0.0, "box_detections_per_img": 5,
         "box_head_size": 64, "mask_head_layers": [32, 32], "assoc_hidden": 32}  # compact heads: small checkpoints


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    generate(str(root), sequences=2, frames=6, size=(64, 96), seed=3)
    return root


def config(tmp_path, steps):
    path = tmp_path / f"cfg{steps}.yaml"
    path.write_text(yaml.safe_dump({"model": MODEL, "train": {
        "window": 3, "steps": steps, "lr": 1e-4, "warmup_steps": 1, "checkpoint_every": 2, "log_every": 1,
        "workers": 0}}))
    return str(path)


def test_windows_are_consecutive_frames_with_targets(data):
    ds = FrameWindows(str(data), str(data / "train.seqmap"), window=3)
    images, targets = ds[0]
    assert len(images) == len(targets) == 3 and images[0].shape == (3, 64, 96)
    t = targets[0]
    assert t["masks"].dtype == torch.uint8 and len(t["masks"]) == len(t["boxes"]) == len(t["track_ids"])
    assert torch.equal(t["labels"], t["track_ids"] // 1000) and set(t["labels"].tolist()) <= {1, 2}
    assert torch.equal(t["boxes"], masks_to_boxes(t["masks"]))


def test_a_seqmap_range_splits_a_sequence(data, tmp_path):
    seq = formats.read_seqmap(str(data / "train.seqmap"))
    name = next(iter(seq))
    part = tmp_path / "part.seqmap"
    formats.write_seqmap({name: (2, 4)}, str(part))  # frames 2-4 of 0-5, ground truth on all of them
    ds = FrameWindows(str(data), str(part), window=3)
    assert len(ds) == 1
    full = FrameWindows(str(data), str(data / "train.seqmap"), window=3)
    _, t_part = ds[0]
    _, t_full = full[2]  # the window starting at frame 2
    assert [torch.equal(a["track_ids"], b["track_ids"]) for a, b in zip(t_part, t_full)] == [True] * 3


def test_flip_moves_images_and_masks_together(data):
    plain = FrameWindows(str(data), str(data / "train.seqmap"), window=2)
    flipped = FrameWindows(str(data), str(data / "train.seqmap"), window=2,
                           augment=Augment(flip=1.0, gamma=(1.0, 1.0)))
    (a, ta), (b, tb) = plain[1], flipped[1]
    assert torch.equal(a[0].flip(-1), b[0]) and torch.equal(ta[0]["masks"].flip(-1), tb[0]["masks"])


def test_masks_to_boxes_pixel_edges():
    m = torch.zeros((1, 5, 6), dtype=torch.uint8)
    m[0, 1, 2] = 1
    assert masks_to_boxes(m).tolist() == [[2.0, 1.0, 3.0, 2.0]]


def test_train_resume_infer_run_eval(data, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--train-seqmap", str(data / "train.seqmap"), "--out", str(out),
            "--device", "cpu"]
    assert main(args + ["--config", config(tmp_path, 3)]) == 0
    assert (out / "model.pt").exists() and (out / "last.pt").exists() and (out / "tensorboard").is_dir()
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 3
    # a longer schedule continues from the checkpoint instead of starting again
    assert main(args + ["--config", config(tmp_path, 5), "--resume"]) == 0
    steps = [int(r["step"]) for r in csv.DictReader(open(out / "log.csv"))]
    assert steps == [1, 2, 3, 4, 5]

    seq = next(iter(formats.read_seqmap(data / "val.seqmap")))
    dets = tmp_path / "dets" / f"{seq}.txt"
    assert main(["infer", "--checkpoint", str(out / "model.pt"), "--images", str(data / "images" / seq),
                 "--out", str(dets), "--device", "cpu"]) == 0
    frames = read_detections(dets)
    assert all(f.embeddings.shape[1] == 128 for f in frames if len(f))
    assert main(["run", "--images", str(data / "images"), "--seqmap", str(data / "val.seqmap"), "--out",
                 str(tmp_path / "res"), "--checkpoint", str(out / "model.pt"), "--device", "cpu"]) == 0
    assert main(["eval", "--gt", str(data / "instances_txt"), "--results", str(tmp_path / "res"), "--seqmap",
                 str(data / "val.seqmap")]) == 0
    assert "sMOTSA" in capsys.readouterr().out


def test_run_saves_every_sequences_detections_when_tracks_cannot_be_written(data, tmp_path, monkeypatch):
    """Untuned tracker parameters can start over 999 tracks (not writable as KITTI ids): `mots run
    --save-detections` still saves the detections of every sequence, for `mots tune`, and then names the failure."""
    from mots_ros import MotsError
    from mots_ros.engine import infer
    from mots_ros.models import StreamingModel, TrackRCNN

    seqs = {**formats.read_seqmap(data / "train.seqmap"), **formats.read_seqmap(data / "val.seqmap")}
    formats.write_seqmap(seqs, str(tmp_path / "all.seqmap"))
    first = next(iter(seqs))
    real = infer.write_tracks

    def write_tracks(path, tracks):
        if os.path.basename(path) == f"{first}.txt":
            raise MotsError(f"sequence {first}: track id 1000 >= 1000 cannot be written")
        real(path, tracks)

    monkeypatch.setattr(infer, "write_tracks", write_tracks)
    torch.manual_seed(0)
    stream = StreamingModel(TrackRCNN(**MODEL))
    with pytest.raises(MotsError, match=f"sequence {first}: track id 1000.*detections of every sequence are in"):
        infer.run_sequences(stream, str(data / "images"), str(tmp_path / "all.seqmap"), str(tmp_path / "res"),
                            detections_dir=str(tmp_path / "dets"))
    assert len(seqs) == 2 and sorted(os.listdir(tmp_path / "dets")) == sorted(f"{s}.txt" for s in seqs)
    assert os.listdir(tmp_path / "res") == [f"{s}.txt" for s in seqs if s != first]
    # without --save-detections the first failure stops the run
    with pytest.raises(MotsError, match="track id 1000") as err:
        infer.run_sequences(stream, str(data / "images"), str(tmp_path / "all.seqmap"), str(tmp_path / "res2"))
    assert "detections of every sequence" not in str(err.value) and os.listdir(tmp_path / "res2") == []


def test_bad_checkpoints_name_the_file(data, tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(np.random.default_rng(0).bytes(1000))
    for path in (bad, tmp_path / "missing.pt"):
        assert main(["infer", "--checkpoint", str(path), "--images", str(data / "images" / "0000"),
                     "--out", str(tmp_path / "d.txt"), "--device", "cpu"]) == 2
        assert str(path) in capsys.readouterr().err


def test_bad_config_names_the_key(data, tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("model: {backbone: resnet18}\ntrain: {stepz: 3}\n")
    assert main(["train", "--config", str(path), "--data", str(data), "--train-seqmap",
                 str(data / "train.seqmap"), "--out", str(tmp_path / "o")]) == 2
    assert "unknown train keys ['stepz']" in capsys.readouterr().err


def test_compact_heads_and_half_checkpoint_round_trip(tmp_path):
    from mots_ros.models.trackrcnn import TrackRCNN
    from mots_ros.models.weights import build_from_checkpoint, save_checkpoint

    model = TrackRCNN(backbone="mobilenet_v3_large", box_head_size=32, mask_head_layers=[16, 16], assoc_hidden=16,
                      min_size=64, max_size=96)
    assert model.roi_heads.box_head.fc7.out_features == 32 and model.assoc_head.mlp[1].out_features == 16
    save_checkpoint(tmp_path / "full.pt", model)
    save_checkpoint(tmp_path / "half.pt", model, half=True)
    assert (tmp_path / "half.pt").stat().st_size < 0.6 * (tmp_path / "full.pt").stat().st_size
    back = build_from_checkpoint(tmp_path / "half.pt")
    for (k, a), b in zip(model.state_dict().items(), back.state_dict().values()):
        expected = a.half().to(a.dtype) if a.is_floating_point() else a
        assert b.dtype == a.dtype and torch.equal(b, expected), k


def test_distributed_training_with_two_processes(data, tmp_path):
    """DistributedDataParallel under torchrun (gloo on CPU): two ranks train together, rank 0 writes the run."""
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
           "-m", "mots_ros.cli", "train", "--config", config(tmp_path, 2), "--data", str(data),
           "--train-seqmap", str(data / "train.seqmap"), "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("wrote ") == 1
    rows = (tmp_path / "ddp" / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
    assert all(math.isfinite(float(r.split(",")[2])) for r in rows[1:])
    from mots_ros.models.weights import build_from_checkpoint

    build_from_checkpoint(str(tmp_path / "ddp" / "model.pt"))


def _train_until_killed(args: list, last_tmp, saves: int):
    """Run ``mots train`` in a process and SIGKILL it the moment its ``saves``-th checkpoint write begins (the
    temporary file appears), or let it finish (``saves`` 0); its exit status."""
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(os.path.dirname(__file__)),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "mots_ros.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    seen, present = 0, False
    while saves and proc.poll() is None:
        now = os.path.exists(last_tmp)
        seen += now and not present
        present = now
        if seen == saves:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


def test_train_killed_during_checkpoint_writes_resumes_losing_at_most_the_save_interval(data, tmp_path):
    """SIGKILL while ``last.pt`` is being written, twice: the previous checkpoint still loads, ``--resume``
    continues from its step (at most checkpoint_every = 2 steps lost), and log.csv holds every step once."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from mots_ros.engine.train import _build, load_config
    from mots_ros.models.weights import load_checkpoint

    out = tmp_path / "run"
    cfg = config(tmp_path, 8)
    args = ["train", "--data", str(data), "--train-seqmap", str(data / "train.seqmap"), "--out", str(out),
            "--device", "cpu", "--config", cfg, "--resume"]
    model_kwargs, train_cfg, _ = load_config(cfg)
    for resumed_at, killed_saving in ((0, 4), (2, 6)):  # each run is killed while writing its second checkpoint
        code, err = _train_until_killed(args, out / "last.pt.tmp", saves=2)
        assert code == -9, err
        assert resumed_at == 0 or f"resumed {out / 'last.pt'} at step {resumed_at}" in err
        assert (out / "last.pt.tmp").exists()  # the write that was cut off
        model, _ = _build(cfg, model_kwargs, train_cfg, torch.device("cpu"))
        assert load_checkpoint(out / "last.pt", model)["step"] == killed_saving - train_cfg.checkpoint_every
    code, err = _train_until_killed(args, out / "last.pt.tmp", saves=0)
    assert code == 0 and f"resumed {out / 'last.pt'} at step 4" in err, err
    assert torch.load(out / "model.pt", weights_only=True)["step"] == 8
    assert [int(r["step"]) for r in csv.DictReader(open(out / "log.csv"))] == list(range(1, 9))
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 9))
