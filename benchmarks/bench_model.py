"""Per-frame cost of TrackR-CNN streaming inference against plain Mask R-CNN with the same backbone and input.

(a)  torchvision Mask R-CNN as it comes (NCHW, its full-image mask pasting), + threshold and RLE encoding
(a*) the same Mask R-CNN through this package's pipeline: NHWC, box-local mask pasting, RLE (no temporal block,
     no association head)
(b)  TrackR-CNN streaming (StreamingModel.push): backbone once per frame, temporal block one step per frame,
     association head
(c)  TrackR-CNN recomputing backbone features over the whole window (R frames) for every frame

All share the same weights (random, temporal block identity-initialised, so all give the same detections);
``box_detections_per_img`` caps the detections (random weights would otherwise give 100 per frame). The methods
are timed frame by frame in turn, so load from other processes hits them alike; medians are printed.

    python benchmarks/bench_model.py --backbone resnet18 --size 375x1242 --frames 6 --device cpu
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import OrderedDict

import numpy as np
import torch
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.image_list import ImageList

from mots_ros.data import rle
from mots_ros.models import StreamingModel, TrackRCNN, temporal_window
from mots_ros.models.trackrcnn_decode import frame_detections
from mots_ros.models.trackrcnn import BACKBONES, build_backbone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="resnet18", choices=BACKBONES)
    ap.add_argument("--size", default="375x1242", help="input HxW (also the model's resize, so no rescaling)")
    ap.add_argument("--frames", type=int, default=6, help="timed frames per method")
    ap.add_argument("--detections", type=int, default=20, help="box_detections_per_img")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.lower().split("x"))
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    torch.manual_seed(0)
    kw = dict(min_size=min(h, w), max_size=max(h, w), box_detections_per_img=args.detections)
    model = TrackRCNN(args.backbone, **kw).eval().to(dev)
    cfg = model.config
    plain = MaskRCNN(build_backbone(args.backbone, cfg["frozen_bn"], cfg["bn_eps"], cfg["trainable_backbone_layers"]),
                     num_classes=cfg["num_classes"], rpn_anchor_generator=model.rpn.anchor_generator, **kw)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k in plain.state_dict()})
    plain.eval().to(dev)
    stream = StreamingModel(model, device=dev)
    R, k = model.receptive_field, stream.lookahead

    rng = np.random.RandomState(0)
    n = args.frames + k + 2
    images = [(rng.rand(h, w, 3) * 255).astype(np.uint8) for _ in range(n)]
    tensors = [torch.from_numpy(im).permute(2, 0, 1).float().div(255).to(dev) for im in images]

    def a(t):
        out = plain([tensors[t]])[0]
        masks = (out["masks"][:, 0] >= 0.5).cpu().numpy()
        if len(masks):
            rle.encode(masks.transpose(1, 2, 0))
        return len(out["scores"])

    def a_star(t):
        image_list, feats, _ = model.features([tensors[t]])
        proposals, _ = model.rpn(image_list, feats)
        det = model.roi_heads(feats, proposals, image_list.image_sizes)[0][0]
        det["embeddings"] = det["boxes"].new_zeros((len(det["boxes"]), 0))
        return len(frame_detections(det, image_list.image_sizes[0], t, t, h, w))

    def b(t):
        return len(stream.push(images[t + k], t + k, t + k)[0])

    def c(t):
        window = temporal_window(n, t, k, R)
        image_list, feats, _ = model.features([tensors[j] for j in window])
        one = ImageList(image_list.tensors[:1], image_list.image_sizes[:1])
        det = model.heads(one, model.temporal_features(feats, pad=False))[0][0]
        return len(frame_detections(det, image_list.image_sizes[0], t, t, h, w))

    methods = OrderedDict([
        ("(a)  torchvision Mask R-CNN as is (+ RLE)", a),
        ("(a*) Mask R-CNN, this pipeline (NHWC, box paste, RLE)", a_star),
        ("(b)  TrackR-CNN streaming (features once per frame)", b),
        ("(c)  TrackR-CNN, window features recomputed per frame", c),
    ])
    times = {name: [] for name in methods}
    counts = {name: [] for name in methods}
    with torch.inference_mode():
        for t in range(k):  # fill the lookahead (no output yet)
            stream.push(images[t], t, t)
        for t in range(args.frames + 1):  # the first round is a warm-up
            for name, fn in methods.items():
                sync()
                t0 = time.perf_counter()
                counts[name].append(fn(t))
                sync()
                if t:
                    times[name].append(time.perf_counter() - t0)

    med = {name: statistics.median(v) * 1000 for name, v in times.items()}
    base, plain_ms = med[list(methods)[1]], med[list(methods)[0]]
    load = "n/a" if not hasattr(os, "getloadavg") else "%.1f" % os.getloadavg()[0]
    print(f"{args.backbone}, input {h}x{w} (no resize), {dev}, {torch.get_num_threads()} threads, "
          f"temporal receptive field {R}, lookahead {k}, {args.frames} frames (median), load average {load}")
    print(f"{'method':56s} {'ms/frame':>9s} {'vs (a*)':>8s} {'vs (a)':>7s} {'detections':>10s}")
    for name in methods:
        print(f"{name:56s} {med[name]:9.0f} {med[name] / base:8.2f} {med[name] / plain_ms:7.2f} "
              f"{statistics.median(counts[name]):10.0f}")


if __name__ == "__main__":
    main()
