"""The node graph meets participants it does not configure: a camera publisher, RViz or a ``ros2`` shell with
default Fast DDS settings (issue: the nodes ran with LARGE_DATA transports and such peers got nothing; then a
default camera's best-effort 1242x375 frames did not fit its shared-memory segment and never arrived), and frames
too large for any transport, which must arrive or be counted as lost."""
import json
import os
import subprocess
import sys

import pytest

from mots_ros.ros.launcher import Graph, LaunchArgs
from mots_ros.ros.middleware import USER_SETTINGS

PEER = r"""
import json, sys, time
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from diagnostic_msgs.msg import DiagnosticArray
from mots_ros.msg import TrackedInstances

sizes = json.loads(sys.argv[1])  # [[h, w], ...]: one frame each, the next after the previous was taken or lost
cap = int(sys.argv[2])  # the kernel's socket buffer cap: frames up to it must arrive, larger ones may be lost
rclpy.init()
node = Node("default_peer")
pub = node.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)  # what camera drivers use
taken, tracks, overlays = [], [], []
watch = "--overlay" in sys.argv or "--reliable-overlay" in sys.argv
if watch:  # a default viewer, best effort or reliable (RViz offers both)
    node.create_subscription(Image, "/overlay", lambda m: overlays.append(m.header.frame_id),
                             10 if "--reliable-overlay" in sys.argv else qos_profile_sensor_data)
node.create_subscription(Header, "/inference_node/image_taken", lambda m: taken.append(m.frame_id), 10)
node.create_subscription(TrackedInstances, "/tracks", lambda m: tracks.append(m.header.frame_id), 10)
reports = []
node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: reports.extend(
    (ord(s.level), s.message, {v.key: v.value for v in s.values})
    for s in m.status if s.name.startswith("inference_node")), 10)
deadline = time.monotonic() + 60
nodes = {"inference_node", "tracker_node"}
while pub.get_subscription_count() < 1 + watch or not nodes <= set(node.get_node_names()):
    rclpy.spin_once(node, timeout_sec=0.05)
    if time.monotonic() > deadline:
        print(json.dumps({"error": "no match", "nodes": node.get_node_names()})); sys.exit(1)
time.sleep(0.5)
for i, (h, w) in enumerate(sizes):
    rgb = np.random.default_rng(i).integers(0, 256, (h, w, 3), np.uint8)
    msg = Image(height=h, width=w, encoding="rgb8", step=3 * w)
    msg.header.frame_id = str(i)
    msg.header.stamp.sec = 1000 + i
    msg.data = rgb.tobytes()
    pub.publish(msg)
    end = time.monotonic() + (30 if 3 * h * w <= cap else 4)  # a frame that may be lost: do not wait long
    while str(i) not in taken and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
end = time.monotonic() + 10
while (len(tracks) < len(taken) or watch and len(overlays) < len(tracks)) and time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
n = len(reports)
end = time.monotonic() + 5
while len(reports) < n + 2 and time.monotonic() < end:  # a report made after the last frame
    rclpy.spin_once(node, timeout_sec=0.05)
print(json.dumps({"nodes": sorted(node.get_node_names()), "taken": taken, "tracks": tracks,
                  "overlays": overlays, "diagnostics": reports[-1] if reports else None}))
node.destroy_node()
rclpy.shutdown()  # leave the graph at once (the tracker stops taking images when its last viewer has gone)
"""


def _default_env(**extra) -> dict:
    """This environment without any Fast DDS setting: what a user's shell or camera driver has."""
    env = {k: v for k, v in os.environ.items() if k not in USER_SETTINGS}
    return {**env, **extra}


def socket_cap() -> int:
    """The most a socket's receive buffer may hold (``net.core.rmem_max``; Linux's usual 208 KB if unreadable):
    the nodes ask for more, and a best-effort frame larger than what they get may be lost."""
    try:
        with open("/proc/sys/net/core/rmem_max") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 212992


