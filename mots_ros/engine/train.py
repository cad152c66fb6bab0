"""`mots train`: one training loop for both model families on a KITTI MOTS layout (TrackR-CNN, thesis ch. 3-4;
pixel embeddings, 6.2.4).

The config's ``model: arch`` picks the family (:mod:`mots_ros.models.registry`); the family supplies its
augmentation, targets and losses (:class:`~mots_ros.models.base.TrainingFamily`), the loop everything else.
Batches are windows of consecutive frames (default 8) through the temporal block, flipped and gamma-corrected;
Adam with warm-up and a cosine, step or piecewise schedule; optionally frozen batch norm; AMP on GPU; DistributedDataParallel under ``torchrun``; tqdm progress, TensorBoard and CSV logs;
periodic validation with `mots eval` numbers; checkpoints every N steps, and ``--resume`` continues a killed run
from the last one. Checkpoints hold only tensors and plain values, so they load with ``weights_only=True``.
"""
from __future__ import annotations

import csv
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch

from mots_ros import MotsError
from mots_ros.models.weights import load_checkpoint, load_matching, save_checkpoint
from mots_ros.yaml_io import read_yaml

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    window: int = 8  # consecutive frames per batch (thesis: 8)
    steps: int = 2000  # optimiser steps
    lr: float = 1e-4
    weight_decay: float = 0.0
    schedule: str = "cosine"  # cosine | step | piecewise | constant
    lr_steps: list = field(default_factory=list)  # 'step': lr x 0.1 from each; 'piecewise': where lr_values change
    lr_values: list = field(default_factory=list)  # 'piecewise': lr before the first of lr_steps, after each
    warmup_steps: int = 100
    grad_clip: float = 10.0  # max gradient norm (0: off)
    flip: float = 0.5  # augmentation: flip probability, gamma range, resize factor range (same for a whole window)
    gamma: list = field(default_factory=lambda: [0.8, 1.25])
    scale: list = field(default_factory=lambda: [0.9, 1.1])
    crop: list = field(default_factory=list)  # pixel embeddings: [h, w] random crop resized to this (thesis 384x384)
    freeze_bn: bool = False  # batch norm layers keep their statistics and parameters (thesis 6.2.4)
    trainable: list = field(default_factory=list)  # parameter name prefixes trained (e.g. offset_head); [] all
    checkpoint_every: int = 200
    val_every: int = 0  # 0: only at the end (when a val seqmap is given)
    log_every: int = 10
    amp: bool = True  # mixed precision on CUDA
    workers: int = 2
    seed: int = 0
    half_weights: bool = False  # final model.pt with float16 weights (half the size)


