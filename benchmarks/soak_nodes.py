"""Soak test of the node graph's start-up and shutdown: many cycles of starting the graph, replaying frames and
sending SIGINT, through `mots launch` (`Graph`) and, when `ros2` is on PATH with mots_ros installed for it,
through the real `ros2 launch mots_ros tracker.launch.py`.

Per cycle: start the graph; wait until it is ready (`Replayer.wait_for_graph`: the nodes' topics and services
matched with this client); replay --frames frames (each as soon as the inference node took the previous one);
SIGINT. Reported: the first frame's latency from the moment the graph was ready to its tracks (distribution),
frames lost, clean exits (every node status 0; for `ros2 launch` no "process has died" and both nodes "finished
cleanly"), the slowest stop (SIGINT -> all processes gone). Goal: every cycle clean, no frame lost, first-frame
tracks within 2 s of the graph being ready.

    .venv/bin/python benchmarks/soak_nodes.py [--cycles 50] [--frames 20] [--launcher mots ros2 ...] [--load N]

``--load N`` runs N busy processes (one core each) for the whole soak: the nodes start, replay and stop on a
saturated CPU, as beside a training run, where stop faults were seen that a quiet machine did not show.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

GOAL_FIRST_S = 2.0


def start_mots(log_dir: str):
    """`mots launch`'s graph: (stop() -> (clean, log text), check)."""
    from mots_ros.ros.launcher import Graph, LaunchArgs

    graph = Graph(LaunchArgs(overrides={"inference_node": {"device": "cpu"}}), log_dir=log_dir).start()

    def stop():
        codes = graph.stop()
        logs = "".join(f"--- {n}\n{graph.log_tail(n, 40)}" for n in codes)
        return all(c == 0 for c in codes.values()), f"{codes}\n{logs}"

    return stop, graph.check


def start_ros2(log_dir: str):
    """`ros2 launch mots_ros tracker.launch.py device:=cpu` in its own process group, stopped as a terminal's
    Ctrl-C would (SIGINT to the group)."""
    log = open(os.path.join(log_dir, "ros2_launch.log"), "w")
    proc = subprocess.Popen(["ros2", "launch", "mots_ros", "tracker.launch.py", "device:=cpu"], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)

    def check():
        if proc.poll() is not None:
            raise RuntimeError(f"ros2 launch exited with {proc.returncode}")

    def stop():
        with contextlib.suppress(ProcessLookupError):  # ros2 launch may have exited already (a failed cycle)
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        text = open(log.name).read()
        clean = (proc.returncode == 0 and "process has died" not in text
                 and text.count("process has finished cleanly") >= 2)
        return clean, text

    return stop, check


def cycle(start, images, t0: int, log_dir: str) -> dict:
    from std_msgs.msg import Header

    from mots_ros.ros import replay
    from mots_ros.ros.convert import ns_stamp, rgb_to_image

    stop, check = start(log_dir)
    client = replay.Replayer()
    out = {"ready": False, "lost": len(images), "first_s": float("nan"), "clean": False, "stop_s": float("nan")}
    try:
        client.wait_for_graph(timeout=120, check=check)
        ready = time.perf_counter()
        out["ready"] = True
        msgs = ((i, rgb_to_image(im, Header(stamp=ns_stamp(t0 + i * 100_000_000), frame_id="cam")))
                for i, im in enumerate(images))
        res = client.replay(msgs, timeout=60, check=check)
        out["lost"] = len(images) - res.received
        out["first_s"] = res.arrived[0] - ready if 0 in res.arrived else float("nan")
    except Exception as e:  # a failed cycle is a result: counted and shown, the soak goes on
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        client.destroy_node()
        t = time.perf_counter()
        out["clean"], out["log"] = stop()
        out["stop_s"] = time.perf_counter() - t
    return out


def summary(name: str, results: list[dict]) -> str:
    first = np.array([r["first_s"] for r in results])
    ok = first[np.isfinite(first)]
    clean = sum(r["clean"] for r in results)
    lost = sum(r["lost"] for r in results)
    pct = (lambda q: f"{np.percentile(ok, q):.2f}") if len(ok) else (lambda q: "-")
    within = int((ok <= GOAL_FIRST_S).sum())
    return (f"{name:<12} {len(results):>6} {clean:>6} {lost:>11} {pct(50):>9} {pct(95):>9} "
            f"{(f'{ok.max():.2f}' if len(ok) else '-'):>9} {within:>8}/{len(results):<3} "
            f"{max(r['stop_s'] for r in results):>8.2f}")


def main() -> int:
    import rclpy

    from mots_ros.data.synth import generate
    from mots_ros.data.windows import list_frames, read_image
    from mots_ros.ros import replay

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--size", type=int, nargs=2, default=(375, 1242), metavar=("H", "W"))
    ap.add_argument("--launcher", nargs="+", default=["mots", "ros2"], choices=("mots", "ros2"))
    ap.add_argument("--load", type=int, default=0, help="busy processes beside the graph (CPU load)")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="soak_")
    generate(os.path.join(tmp, "data"), sequences=1, frames=args.frames, size=tuple(args.size), seed=4)
    images = [read_image(p) for p in list_frames(os.path.join(tmp, "data", "images", "0000")).values()]
    launchers = {"mots": start_mots, "ros2": start_ros2}
    if "ros2" in args.launcher and shutil.which("ros2") is None:
        print("soak: ros2 not on PATH (see README, ROS 2): the real `ros2 launch` is skipped", file=sys.stderr)
        args.launcher = [n for n in args.launcher if n != "ros2"]
    os.environ.setdefault("ROS_DOMAIN_ID", str(60 + os.getpid() % 40))
    replay.init()
    from tqdm import tqdm

    rows = []
    load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        for name in args.launcher:
            results = []
            for c in tqdm(range(args.cycles), desc=f"soak {name}", unit="cycle"):
                log_dir = os.path.join(tmp, f"{name}_{c:03d}")
                os.makedirs(log_dir)
                r = cycle(launchers[name], images, 1_700_000_000_000_000_000 + c * 10**12, log_dir)
                results.append(r)
                if not r["clean"] or r["lost"] or not r["first_s"] <= GOAL_FIRST_S:
                    tqdm.write(f"cycle {c}: clean {r['clean']}, lost {r['lost']}, first {r['first_s']:.2f} s, "
                               f"stop {r['stop_s']:.2f} s {r.get('error', '')} (logs: {log_dir})")
            rows.append(summary(name, results))
            tqdm.write(rows[-1])  # at once: a later launcher's failure must not lose this one's figures
    finally:
        for p in load:
            p.kill()
            p.wait()
        rclpy.try_shutdown()
    print(f"\n{args.cycles} cycles per launcher, {args.frames} frames of {args.size[0]}x{args.size[1]} per cycle, "
          f"CPU{f' beside {args.load} busy processes' if args.load else ''}, demo weights (logs: {tmp})")
    print(f"{'launcher':<12} {'cycles':>6} {'clean':>6} {'frames lost':>11} {'first p50':>9} {'first p95':>9} "
          f"{'first max':>9} {'<= 2 s':>12} {'stop max':>8}")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
