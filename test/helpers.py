"""Builders for small hand-made sequences."""
import numpy as np

from mots_ros.data import rle
from mots_ros.data.formats import Sequence


def box(h, w, y0, x0, y1, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def make_seq(objects, name="0000"):
    """``objects``: list of (frame, id, mask) with ids class*1000+instance or 10000."""
    frames = np.array([o[0] for o in objects], np.int64)
    ids = np.array([o[1] for o in objects], np.int64)
    classes = np.where(ids == 10000, 10, ids // 1000)
    return Sequence(name, frames, ids, classes, [rle.encode(o[2])[0] for o in objects])


def random_frames(n: int, h: int, w: int, seed: int = 0) -> list:
    """``n`` (h, w, 3) uint8 frames of uniform noise."""
    rng = np.random.RandomState(seed)
    return [(rng.rand(h, w, 3) * 255).astype(np.uint8) for _ in range(n)]


def synth_frames(root, n: int, seed: int = 5, size=(188, 620)) -> list:
    """The frames of one `mots synth` sequence written under ``root``."""
    from mots_ros.data.synth import generate
    from mots_ros.data.windows import list_frames, read_image

    generate(str(root), sequences=1, frames=n, size=size, seed=seed)
    return [read_image(p) for p in list_frames(str(root / "images" / "0000")).values()]


def running_graph(args, log_dir, domain_offset: int = 0, **client_options):
    """Generator for a module fixture: the two nodes of ``args`` (a LaunchArgs) as processes (one with
    ``composed``) on a private DDS domain and a Replayer client matched with them; yields (graph, client), then
    stops both and asserts that every process exited 0 (their log tails otherwise)."""
    import os

    import rclpy

    from mots_ros.ros import replay
    from mots_ros.ros.launcher import Graph

    os.environ["ROS_DOMAIN_ID"] = str(100 + (os.getpid() + domain_offset) % 100)
    g = Graph(args, log_dir=str(log_dir)).start()
    replay.init()
    client = replay.Replayer(composed=args.composed, **client_options)
    try:
        client.wait_for_graph(check=g.check)
        yield g, client
    finally:
        client.destroy_node()
        rclpy.try_shutdown()
        codes = g.stop()
    want = {"composed_nodes": 0} if args.composed else {"inference_node": 0, "tracker_node": 0}
    assert codes == want, \
        f"nodes did not stop cleanly: {codes}\n" + "\n".join(f"{n}:\n{g.log_tail(n, 60)}" for n in codes)
