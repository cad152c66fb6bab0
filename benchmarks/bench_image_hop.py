"""The transport floor under the node overhead: one image hop between two bare rclpy processes, no model, no node.

A camera process publishes rgb8 frames (best effort, sensor-data QoS, one after the other) and an echo process
answers each with its header (reliable); the round trip is what `bench_nodes.py` calls "image hop + ack", here
without the nodes' Python work. Side by side, per frame size (1242x375, the KITTI frames of the node benchmark,
and 320x240, to show the fixed cost) and per pair of DDS settings:
  * default camera -> the nodes' profile (`config/fastdds.xml`): what a camera driver meets today;
  * both on the nodes' profile;
  * both UDPv4 only (`FASTDDS_BUILTIN_TRANSPORTS=UDPv4`, the kernel's default socket buffers);
  * both on Fast DDS defaults (shared memory with the camera's 512 KB segment).
Lost frames (no answer within 1 s) are counted, not timed. Ratios are against the first row of each size.

    .venv/bin/python benchmarks/bench_image_hop.py [--frames 60]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE = {"FASTDDS_DEFAULT_PROFILES_FILE": os.path.join(REPO, "config", "fastdds.xml")}
UDP = {"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}
PAIRS = (("default camera -> nodes' profile", {}, PROFILE), ("both nodes' profile", PROFILE, PROFILE),
         ("both UDPv4 only", UDP, UDP), ("both Fast DDS defaults", {}, {}))
SIZES = ((375, 1242), (240, 320))
DOMAIN = str(200 + os.getpid() % 30)


def echo() -> None:
    """Answer each image on ``img`` with its header on ``ack``."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    rclpy.init()
    node = rclpy.create_node("hop_echo")
    pub = node.create_publisher(Header, "ack", 10)
    node.create_subscription(Image, "img", lambda m: pub.publish(m.header), qos_profile_sensor_data)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass


def camera(frames: int, height: int, width: int) -> None:
    """Publish ``frames`` images one after the other; print the round trips (ms, 'lost' for none in 1 s)."""
    import threading

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    rclpy.init()
    node = rclpy.create_node("hop_camera")
    got = threading.Event()
    node.create_subscription(Header, "ack", lambda m: got.set(), 10)
    pub = node.create_publisher(Image, "img", qos_profile_sensor_data)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    deadline = time.monotonic() + 30
    while (pub.get_subscription_count() == 0 or node.count_publishers("ack") == 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)  # both directions matched (the graph shows endpoints before their readers match)
    msg = Image(height=height, width=width, encoding="rgb8", step=width * 3)
    msg.data = np.random.default_rng(0).integers(0, 256, height * width * 3, np.uint8).tobytes()
    out = []
    for _ in range(frames):
        got.clear()
        t = time.perf_counter()
        pub.publish(msg)
        out.append(f"{(time.perf_counter() - t) * 1000:.3f}" if got.wait(1.0) else "lost")
        time.sleep(0.05)
    print(" ".join(out), flush=True)
    os._exit(0)  # the executor thread is daemonic; leave without a shutdown race


def run_pair(camera_env: dict, echo_env: dict, size: tuple[int, int], frames: int) -> list:
    """Round trips (ms; None for lost) of one camera/echo pair."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FASTDDS_", "FASTRTPS_"))}
    base["ROS_DOMAIN_ID"] = DOMAIN
    peer = subprocess.Popen([sys.executable, __file__, "--echo"], env={**base, **echo_env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2.0)
        p = subprocess.run([sys.executable, __file__, "--camera", str(frames), *map(str, size)],
                           env={**base, **camera_env}, capture_output=True, text=True, timeout=120)
        words = p.stdout.split()
    except subprocess.TimeoutExpired:
        words = []
    finally:
        peer.terminate()
        peer.wait(10)
    return [None if w == "lost" else float(w) for w in words] or [None] * frames


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--echo", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--camera", type=int, nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.frames < 1:
        ap.error(f"--frames must be at least 1, got {args.frames}")
    if args.echo:
        echo()
        return 0
    if args.camera:
        camera(*args.camera)
        return 0
    print(f"{'pair of DDS settings':34s} {'frame':>9s} {'received':>9s} {'p50 ms':>8s} {'p95 ms':>8s} {'ratio':>6s}")
    for size in SIZES:
        reference = None
        for label, camera_env, echo_env in PAIRS:
            times = run_pair(camera_env, echo_env, size, args.frames)
            ok = [t for t in times if t is not None]
            p50 = float(np.median(ok)) if ok else float("nan")
            p95 = float(np.percentile(ok, 95)) if ok else float("nan")
            reference = p50 if reference is None else reference
            print(f"{label:34s} {size[1]:>4d}x{size[0]:<4d} {len(ok):>4d}/{len(times):<4d} {p50:8.2f} {p95:8.2f} "
                  f"{p50 / reference:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