def load_config(path: str) -> tuple[dict, TrainConfig, str | None]:
    """(model kwargs, training config, tracker config path) from a YAML file with ``model:`` and ``train:``."""
    raw = read_yaml(path, "config") or {}
    unknown = set(raw) - {"model", "train", "tracker"}
    if unknown:
        raise MotsError(f"{path}: unknown sections {sorted(unknown)} (expected model, train, tracker)")
    train = raw.get("train") or {}
    names = {f.name for f in fields(TrainConfig)}
    bad = sorted(set(train) - names)
    if bad:
        raise MotsError(f"{path}: unknown train keys {bad}; known: {sorted(names)}")
    tracker = raw.get("tracker")
    steps, values = train.get("lr_steps") or [], train.get("lr_values") or []
    if train.get("schedule") == "piecewise" and len(values) != len(steps) + 1:
        raise MotsError(f"{path}: schedule piecewise needs one more lr_values than lr_steps")
    crop = train.get("crop") or []
    if crop and (len(crop) != 2 or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in crop)):
        raise MotsError(f"{path}: train.crop must be [height, width] in pixels, got {crop!r}")
    trainable = train.get("trainable", [])
    if not isinstance(trainable, list) or not all(isinstance(t, str) and t for t in trainable):
        raise MotsError(f"{path}: train.trainable must be a list of parameter name prefixes (e.g. [offset_head]), "
                        f"got {trainable!r}")
    if tracker is not None and not os.path.isabs(tracker):
        tracker = os.path.join(os.path.dirname(os.path.abspath(path)), tracker)
    return dict(raw.get("model") or {}), TrainConfig(**train), tracker


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to 1 %, ×0.1 at each of ``lr_steps`` or (``'piecewise'``, the schedule of
    thesis 6.2.4) ``lr_values[i]`` from the i-th of ``lr_steps`` on (``lr_values[0]`` before the first)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))
    if cfg.schedule == "step":
        return cfg.lr * 0.1 ** sum(step >= s for s in cfg.lr_steps)
    if cfg.schedule == "piecewise":
        return cfg.lr_values[sum(step >= s for s in cfg.lr_steps)]
    return cfg.lr


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _save_state(path: str, model, optimizer, scaler, step: int, train_cfg: TrainConfig, rng: np.random.Generator):
    """Everything needed to resume (tensors and plain values only, written atomically)."""
    save_checkpoint(path, model, optimizer=optimizer.state_dict(), scaler=scaler.state_dict(), step=step,
                    train=asdict(train_cfg), torch_rng=torch.get_rng_state(), numpy_rng=rng.bit_generator.state)


def _keep_rows_until(path: str, step: int) -> None:
    """Cut ``log.csv`` back to the rows of steps up to ``step`` (a killed run logged the steps after its last
    checkpoint, which the resumed run trains again), dropping a row cut off by the kill; rewritten atomically."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as fh:
        lines = fh.read().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    kept = lines[:1] + [line for line in lines[1:] if int(next(csv.reader([line]))[0]) <= step]
    with open(path + ".tmp", "w", newline="") as fh:
        fh.writelines(kept)
    os.replace(path + ".tmp", path)


class _Log:
    """Training rows (step, lr, losses, seconds) to TensorBoard and ``OUT/log.csv``, continuing after ``step``
    (the rows and events of later steps, from a run killed after its last checkpoint, are dropped); rank 0 only."""

    def __init__(self, out: str, enabled: bool, step: int):
        from torch.utils.tensorboard import SummaryWriter

        path = os.path.join(out, "log.csv")
        if enabled:
            _keep_rows_until(path, step)
        self.writer = SummaryWriter(os.path.join(out, "tensorboard"), purge_step=step + 1) if enabled else None
        self.file = open(path, "a", newline="") if enabled else None
        self.csv = None

    def row(self, row: dict) -> None:
        for k, v in row.items():
            if k != "step":
                self.writer.add_scalar(f"train/{k}", v, row["step"])
        if self.csv is None:
            self.csv = csv.DictWriter(self.file, fieldnames=list(row), extrasaction="ignore")
            if self.file.tell() == 0:
                self.csv.writeheader()
        self.csv.writerow(row)
        self.file.flush()

    def close(self) -> None:
        if self.file:
            self.file.close()
        if self.writer:
            self.writer.close()


def _under(name: str, prefixes: list) -> bool:
    """Whether the parameter or module ``name`` is one of ``prefixes`` or inside one."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _trains(module: str, trainable: list) -> bool:
    """Whether the module named ``module`` ('' is the model) holds, is or is inside one of the ``trainable``
    prefixes (a parent's own mode matters too: TrackR-CNN returns losses only in training mode)."""
    return module == "" or _under(module, trainable) or any(_under(p, [module]) for p in trainable)


def set_train_mode(model: torch.nn.Module, freeze_bn: bool, trainable: list = ()) -> None:
    """Training mode; with ``freeze_bn`` every batch norm layer keeps its running statistics (eval mode; thesis
    6.2.4 freezes batch normalisation); with ``trainable`` prefixes only the modules under them train, the
    frozen rest runs as at test time (no dropout, batch norm statistics kept)."""
    model.train()
    if trainable:
        for name, m in model.named_modules():
            if not _trains(name, trainable):
                m.eval()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()


