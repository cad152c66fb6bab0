"""`mots train`: TrackR-CNN training on a KITTI MOTS layout (thesis ch. 3-4).

Batches are windows of consecutive frames (default 8) through the temporal block; Adam with warm-up and a cosine
or step schedule; AMP on GPU; DistributedDataParallel under ``torchrun``; tqdm progress, TensorBoard and CSV logs;
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
import yaml

from mots_ros import MotsError
from mots_ros.models.weights import load_checkpoint, load_matching, save_checkpoint

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
    checkpoint_every: int = 200
    val_every: int = 0  # 0: only at the end (when a val seqmap is given)
    log_every: int = 10
    amp: bool = True  # mixed precision on CUDA
    workers: int = 2
    seed: int = 0
    half_weights: bool = False  # final model.pt with float16 weights (half the size)


def load_config(path: str) -> tuple[dict, TrainConfig, str | None]:
    """(model kwargs, training config, tracker config path) from a YAML file with ``model:`` and ``train:``."""
    try:
        with open(path) as fh:
            raw = yaml.safe_load(fh) or {}
    except OSError as e:
        raise MotsError(f"{path}: cannot read config ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise MotsError(f"{path}: not valid YAML ({e})") from None
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


def train(config_path: str, data: str, train_seqmap: str, out: str, val_seqmap: str | None = None,
          resume: bool = False, device: str | None = None, init: str | None = None) -> str:
    """Train and return the path of the final checkpoint (``OUT/model.pt``).

    ``init``: a checkpoint whose weights start the model wherever name and shape match (ignored when resuming
    from ``OUT/last.pt``)."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from mots_ros.data.windows import Augment, FrameWindows, collate_windows
    from mots_ros.models.trackrcnn import TrackRCNN

    model_kwargs, cfg, tracker_cfg = load_config(config_path)
    arch = model_kwargs.pop("arch", "trackrcnn")
    if arch != "trackrcnn":
        raise MotsError(f"{config_path}: mots train trains trackrcnn models only so far, not {arch!r} (issue 12)")
    rank, world, local_rank = _distributed()
    device = torch.device(device or (f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(cfg.seed + rank)
    rng = np.random.default_rng(cfg.seed + rank)
    os.makedirs(out, exist_ok=True)
    last = os.path.join(out, "last.pt")

    dataset = FrameWindows(data, train_seqmap, window=cfg.window,
                           augment=Augment(cfg.flip, tuple(cfg.gamma)), seed=cfg.seed + rank)
    model = TrackRCNN(**model_kwargs).to(device)
    model.scale_range = tuple(cfg.scale)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                                 weight_decay=cfg.weight_decay)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    step = 0
    if resume and os.path.exists(last):
        state = load_checkpoint(last, model)
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        step = int(state["step"])
        torch.set_rng_state(state["torch_rng"])
        rng.bit_generator.state = state["numpy_rng"]
        log.info("resumed %s at step %d", last, step)
    else:
        if resume:
            log.warning("--resume: no checkpoint at %s, starting from scratch", last)
        if init:
            skipped = load_matching(init, model)
            log.info("initialised from %s; %d tensors kept their initialisation: %s", init, len(skipped),
                     ", ".join(skipped))
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=10 ** 9,
                                             generator=torch.Generator().manual_seed(cfg.seed + rank + step))
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, sampler=sampler, num_workers=cfg.workers,
                                         collate_fn=collate_windows, persistent_workers=cfg.workers > 0)
    writer = SummaryWriter(os.path.join(out, "tensorboard")) if rank == 0 else None
    csv_path = os.path.join(out, "log.csv")
    csv_file = open(csv_path, "a", newline="") if rank == 0 else None
    csv_writer = None
    model.train()
    bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", disable=rank != 0)
    t0 = time.perf_counter()
    try:
        for (images, targets), in loader:
            if step >= cfg.steps:
                break
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, step)
            images = [i.to(device, non_blocking=True) for i in images]
            targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
            with torch.autocast(device.type, enabled=use_amp):
                losses = net(images, targets)
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
            step += 1
            bar.update(1)
            if rank == 0 and (step % cfg.log_every == 0 or step == cfg.steps):
                row = {"step": step, "lr": optimizer.param_groups[0]["lr"], "loss": loss.item(),
                       **{k: v.item() for k, v in losses.items()}, "seconds": time.perf_counter() - t0}
                bar.set_postfix(loss=f"{row['loss']:.3f}", assoc=f"{row.get('loss_association', 0):.3f}")
                for k, v in row.items():
                    if k != "step":
                        writer.add_scalar(f"train/{k}", v, step)
                if csv_writer is None:
                    csv_writer = csv.DictWriter(csv_file, fieldnames=list(row), extrasaction="ignore")
                    if csv_file.tell() == 0:
                        csv_writer.writeheader()
                csv_writer.writerow(row)
                csv_file.flush()
            if rank == 0 and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
                _save_state(last, model, optimizer, scaler, step, cfg, rng)
            if rank == 0 and val_seqmap and cfg.val_every and step % cfg.val_every == 0 and step < cfg.steps:
                _validate(model, data, val_seqmap, tracker_cfg, device, writer, step, out)
    finally:
        bar.close()
        if csv_file:
            csv_file.close()
    final = os.path.join(out, "model.pt")
    if rank == 0:
        save_checkpoint(final, model, half=cfg.half_weights, step=step)
        if val_seqmap:
            _validate(model, data, val_seqmap, tracker_cfg, device, writer, step, out)
        writer.close()
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
    model.train()
    return results
