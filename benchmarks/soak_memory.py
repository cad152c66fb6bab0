"""Memory of the nodes over a long replay: the graph (`mots launch`'s) runs --minutes at --rate Hz of camera
frames (a `mots synth` sequence, replayed in one-minute chunks with increasing stamps), and the resident set
size of each node process is sampled every --every seconds. Reported per node: RSS after warm-up and at the end,
and the slope of a least-squares line through the samples after --warmup minutes (goal: flat, within a few MB).

    .venv/bin/python benchmarks/soak_memory.py [--minutes 30] [--rate 10] [--size 188 620] [--csv rss.csv]
        [--plot rss.png]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

import numpy as np


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def sample(graph, every: float, samples: list, stop: threading.Event) -> None:
    t0 = time.monotonic()
    while not stop.wait(every):
        samples.append((time.monotonic() - t0, *(rss_mb(p.pid) for p in graph.procs.values())))


def main() -> int:
    import rclpy
    from std_msgs.msg import Header
    from tqdm import tqdm

    from mots_ros.data.synth import generate
    from mots_ros.data.windows import list_frames, read_image
    from mots_ros.engine.build import DEMO_TRACKER
    from mots_ros.ros import replay
    from mots_ros.ros.convert import ns_stamp, rgb_to_image
    from mots_ros.ros.launcher import Graph, LaunchArgs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--size", type=int, nargs=2, default=(188, 620), metavar=("H", "W"))
    ap.add_argument("--input-size", type=int, nargs=2, default=(188, 620), metavar=("MIN", "MAX"),
                    help="the model's input size (188 620: a model that keeps up with 10 Hz on this CPU)")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between RSS samples")
    ap.add_argument("--warmup", type=float, default=3.0, help="minutes left out of the slope")
    ap.add_argument("--csv", help="write the samples (seconds, RSS MB per node)")
    ap.add_argument("--plot", help="draw RSS over time per node as this PNG")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="soak_memory_")
    per_chunk = int(round(60 * args.rate))
    generate(os.path.join(tmp, "data"), sequences=1, frames=min(per_chunk, 100), size=tuple(args.size), seed=8)
    images = [read_image(p) for p in list_frames(os.path.join(tmp, "data", "images", "0000")).values()]
    os.environ.setdefault("ROS_DOMAIN_ID", str(20 + os.getpid() % 40))
    overrides = {"inference_node": {"device": "cpu", "input_min_size": args.input_size[0],
                                    "input_max_size": args.input_size[1]}}
    graph = Graph(LaunchArgs(extra_params=[DEMO_TRACKER], overrides=overrides), log_dir=os.path.join(tmp, "logs"))
    graph.start()
    replay.init()
    samples: list = []
    stop = threading.Event()
    published = received = 0
    try:
        client = replay.Replayer()
        client.wait_for_graph(check=graph.check)
        sampler = threading.Thread(target=sample, args=(graph, args.every, samples, stop), daemon=True)
        sampler.start()
        chunks = max(1, int(round(args.minutes)))
        t = 1_600_000_000_000_000_000
        for _ in tqdm(range(chunks), desc="soak memory", unit="min"):
            msgs = []
            for i in range(per_chunk):
                msgs.append((i, rgb_to_image(images[i % len(images)], Header(stamp=ns_stamp(t), frame_id="cam"))))
                t += int(1e9 / args.rate)
            client.result = replay.ReplayResult()
            res = client.replay(msgs, realtime=True, check=graph.check)
            published, received = published + res.published, received + res.received
            client._frames.clear()
            client._sent.clear()
        client.destroy_node()
    finally:
        stop.set()
        rclpy.try_shutdown()
        codes = graph.stop()
    names = list(graph.procs)
    data = np.array(samples)
    if args.csv:
        np.savetxt(args.csv, data, delimiter=",", header="seconds," + ",".join(f"{n}_rss_mb" for n in names),
                   fmt="%.2f")
    late = data[data[:, 0] >= 60 * args.warmup]
    print(f"\n{args.minutes:g} min at {args.rate:g} Hz, {args.size[0]}x{args.size[1]} frames, model input "
          f"{args.input_size[0]}x{args.input_size[1]}, CPU: {published} frames published, {received} got tracks "
          f"(the rest dropped by the depth-1 image queue while the model ran); node exit statuses {codes}")
    print(f"{'node':<16} {'RSS after warm-up':>18} {'RSS at the end':>15} {'slope after warm-up':>20}")
    for k, name in enumerate(names, 1):
        slope = np.polyfit(late[:, 0] / 60, late[:, k], 1)[0] if len(late) > 1 else float("nan")
        print(f"{name:<16} {late[0, k] if len(late) else float('nan'):>15.1f} MB {data[-1, k]:>12.1f} MB "
              f"{slope:>14.3f} MB/min")
    if args.plot:
        plot(data, names, args)
    return 0


def plot(data: np.ndarray, names: list[str], args) -> None:
    """RSS per node against minutes, the warm-up shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    for k, name in enumerate(names, 1):
        ax.plot(data[:, 0] / 60, data[:, k], label=name)
    ax.axvspan(0, args.warmup, color="0.9", label="warm-up (left out of the slope)")
    ax.set(xlabel="minutes", ylabel="RSS (MB)", title=f"node memory, {args.rate:g} Hz replay")
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=100)
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    sys.exit(main())