def _peer(tmp_path, sizes, *flags, prefix=(), **env):
    script = tmp_path / "peer.py"
    script.write_text(PEER)
    command = [sys.executable, str(script), json.dumps(sizes), str(socket_cap()), *flags]
    proc = subprocess.run([*prefix, *command], env=_default_env(**env), capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def other_host():
    """A command prefix that runs a process as on a second host, or the reason there is none: its own network
    namespace, joined to this one by a veth pair (10.213.0.2 there, 10.213.0.1 here), and its own /dev/shm, so
    that only the network connects it to the nodes. Made before the nodes start, as a host's interfaces are up
    before its nodes (Fast DDS takes the interfaces at start). Network namespaces need CAP_NET_ADMIN."""
    name, link = f"mots_host_{os.getpid()}", f"mv{os.getpid() % 100000}"
    setup = [["ip", "netns", "add", name], ["ip", "link", "add", link, "type", "veth", "peer", "name", link + "b"],
             ["ip", "link", "set", link + "b", "netns", name], ["ip", "addr", "add", "10.213.0.1/24", "dev", link],
             ["ip", "link", "set", link, "up"],
             ["ip", "netns", "exec", name, "ip", "addr", "add", "10.213.0.2/24", "dev", link + "b"],
             ["ip", "netns", "exec", name, "ip", "link", "set", link + "b", "up"],
             ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
             ["ip", "netns", "exec", name, "ip", "route", "add", "default", "dev", link + "b"]]
    prefix = ["ip", "netns", "exec", name, "unshare", "--mount", "sh", "-c",
              'mount -t tmpfs tmpfs /dev/shm && exec "$@"', "sh"]
    try:
        for command in setup:
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                prefix = f"no second network namespace here ({' '.join(command)}: {done.stderr.strip()})"
                break
    except FileNotFoundError as e:
        prefix = f"no second network namespace here ({e})"
    try:
        yield prefix
    finally:
        subprocess.run(["ip", "link", "del", link], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture(scope="module")
def graph(tmp_path_factory, other_host):
    domain = str(140 + os.getpid() % 50)
    os.environ["ROS_DOMAIN_ID"] = domain
    g = Graph(LaunchArgs(overrides={"inference_node": {"device": "cpu"}}),
              log_dir=str(tmp_path_factory.mktemp("logs"))).start()
    try:
        yield g, domain
    finally:
        codes = g.stop()
        assert codes == {"inference_node": 0, "tracker_node": 0}, codes


@pytest.fixture(scope="module")
def lookahead() -> int:
    """The demo weights' lookahead: the tracks of frame t come with frame t + lookahead."""
    from mots_ros.engine.build import DEMO_CHECKPOINT
    from mots_ros.models.weights import build_from_checkpoint

    return build_from_checkpoint(DEMO_CHECKPOINT).lookahead


def test_a_default_configured_camera_gets_tracks_back(graph, tmp_path, lookahead):
    """A default camera's best-effort KITTI-size frames (1242x375, 1.4 MB: more than its 512 KB shared-memory
    segment) reach the nodes, and a default best-effort viewer gets every overlay (from the nodes' segment)."""
    g, domain = graph
    out = _peer(tmp_path, [[375, 1242]] * 5, "--overlay", ROS_DOMAIN_ID=domain)
    assert {"inference_node", "tracker_node"} <= set(out["nodes"])  # `ros2 node list` from a default shell
    if 3 * 375 * 1242 <= socket_cap():
        assert out["taken"] == ["0", "1", "2", "3", "4"], out
    else:  # a kernel that caps socket buffers below a frame: what does not arrive is counted
        assert len(out["taken"]) + int(out["diagnostics"][2]["skipped"]) == 5, out
    assert out["tracks"] == out["taken"][:len(out["taken"]) - lookahead], out
    assert out["overlays"] == out["tracks"], out
    g.check()


def test_a_default_camera_on_another_host_gets_tracks_back(graph, tmp_path, other_host, lookahead):
    """The same from a second host (network namespace, own /dev/shm, UDPv4 only as its shared memory reaches no
    one; in one kernel it would share the nodes' host id): the nodes' topics announce addresses the other host
    reaches, its frames arrive over UDP and a reliable viewer there gets every overlay."""
    if isinstance(other_host, str):
        pytest.skip(other_host)
    g, domain = graph
    out = _peer(tmp_path, [[375, 1242]] * 5, "--reliable-overlay", prefix=other_host, ROS_DOMAIN_ID=domain,
                FASTDDS_BUILTIN_TRANSPORTS="UDPv4")
    assert {"inference_node", "tracker_node"} <= set(out["nodes"]), out
    assert out["taken"] == ["0", "1", "2", "3", "4"], out
    k = 5 - lookahead  # the tracks and overlays of this camera's frames (an earlier camera's last ones may lead)
    log = [line for line in open(g.logs["tracker_node"]) if "WARN" in line]
    assert out["tracks"][-k:] == out["taken"][:k] and out["overlays"][-k:] == out["tracks"][-k:], (out, log)
    g.check()


def test_large_frames_of_a_default_camera_arrive_or_are_counted(graph, tmp_path):
    """Best-effort frames of 1920x1080 (6.2 MB) and 2592x1944 (15 MB) from a default camera arrive or, where
    they exceed what the kernel lets a socket buffer (`net.core.rmem_max`), are counted: the node's /diagnostics
    count every frame of the camera it did not get (a small frame first and last, so that the publisher's
    sequence numbers show the gap)."""
    g, domain = graph
    sizes = [[188, 620]] + [[1080, 1920]] * 2 + [[1944, 2592]] * 2 + [[188, 620]]
    out = _peer(tmp_path, sizes, ROS_DOMAIN_ID=domain)
    assert out["taken"][0] == "0" and out["taken"][-1] == str(len(sizes) - 1), out
    level, message, values = out["diagnostics"]
    assert len(out["taken"]) + int(values["skipped"]) == len(sizes), out
    assert int(values["taken"]) >= len(out["taken"]) and values["device"] == "cpu"
    if len(out["taken"]) < len(sizes):
        log = open(g.logs["inference_node"]).read()
        assert "frames lost on the way" in log or int(values["skipped"]) > 0
    g.check()
