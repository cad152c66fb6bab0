"""Feed camera frames to a running node graph and collect what it publishes: the client side of `mots demo`,
`mots bag evaluate`, the node tests and benchmarks/bench_nodes.py.

Without ``realtime`` the next frame goes out when the inference node has taken the previous one from its
queue (its ``~/image_taken`` topic), so the depth-1 image queue never drops a frame and the graph runs as fast
as it can; at the end the frames still waiting for their lookahead are flushed (``~/flush`` service). With
``realtime`` frames go out at their stamps' pace and frames the nodes could not keep up with are counted as
dropped. A frame a node reports dropped (``inference_node/image_dropped``: a bad image;
``tracker_node/detections_dropped``) is counted in ``rejected`` and not waited for. Latency is measured from
publishing an image to receiving its tracks (same clock, this process)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from mots_ros import MotsError
from mots_ros.msg import TrackedInstances
from mots_ros.ros import middleware
from mots_ros.ros.convert import image_to_rgb, msg_to_tracks, stamp_ns
from mots_ros.tracking.types import FrameTracks


@dataclass
class ReplayResult:
    tracks: dict = field(default_factory=dict)  # frame -> FrameTracks
    overlays: dict = field(default_factory=dict)  # frame -> (H, W, 3) uint8, when asked for
    instance_images: dict = field(default_factory=dict)  # frame -> (H, W) uint16, when asked for
    frame_ids: dict = field(default_factory=dict)  # frame -> header.frame_id of its tracks
    published: int = 0
    latencies: list = field(default_factory=list)  # seconds, publish -> tracks, per received frame
    taken_latencies: list = field(default_factory=list)  # seconds, publish -> the inference node's ack
    seconds: float = 0.0  # first publish -> last tracks
    rejected: set = field(default_factory=set)  # frames a node reported dropped (~/image_dropped, ...)
    arrived: dict = field(default_factory=dict)  # frame -> time.perf_counter() when its tracks arrived

    @property
    def received(self) -> int:
        return len(self.tracks)

    @property
    def dropped(self) -> int:
        return self.published - self.received

    def transport(self) -> dict:
        """Counts and latency percentiles (ms) for reports and ``--json``."""
        lat = np.asarray(self.latencies) * 1000
        return {"published": self.published, "received": self.received, "dropped": self.dropped,
                "rejected_by_nodes": len(self.rejected),
                "latency_ms_p50": float(np.percentile(lat, 50)) if len(lat) else None,
                "latency_ms_p95": float(np.percentile(lat, 95)) if len(lat) else None,
                "seconds": self.seconds, "fps": self.received / self.seconds if self.seconds > 0 else None}


def init(args=None) -> None:
    """``rclpy.init`` with the nodes' DDS settings (:mod:`mots_ros.ros.middleware`), whose shared-memory segment
    holds the large frames this client publishes."""
    middleware.configure()
    rclpy.init(args=args)


def _topic(namespace: str, name: str) -> str:
    ns = namespace.strip("/")
    return f"/{ns}/{name}" if ns else f"/{name}"


class Replayer(Node):
    """A client node: publishes Images on ``camera_topic`` (``transport`` 'raw') or CompressedImages on
    ``camera_topic/compressed`` ('compressed', the nodes' ``image_transport``), subscribes ``tracks`` (+ ``overlay``
    / ``instance_image``) in ``namespace``. Create after :func:`init`."""

    def __init__(self, camera_topic: str = "/camera/image_raw", namespace: str = "", overlay: bool = False,
                 instance_image: bool = False, transport: str = "raw", composed: bool = False):
        super().__init__("mots_replay")
        self.composed = composed  # the nodes of composed_nodes: no detections topic between them
        compressed = transport == "compressed"
        self.camera_topic = camera_topic + "/compressed" if compressed else camera_topic  # the topic published
        self.namespace = namespace
        self.pub = self.create_publisher(CompressedImage if compressed else Image, self.camera_topic, 10)
        subs = [self.create_subscription(TrackedInstances, _topic(namespace, "tracks"), self._on_tracks, 100),
                self.create_subscription(Header, _topic(namespace, "inference_node/image_taken"), self._on_taken, 100)]
        self._overlay, self._instance = overlay, instance_image
        if overlay:
            subs.append(self.create_subscription(Image, _topic(namespace, "overlay"), self._on_overlay, 100))
        if instance_image:
            subs.append(self.create_subscription(Image, _topic(namespace, "instance_image"), self._on_instance, 100))
        for name in ("inference_node/image_dropped", "tracker_node/detections_dropped"):
            subs.append(self.create_subscription(Header, _topic(namespace, name), self._on_dropped, 100))
        self._subs = subs
        self._diagnostics: dict[str, dict] = {}  # status name -> key -> value, the latest of each node
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.flush_client = self.create_client(Trigger, _topic(namespace, "inference_node/flush"))
        self._frames: dict[int, int] = {}  # stamp ns -> frame
        self._sent: dict[int, float] = {}  # stamp ns -> publish time
        self._taken = 0
        self.result = ReplayResult()
        self._last_rx = 0.0

    # ------------------------------------------------------------------ callbacks
    def _on_taken(self, msg: Header) -> None:
        sent = self._sent.get(stamp_ns(msg.stamp))
        if sent is not None:
            self._taken += 1
            self.result.taken_latencies.append(time.perf_counter() - sent)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self._diagnostics[status.name] = {v.key: v.value for v in status.values}

    def _on_dropped(self, msg: Header) -> None:
        frame = self._frames.get(stamp_ns(msg.stamp))
        if frame is not None:
            self.result.rejected.add(frame)

    def _on_tracks(self, msg: TrackedInstances) -> None:
        stamp = stamp_ns(msg.header.stamp)
        frame = self._frames.get(stamp)
        if frame is None:
            self.get_logger().warning(f"tracks stamped {stamp} match no published frame; ignored")
            return
        self._last_rx = time.perf_counter()
        self.result.arrived[frame] = self._last_rx
        self.result.latencies.append(self._last_rx - self._sent[stamp])
        self.result.tracks[frame] = msg_to_tracks(msg, frame)
        self.result.frame_ids[frame] = msg.header.frame_id

    def _on_overlay(self, msg: Image) -> None:
        frame = self._frames.get(stamp_ns(msg.header.stamp))
        if frame is not None:
            self.result.overlays[frame] = np.array(image_to_rgb(msg))

    def _on_instance(self, msg: Image) -> None:
        frame = self._frames.get(stamp_ns(msg.header.stamp))
        if frame is not None:
            self.result.instance_images[frame] = np.frombuffer(msg.data, np.uint16).reshape(msg.height, msg.width)

    # ------------------------------------------------------------------ driving
    def spin_until(self, done, timeout: float, what: str, check=None) -> None:
        """Spin until ``done()``; an error naming ``what`` after ``timeout`` s; ``check()`` each turn (e.g.
        :meth:`Graph.check`, which raises when a node process died)."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise MotsError(f"timed out after {timeout:.0f} s waiting for {what}")
            if check is not None:
                check()
            rclpy.spin_once(self, timeout_sec=0.05)

    def wait_for_graph(self, timeout: float = 120.0, check=None) -> None:
        """Until the inference node subscribes the camera topic (its model is loaded), the tracker publishes and
        the detections topic between them has both ends (composed nodes: its publisher)."""
        tracks, detections = _topic(self.namespace, "tracks"), _topic(self.namespace, "detections")
        readers = 2 if self._overlay else 1  # the tracker node takes camera images while the overlay is watched
        self.spin_until(lambda: self.count_subscribers(self.camera_topic) >= readers
                        and self.count_publishers(tracks) > 0
                        and self.count_publishers(detections) > 0
                        and (self.composed or self.count_subscribers(detections) > 0)
                        and self.flush_client.service_is_ready(), timeout,
                        f"the nodes ({self.camera_topic} subscriber, {detections} publisher and subscriber, "
                        f"{tracks} publisher)", check)
        # every topic matched both ways before the first frame goes out (else early messages are lost)
        self.spin_until(lambda: self.pub.get_subscription_count() >= readers
                        and all(s.get_publisher_count() > 0 for s in self._subs), timeout, "discovery", check)
        self.wait_for_node_matches(timeout, check)

    def wait_for_node_matches(self, timeout: float, check=None, silence: float = 3.0) -> None:
        """Until the nodes report (``/diagnostics``, a report made after this call) that their own ends of the
        camera and detections topics have matched: this client's graph only shows that endpoints exist, and a
        message that reaches a reader before the reader matched its writer is discarded (seen: the first frame
        of a respawned inference node never taken). Nodes that publish no diagnostics within ``silence`` s
        (``diagnostics_period`` 0) are taken as matched."""
        ns = self.namespace.strip("/")
        name = (lambda n: f"{ns}/{n}: frames") if ns else (lambda n: f"{n}: frames")
        wanted = {(name("inference_node"), "image_publishers")} | (set() if self.composed else {
            (name("inference_node"), "detections_subscribers"), (name("tracker_node"), "detections_publishers")})
        self._diagnostics.clear()
        start = time.monotonic()
        self.spin_until(lambda: all(int(self._diagnostics.get(n, {}).get(k, 0)) > 0 for n, k in wanted)
                        or (not self._diagnostics and time.monotonic() - start > silence), timeout,
                        "the nodes to report their topics matched (/diagnostics)", check)

    def replay(self, frames, realtime: bool = False, timeout: float = 60.0, check=None, progress=None,
               one_at_a_time: bool = False) -> ReplayResult:
        """Publish ``frames`` (iterable of (frame, Image or CompressedImage message, as ``transport``)); returns
        what came back. ``one_at_a_time``: the next frame only after the tracks of the previous one (lookahead 0
        only), so that latency is the processing time of one frame, without waiting behind the previous one."""
        res = self.result
        base = self._taken  # images taken before this replay
        start = None
        first_stamp = None
        published = []
        for frame, msg in frames:
            stamp = stamp_ns(msg.header.stamp)
            if stamp in self._frames:
                raise MotsError(f"frame {frame}: stamp {stamp} repeats frame {self._frames[stamp]}'s")
            if realtime:
                if start is None:
                    start, first_stamp = time.perf_counter(), stamp
                due = start + (stamp - first_stamp) / 1e9
                while time.perf_counter() < due:
                    rclpy.spin_once(self, timeout_sec=max(0.0, min(0.01, due - time.perf_counter())))
            elif one_at_a_time:
                sent = res.published
                self.spin_until(lambda: res.received + len(res.rejected - set(res.tracks)) >= sent, timeout,
                                f"the tracks of frame {frame - 1}", check)
            else:
                sent = res.published
                self.spin_until(lambda: self._taken - base >= sent, timeout,
                                f"the inference node to take frame {frame - 1}", check)
            self._frames[stamp] = frame
            self._sent[stamp] = time.perf_counter()
            if start is None:
                start = self._sent[stamp]
            self.pub.publish(msg)
            published.append(frame)
            res.published += 1
            if progress is not None:
                progress(res)
            rclpy.spin_once(self, timeout_sec=0.0)
        if not realtime:
            self.spin_until(lambda: self._taken - base >= res.published, timeout, "the last frame to be taken",
                            check)
        future = self.flush_client.call_async(Trigger.Request())
        self.spin_until(future.done, timeout, "the inference node's flush service", check)
        if realtime:  # whatever is still on its way
            self._drain(res)
        else:  # every frame comes back
            try:
                self.spin_until(lambda: res.received + len(res.rejected - set(res.tracks)) >= res.published,
                                timeout, "the tracks of the last frames", check)
            except MotsError as e:
                missing = sorted(set(published) - set(res.tracks) - res.rejected)
                raise MotsError(f"{e}: tracks came back for {res.received} of {res.published} frames "
                                f"(missing: frames {missing[:10]}{' ...' if len(missing) > 10 else ''})") from None
        for wanted, images in ((self._overlay, res.overlays), (self._instance, res.instance_images)):
            deadline = time.monotonic() + 5.0
            while wanted and len(images) < res.received and time.monotonic() < deadline:
                rclpy.spin_once(self, timeout_sec=0.05)  # rendered after the tracks went out
        res.seconds = (self._last_rx - start) if start is not None and self._last_rx else 0.0
        return res

    def _drain(self, res: ReplayResult, quiet: float = 2.0) -> None:
        """Realtime mode: take what still arrives until nothing came for ``quiet`` seconds."""
        last = (res.received, time.monotonic())
        while time.monotonic() - last[1] < quiet and res.received < res.published:
            rclpy.spin_once(self, timeout_sec=0.05)
            if res.received != last[0]:
                last = (res.received, time.monotonic())


def tracks_in_order(result: ReplayResult) -> list[FrameTracks]:
    return [result.tracks[f] for f in sorted(result.tracks)]
