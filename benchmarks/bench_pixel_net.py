"""Network time of pixel-embedding architectures side by side (issue 12 §6: where the pixel pipeline's frame
goes): the shipped demo architecture (plain 3x3 convolutions, output stride 4) against DeepLabV3+'s atrous
separable convolutions (``separable: true``) and output stride 8, each part timed by a forward hook.

Random weights with the demo config's widths (the time does not depend on the weights); the architectures run
frame by frame in turn, so load from other processes hits them alike; medians over ``--frames``, ratio against
the first row.

    python benchmarks/bench_pixel_net.py --size 376x1240 --frames 6 --threads 2
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench_pixel import Timers  # benchmarks/ is the script's first import path
from mots_ros.engine.build import demo_files
from mots_ros.models.pixel_embedding import build_pixel_embedding
from mots_ros.models.streaming import channels_last
from mots_ros.models.weights import read

PARTS = {"backbone": "backbone", "aspp": "aspp", "decoder": "decoder.fuse", "class branch": "class_head",
         "embedding branch": "embedding_head"}  # column: module (the decoder's two 3x3 convolutions)
VARIANTS = {"demo (plain, stride 4)": {}, "separable, stride 4": {"separable": True},
            "plain, stride 8": {"output_stride": 8}, "separable, stride 8": {"separable": True, "output_stride": 8}}


def demo_config() -> dict:
    """The shipped pixel demo weights' architecture arguments."""
    config = dict(read(demo_files("pixel_embedding")[0])["config"])
    return {k: v for k, v in config.items() if k not in ("pretrained", "weights_path")}


def timed_net(config: dict) -> tuple[torch.nn.Module, Timers]:
    """The net in eval mode with channels-last 2D weights (as :class:`~mots_ros.models.StreamingModel` runs it)
    and the timers of its parts."""
    net = channels_last(build_pixel_embedding(**config).eval())
    timers = Timers()
    for part, path in PARTS.items():
        timers.wrap(net.get_submodule(path), "forward", part)
    return net, timers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="376x1240", help="network input HxW (the demo's for a 375x1242 KITTI frame)")
    ap.add_argument("--frames", type=int, default=6, help="timed frames per architecture (one warm-up before)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.split("x"))
    base = demo_config()
    nets = {name: timed_net({**base, **over}) for name, over in VARIANTS.items()}
    x = torch.rand(1, 3, h, w).contiguous(memory_format=torch.channels_last)
    frames: dict[str, list[dict[str, float]]] = {name: [] for name in nets}  # per frame: seconds per part, total
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=args.precision == "bfloat16"):
        for i in range(args.frames + 1):
            for name, (net, timers) in nets.items():
                timers.frame.clear()
                start = time.perf_counter()
                net(x, resize=False)
                if i:  # frame 0 warms up
                    frames[name].append({**timers.frame, "total": time.perf_counter() - start})
    print(f"pixel-embedding network, {h}x{w}, {args.precision}, {torch.get_num_threads()} threads, median of "
          f"{args.frames} frames (ms); demo widths aspp/decoder/branch {base['aspp_maps']}/{base['decoder_maps']}/"
          f"{base['branch_maps']}")
    print(f"{'architecture':<26}{'total':>8}" + "".join(f"{p:>18}" for p in PARTS) + f"{'speed-up':>10}")
    def median_ms(name: str, key: str) -> float:
        return 1000 * statistics.median(f[key] for f in frames[name])

    reference = median_ms(next(iter(nets)), "total")
    for name in nets:
        parts = "".join(f"{median_ms(name, p):18.1f}" for p in PARTS)
        print(f"{name:<26}{median_ms(name, 'total'):8.1f}{parts}{reference / median_ms(name, 'total'):9.2f}x")


if __name__ == "__main__":
    main()