def _build(config_path: str, model_kwargs: dict, cfg: TrainConfig, device: torch.device):
    """(model on ``device``, its family's training hooks) from the config's ``model:`` section."""
    from mots_ros.models.registry import DEFAULT_ARCH, builder, training

    arch = model_kwargs.pop("arch", DEFAULT_ARCH)
    build, family = builder(arch, config_path), training(arch, config_path)
    try:
        model = build(**model_kwargs)
    except (TypeError, ValueError) as e:
        raise MotsError(f"{config_path}: model section does not describe a {arch} model: {e}") from None
    if cfg.freeze_bn:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.requires_grad_(False)
    if cfg.trainable:
        _freeze_all_but(model, cfg.trainable, config_path)
    try:
        return model.to(device), family(model, cfg)
    except ValueError as e:
        raise MotsError(f"{config_path}: {e}") from None


def _freeze_all_but(model: torch.nn.Module, trainable: list, config_path: str) -> None:
    """Parameters outside the ``trainable`` name prefixes stop requiring gradients; a prefix that names no
    parameter is a MotsError naming the config."""
    names = [name for name, _ in model.named_parameters()]
    unknown = [p for p in trainable if not any(_under(n, [p]) for n in names)]
    if unknown:
        tops = sorted({n.split(".")[0] for n in names})
        raise MotsError(f"{config_path}: train.trainable {unknown} names no parameter of the model; "
                        f"its parts: {tops}")
    for name, p in model.named_parameters():
        if not _under(name, trainable):
            p.requires_grad_(False)


def _start(model, optimizer, scaler, rng, last: str, resume: bool, init: str | None) -> int:
    """The first step: that of ``last`` with its optimiser, scaler and RNG states (``resume``), else 0 (weights
    from ``init`` where name and shape match)."""
    if resume and os.path.exists(last):
        state = load_checkpoint(last, model)
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        rng.bit_generator.state = state["numpy_rng"]
        log.info("resumed %s at step %d", last, int(state["step"]))
        return int(state["step"])
    if resume:
        log.warning("--resume: no checkpoint at %s, starting from scratch", last)
    if init:
        skipped = load_matching(init, model)
        log.info("initialised from %s; %d tensors kept their initialisation: %s", init, len(skipped),
                 ", ".join(skipped))
    return 0


def _loader(data: str, train_seqmap: str, cfg: TrainConfig, family, seed: int):
    """Endless random windows (with replacement) of the training sequences, through the family's hook."""
    from mots_ros.data.windows import Augment, FrameWindows, collate_windows

    dataset = FrameWindows(data, train_seqmap, window=cfg.window, augment=Augment(cfg.flip, tuple(cfg.gamma)),
                           seed=seed, transform=family.window)
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=10 ** 9,
                                             generator=torch.Generator().manual_seed(seed))
    return torch.utils.data.DataLoader(dataset, batch_size=1, sampler=sampler, num_workers=cfg.workers,
                                       collate_fn=collate_windows, persistent_workers=cfg.workers > 0)


