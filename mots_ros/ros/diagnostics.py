"""``/diagnostics`` of both nodes (diagnostic_msgs/DiagnosticArray, once per ``diagnostics_period``), as
diagnostic_updater publishes it: one DiagnosticStatus per node, named ``NAMESPACE/NODE: frames``, with these keys

================  ====================================================================================
input_rate_hz     messages taken per second over the last ``WINDOW_S`` seconds
output_rate_hz    messages published per second (detections; tracks)
taken             messages taken from the input queue since start
dropped           taken but unusable (bad encoding or size, malformed detections), each logged
skipped           inference_node: frames the camera published that the node never took: replaced in
                  the depth-1 queue while the model ran (by design) or lost on the way (gaps in the
                  publisher's sequence numbers; meaningful with one camera publisher)
lost              inference_node: frames the middleware reported lost (QoS message-lost events)
latency_ms_p50    processing time per message, median of the last ``LATENCY_SAMPLES`` (model; tracker)
latency_ms_p95    the same, 95th percentile
device, model     inference_node: where and what runs
live_tracks       tracker_node: tracks in the last published frame, per class (``car 3, pedestrian 1``)
*_publishers,     the matched other ends of a node's topics: inference_node ``image_publishers``,
*_subscribers     ``detections_subscribers``; tracker_node ``detections_publishers`` (a replay starts when
                  all are >= 1)
================  ====================================================================================

The level is WARN while frames are being dropped, skipped or lost (any since the previous report) or while
``latency_ms_p95`` exceeds ``latency_warn_ms`` (> 0), else OK."""
from __future__ import annotations

import time
from collections import deque

import numpy as np

WINDOW_S = 5.0
LATENCY_SAMPLES = 200
LOSSES = ("dropped", "skipped", "lost")


class FrameStats:
    """Counters, rates and latencies of one node (ROS-free; ``now`` is :func:`time.monotonic`)."""

    def __init__(self):
        self.counts = {"taken": 0, "published": 0, **{k: 0 for k in LOSSES}}
        self._taken_at: deque[float] = deque()
        self._published_at: deque[float] = deque()
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._reported = dict(self.counts)

    def took(self, now: float | None = None) -> None:
        self.counts["taken"] += 1
        self._taken_at.append(time.monotonic() if now is None else now)

    def published(self, now: float | None = None) -> None:
        self.counts["published"] += 1
        self._published_at.append(time.monotonic() if now is None else now)

    def timed(self, seconds: float) -> None:
        """The processing time of one message."""
        self._latencies.append(seconds)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] += n

    def _rate(self, times: deque, now: float) -> float:
        while times and times[0] < now - WINDOW_S:
            times.popleft()
        return len(times) / WINDOW_S

    def report(self, latency_warn_ms: float = 0.0, now: float | None = None) -> tuple[bool, str, dict]:
        """(warn, message, key -> value) since the previous report."""
        now = time.monotonic() if now is None else now
        lat = np.asarray(self._latencies) * 1000
        p50, p95 = (float(np.percentile(lat, q)) for q in (50, 95)) if len(lat) else (float("nan"),) * 2
        values = {"input_rate_hz": self._rate(self._taken_at, now),
                  "output_rate_hz": self._rate(self._published_at, now),
                  "taken": self.counts["taken"], **{k: self.counts[k] for k in LOSSES},
                  "latency_ms_p50": p50, "latency_ms_p95": p95}
        new = {k: self.counts[k] - self._reported[k] for k in LOSSES if self.counts[k] > self._reported[k]}
        self._reported = dict(self.counts)
        problems = [f"{n} frames {k}" for k, n in new.items()]
        if latency_warn_ms > 0 and p95 > latency_warn_ms:
            problems.append(f"latency p95 {p95:.0f} ms > {latency_warn_ms:.0f} ms")
        return bool(problems), "; ".join(problems) or "ok", values


def report_drop(node, stats: FrameStats, pub, topic: str, what: str, header, why: str, error: bool = False) -> None:
    """An input message a node cannot use: counted in ``stats``, logged with its topic and stamp, its header on
    ``pub`` (``~/image_dropped``, ``~/detections_dropped``)."""
    from mots_ros.ros.convert import stamp_ns

    stats.count("dropped")
    stamp = stamp_ns(header.stamp)
    log = node.get_logger().error if error else node.get_logger().warning
    log(f"{topic}: {what} stamped {stamp} dropped: {why} ({stats.counts['dropped']} dropped so far)")
    pub.publish(header)


def _text(value) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.2f}"
    return str(value)


class Diagnostics:
    """Publishes a node's :class:`FrameStats` (plus ``extra()`` keys) on ``/diagnostics`` with a timer."""

    def __init__(self, node, stats: FrameStats, period: float, latency_warn_ms: float, extra=None,
                 hardware_id: str = ""):
        from diagnostic_msgs.msg import DiagnosticArray

        self.node, self.stats, self.latency_warn_ms, self.extra = node, stats, latency_warn_ms, extra
        self.hardware_id = hardware_id
        self.pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.entities = [self.pub]  # for the node to destroy (lifecycle cleanup)
        if period > 0:
            self.entities.append(node.create_timer(period, self.publish))

    def publish(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

        warn, message, values = self.stats.report(self.latency_warn_ms)
        if self.extra is not None:
            values.update(self.extra())
        status = DiagnosticStatus(level=DiagnosticStatus.WARN if warn else DiagnosticStatus.OK,
                                  name=f"{self.node.get_fully_qualified_name().lstrip('/')}: frames",
                                  message=message,
                                  hardware_id=self.hardware_id,
                                  values=[KeyValue(key=k, value=_text(v)) for k, v in values.items()])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.pub.publish(msg)
