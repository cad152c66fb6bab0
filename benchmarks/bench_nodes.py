"""ROS 2 node overhead: the same frames through the core directly and through inference_node -> tracker_node.

At 1242x375 (a `mots synth` sequence of that size, the shipped demo weights, causal lookahead 0 so that latency
is processing time, not waiting for future frames):
  * core: StreamingModel.push + Tracker.step per frame, in this process (the reference);
  * conversions: what the nodes do per frame besides model and tracker (image message -> array, detections and
    tracks to and from messages, CDR serialisation of both), timed in this process;
  * nodes, one frame at a time (the next image when the tracks of the previous one are back): latency from
    publishing an image to receiving its tracks (p50/p95), and the overhead = node latency - core time (goal: at
    most 5 ms);
  * nodes at --rate Hz (real time): frames published / received / dropped (goal: none lost when the model keeps
    up, i.e. when core time < 1000 / rate ms).

    .venv/bin/python benchmarks/bench_nodes.py [--frames 40] [--rate 10] [--device cpu]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

GOAL_MS = 5.0


def main() -> int:
    import rclpy
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header

    from mots_ros.data.synth import generate
    from mots_ros.data.windows import list_frames, read_image
    from mots_ros.engine.infer import DEMO_CHECKPOINT, DEMO_TRACKER
    from mots_ros.models.streaming import StreamingModel
    from mots_ros.models.weights import build_from_checkpoint
    from mots_ros.ros import replay
    from mots_ros.ros.convert import (detections_to_msg, image_to_rgb, msg_to_detections, ns_stamp, rgb_to_image,
                                      tracks_to_msg)
    from mots_ros.ros.launcher import Graph, LaunchArgs
    from mots_ros.tracking.config import load_tracker_config
    from mots_ros.tracking.tracker import Tracker

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--qos", default="sensor_data", choices=("sensor_data", "reliable"), help="image QoS")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench_nodes_")
    generate(os.path.join(tmp, "data"), sequences=1, frames=args.frames, size=(375, 1242), seed=3)
    images = [read_image(p) for p in list_frames(os.path.join(tmp, "data", "images", "0000")).values()]

    # ---- core, in process
    stream = StreamingModel(build_from_checkpoint(DEMO_CHECKPOINT), lookahead=0, device=args.device)
    tracker = Tracker(load_tracker_config(DEMO_TRACKER))
    core_ms, conv_ms, dets, tracks = [], [], [], []
    for i, rgb in enumerate(images):
        t = time.perf_counter()
        (det,) = stream.push(rgb, i, i)
        tr = tracker.step(det)
        core_ms.append((time.perf_counter() - t) * 1000)
        dets.append(det)
        tracks.append(tr)
    header = Header(stamp=ns_stamp(0), frame_id="camera")
    for i, rgb in enumerate(images):  # the nodes' per-frame work besides model and tracker
        img_msg = rgb_to_image(rgb, header)
        t = time.perf_counter()
        image_to_rgb(img_msg)
        dmsg = detections_to_msg(dets[i], header)
        serialize_message(dmsg)
        msg_to_detections(dmsg, i)
        tmsg = tracks_to_msg(tracks[i], header)
        serialize_message(tmsg)
        conv_ms.append((time.perf_counter() - t) * 1000)

    # ---- through the nodes
    def messages(t0):
        for i, rgb in enumerate(images):
            yield i, rgb_to_image(rgb, Header(stamp=ns_stamp(t0 + int(i * 1e9 / args.rate)), frame_id="camera"))

    la = LaunchArgs(extra_params=[DEMO_TRACKER], overrides={"inference_node": {"lookahead": 0, "device": args.device,
                                                                              "image_qos": args.qos}})
    with Graph(la, log_dir=os.path.join(tmp, "logs")) as graph:
        replay.init()
        client = replay.Replayer()
        client.wait_for_graph(check=graph.check)
        client.replay(messages(1_000_000_000 * 10 ** 9), check=graph.check)  # warm-up (first-call allocations)
        client.result = replay.ReplayResult()
        fast = client.replay(messages(1_100_000_000 * 10 ** 9), check=graph.check, one_at_a_time=True)
        client.result = replay.ReplayResult()
        rt = client.replay(messages(1_200_000_000 * 10 ** 9), realtime=True, check=graph.check)
        client.destroy_node()
        rclpy.try_shutdown()

    core50, core95 = np.percentile(core_ms, [50, 95])
    conv50 = float(np.percentile(conv_ms, 50))
    f, r = fast.transport(), rt.transport()
    overhead = f["latency_ms_p50"] - core50
    n_det = np.mean([len(d) for d in dets])
    print(f"{args.frames} frames 1242x375, {n_det:.1f} detections/frame, device {args.device}, lookahead 0\n")
    print(f"{'':34s} {'p50 ms':>8s} {'p95 ms':>8s}")
    print(f"{'core (model + tracker)':34s} {core50:8.1f} {core95:8.1f}")
    print(f"{'node conversions (in process)':34s} {conv50:8.2f} {np.percentile(conv_ms, 95):8.2f}")
    print(f"{'nodes: image -> tracks latency':34s} {f['latency_ms_p50']:8.1f} {f['latency_ms_p95']:8.1f}")
    print(f"\nnode overhead per frame (latency p50 - core p50): {overhead:.1f} ms "
          f"(goal <= {GOAL_MS:.0f} ms: {'met' if overhead <= GOAL_MS else 'MISSED'}); "
          f"ratio nodes/core {f['latency_ms_p50'] / core50:.3f}")
    keeps_up = core95 < 1000 / args.rate
    lat = (f"latency p50 {r['latency_ms_p50']:.1f} ms, p95 {r['latency_ms_p95']:.1f} ms" if r["received"]
           else "nothing received")
    print(f"at {args.rate:g} Hz: published {r['published']}, received {r['received']}, dropped {r['dropped']}; "
          f"{lat}; the model "
          f"{'keeps up' if keeps_up else 'does NOT keep up'} (core p95 {core95:.0f} ms vs {1000 / args.rate:.0f} ms)")
    ok = overhead <= GOAL_MS and (r["dropped"] == 0 or not keeps_up)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