def _step(net, model, family, sample, optimizer, scaler, cfg: TrainConfig, step: int, device, use_amp: bool
          ) -> tuple[torch.Tensor, dict]:
    """One optimiser step on one window; returns (total loss, named losses). A non-finite loss is a MotsError."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(cfg, step)
    with torch.autocast(device.type, enabled=use_amp):
        losses = family.losses(net, sample, device)
        loss = sum(losses.values())
    if not torch.isfinite(loss):
        raise MotsError(f"training diverged at step {step}: loss {loss.item()} "
                        f"({ {k: round(v.item(), 4) for k, v in losses.items()} }); lower train.lr")
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if cfg.grad_clip:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss, losses


def train(config_path: str, data: str, train_seqmap: str, out: str, val_seqmap: str | None = None,
          resume: bool = False, device: str | None = None, init: str | None = None) -> str:
    """Train the config's model family and return the path of the final checkpoint (``OUT/model.pt``).

    ``init``: a checkpoint whose weights start the model wherever name and shape match (ignored when resuming
    from ``OUT/last.pt``)."""
    from tqdm import tqdm

    model_kwargs, cfg, tracker_cfg = load_config(config_path)
    rank, world, local_rank = _distributed()
    device = torch.device(device or (f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(cfg.seed + rank)
    rng = np.random.default_rng(cfg.seed + rank)
    os.makedirs(out, exist_ok=True)
    last = os.path.join(out, "last.pt")
    model, family = _build(config_path, model_kwargs, cfg, device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                                 weight_decay=cfg.weight_decay)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    step = _start(model, optimizer, scaler, rng, last, resume, init)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    loader = _loader(data, train_seqmap, cfg, family, cfg.seed + rank + step)
    logger = _Log(out, rank == 0, step)
    set_train_mode(model, cfg.freeze_bn, cfg.trainable)
    bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", disable=rank != 0)
    t0 = time.perf_counter()
    try:
        for sample, in loader:
            if step >= cfg.steps:
                break
            loss, losses = _step(net, model, family, sample, optimizer, scaler, cfg, step, device, use_amp)
            step += 1
            bar.update(1)
            if rank != 0:
                continue
            if step % cfg.log_every == 0 or step == cfg.steps:
                row = {"step": step, "lr": optimizer.param_groups[0]["lr"], "loss": loss.item(),
                       **{k: v.item() for k, v in losses.items()}, "seconds": time.perf_counter() - t0}
                bar.set_postfix({k.removeprefix("loss_"): f"{v:.3f}" for k, v in row.items() if "loss" in k})
                logger.row(row)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                _save_state(last, model, optimizer, scaler, step, cfg, rng)
            if val_seqmap and cfg.val_every and step % cfg.val_every == 0 and step < cfg.steps:
                _validate(model, data, val_seqmap, tracker_cfg, device, logger.writer, step, out)
                set_train_mode(model, cfg.freeze_bn, cfg.trainable)
        final = os.path.join(out, "model.pt")
        if rank == 0:
            save_checkpoint(final, model, half=cfg.half_weights, step=step)
            if val_seqmap:
                _validate(model, data, val_seqmap, tracker_cfg, device, logger.writer, step, out)
    finally:
        bar.close()
        logger.close()
    if world > 1:
        torch.distributed.destroy_process_group()
    return final


def _validate(model, data: str, seqmap: str, tracker_cfg: str | None, device, writer, step: int, out: str) -> dict:
    """Streaming inference + tracking on the val sequences, `mots eval` numbers logged and written as JSON."""
    import json

    from mots_ros.engine.infer import run_sequences
    from mots_ros.eval.evaluate import evaluate, nan_to_none
    from mots_ros.models.streaming import StreamingModel

    res_dir = os.path.join(out, "val", f"step{step:07d}")
    run_sequences(StreamingModel(model, device=device), os.path.join(data, "images"), seqmap, res_dir,
                  tracker_config=tracker_cfg)
    results = evaluate(os.path.join(data, "instances_txt"), res_dir, seqmap)
    with open(os.path.join(res_dir, "eval.json"), "w") as fh:
        json.dump(nan_to_none(results), fh, indent=1)
    for cls in ("car", "pedestrian"):
        for key in ("sMOTSA", "MOTSA", "IDF1", "HOTA"):
            value = results[cls]["combined"][key]
            if writer is not None and math.isfinite(value):
                writer.add_scalar(f"val/{cls}/{key}", value, step)
    log.info("step %d val sMOTSA car %.1f pedestrian %.1f", step, results["car"]["combined"]["sMOTSA"],
             results["pedestrian"]["combined"]["sMOTSA"])
    return results
