"""Does a pixel-embedding model see the same embeddings in a training crop as in the whole frame (thesis 6.2.4)?

Training cuts each window to a crop (``train.crop``, 256x256 in the small config) at the test-time scale; at test
time the network sees the whole frame. For random crop-sized regions of annotated windows, this computes the
model's losses on the region's pixels twice: from the whole frames' outputs, and from the region alone put through
the network as a training crop (batch norm in eval mode both times, the same sampled pixels). A model whose
embeddings depend on where the crop's borders lie has a higher embedding loss in the whole frame than in the crop.

    .venv/bin/python benchmarks/diagnose_context.py --checkpoint CKPT --data DIR --seqmap FILE
        [--windows 10] [--regions 3] [--crop 256] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
import types

import numpy as np
import torch


def region_losses(model, frames, classes, instances, rng, regions: int, crop: int) -> list[tuple[float, ...]]:
    """[(embedding loss whole, embedding loss crop, class loss whole, class loss crop)] of up to ``regions``
    random ``crop``-sized regions of one window that hold at least 50 instance pixels (raw losses: the embedding
    term without its weight)."""
    stride = model.output_stride
    x = torch.nn.functional.interpolate(frames, size=model.resized_size(*frames.shape[-2:]), mode="bilinear",
                                        align_corners=False)
    side = crop // stride
    out = []
    with torch.no_grad():
        logits, embeddings, *_ = model(x, resize=False)
        for _ in range(regions):
            top = int(rng.integers(0, max(0, x.shape[-2] - crop) // stride + 1))
            left = int(rng.integers(0, max(0, x.shape[-1] - crop) // stride + 1))
            rows, cols = slice(top, top + side), slice(left, left + side)
            cls, ids = classes[:, rows, cols], instances[:, rows, cols]
            if (ids > 0).sum() < 50:
                continue
            cut = x[..., top * stride:top * stride + crop, left * stride:left * stride + crop].contiguous()
            crop_logits, crop_embeddings, *_ = model(cut, resize=False)
            torch.manual_seed(0)
            whole = model.loss(logits[..., rows, cols], embeddings[..., rows, cols], cls, ids)
            torch.manual_seed(0)
            alone = model.loss(crop_logits, crop_embeddings, cls, ids)
            w = model.loss.weight
            out.append((whole["loss_embedding"].item() / w, alone["loss_embedding"].item() / w,
                        whole["loss_class"].item(), alone["loss_class"].item()))
    return out


def main() -> int:
    from mots_ros.data.windows import FrameWindows
    from mots_ros.models.pixel_embedding.train import PixelTraining
    from mots_ros.models.weights import build_from_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True, help="KITTI MOTS layout (images/, instances_txt/)")
    ap.add_argument("--seqmap", required=True)
    ap.add_argument("--windows", type=int, default=10, help="random windows of 4 frames")
    ap.add_argument("--regions", type=int, default=3, help="regions per window")
    ap.add_argument("--crop", type=int, default=256, help="region side in network input pixels (train.crop)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = build_from_checkpoint(args.checkpoint).float().eval()
    family = PixelTraining(model, types.SimpleNamespace(crop=None, scale=[1.0, 1.0]))
    data = FrameWindows(args.data, args.seqmap, window=4, seed=args.seed, transform=family.window)
    rng = np.random.default_rng(args.seed)
    rows = []
    for index in rng.choice(len(data), min(args.windows, len(data)), replace=False):
        frames, classes, instances, _ = data[int(index)]
        rows += region_losses(model, frames, classes, instances, rng, args.regions, args.crop)
    if not rows:
        print("no region held enough instance pixels", file=sys.stderr)
        return 2
    r = np.array(rows)
    print(f"{args.checkpoint}: {len(r)} regions of {args.crop}x{args.crop} input pixels")
    print(f"embedding loss  whole frame {r[:, 0].mean():.3f}  crop alone {r[:, 1].mean():.3f}  "
          f"ratio {r[:, 0].mean() / r[:, 1].mean():.2f}")
    print(f"class loss      whole frame {r[:, 2].mean():.4f}  crop alone {r[:, 3].mean():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
