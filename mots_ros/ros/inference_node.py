"""inference_node: camera images -> TrackR-CNN detections (thesis ch. 3-4), a thin adapter over
:class:`~mots_ros.models.streaming.StreamingModel`.

Subscribes ``image`` (sensor_msgs/Image rgb8/bgr8/mono8/rgba8/bgra8, depth 1 so stale frames are dropped), or
with ``image_transport: compressed`` ``image/compressed`` (sensor_msgs/CompressedImage jpeg/png, decoded with
OpenCV; a corrupt one is dropped like a bad image);
publishes ``detections`` (mots_ros/Detections) with the input header, and ``~/image_taken``
(std_msgs/Header) with the header of every image the node takes from its queue, before running the model
(flow control for replay without drops, monitoring of what reaches the node), and ``~/image_dropped`` with the
header of every image it could not use (logged with the reason). The backbone features of each frame are
computed once and kept in the ring buffer of the 3D convolutions; with lookahead k the detections of a frame are
published when the frame k later arrives. Services: ``~/flush`` (publish the frames still waiting for their
lookahead, e.g. at the end of a bag) and ``~/reset`` (forget the sequence). Parameters: :data:`params.INFERENCE`.
"""
from __future__ import annotations

import time

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.event_handler import SubscriptionEventCallbacks
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from mots_ros import MotsError
from mots_ros.msg import Detections
from mots_ros.ros.convert import ImageError, detections_to_msg, stamp_ns
from mots_ros.ros.diagnostics import Diagnostics, FrameStats, report_drop
from mots_ros.ros.lifecycle import destroy, node_class
from mots_ros.ros.params import INFERENCE, clustering_config, declare_all, image_input, image_qos, read_all
from mots_ros.ros.spin import run_node


WARM_UP_SIZE = (375, 1242)  # a KITTI frame: the one-time costs of a first frame are paid before taking images


def load_stream(p: dict, log):
    """The :class:`StreamingModel` the parameters ``p`` describe (MotsError naming the file when the checkpoint
    is missing or broken or not of ``model_type``); an unavailable GPU or float16 on the CPU fall back with a
    warning."""
    from mots_ros.engine.build import DEMO_CHECKPOINT, build_stream

    checkpoint = p["checkpoint"] or DEMO_CHECKPOINT
    stream = build_stream(checkpoint, p["device"], None if p["lookahead"] < 0 else p["lookahead"],
                          p["score_threshold"] or None, (p["input_min_size"], p["input_max_size"]), p["model_type"],
                          p["precision"], fallback=log.warning, clustering=clustering_config(p))
    t = time.perf_counter()
    stream.warm_up(*WARM_UP_SIZE)
    log.info(f"loaded {checkpoint} ({stream.model.arch}, {stream.model.config['backbone']}, lookahead "
             f"{stream.lookahead}) on {stream.device} in {stream.precision}; "
             f"warm-up {1000 * (time.perf_counter() - t):.0f} ms")
    return stream


class InferenceLogic:
    """The inference node's work, in the steps of :mod:`mots_ros.ros.lifecycle`."""

    def declare(self) -> None:
        declare_all(self, INFERENCE)
        self.stream = None
        self.sub = None
        self.entities = []  # what configure made, destroyed on cleanup

    def configure(self) -> None:
        self.params = read_all(self, INFERENCE)
        self.image_type, topic, self.to_rgb = image_input(self, self.params["image_transport"])
        self.image_topic = self.resolve_topic_name(topic)
        image_qos(self.params["image_qos"])  # a bad value fails here, not on activate
        self.stream = load_stream(self.params, self.get_logger())
        if self.params["lookahead"] < 0:  # publish the effective value (read by `mots bag evaluate`)
            self.set_parameters([rclpy.Parameter("lookahead", value=self.stream.lookahead)])
        self.pub = self.create_publisher(Detections, "detections", 10)
        self.taken_pub = self.create_publisher(Header, "~/image_taken", 10)
        self.dropped_pub = self.create_publisher(Header, "~/image_dropped", 10)
        self.stats = FrameStats()
        self.publisher_seq = None  # publication sequence number of the camera's last frame
        diagnostics = Diagnostics(self, self.stats, self.params["diagnostics_period"], self.params["latency_warn_ms"],
                                  self.diagnostic_values, hardware_id=str(self.stream.device))
        self.entities += [self.pub, self.taken_pub, self.dropped_pub, *diagnostics.entities,
                          self.create_service(Trigger, "~/flush", self.on_flush),
                          self.create_service(Trigger, "~/reset", self.on_reset)]
        self.headers = {}  # frame -> header of the frames waiting for their lookahead
        self.frame = 0
        self.last = None  # (stamp ns, (height, width)) of the previous frame
        self.add_on_set_parameters_callback(self.on_set_parameters)

    def on_set_parameters(self, changes) -> SetParametersResult:
        """``clustering.*`` changes apply from the next frame (pixel-embedding models); a bad value is refused."""
        values = {**self.params, **{p.name: p.value for p in changes}}
        try:
            clustering = clustering_config(values)
            if hasattr(self.stream.model, "clustering"):
                self.stream.model.clustering = clustering
        except MotsError as e:
            return SetParametersResult(successful=False, reason=str(e))
        self.params.update({k: v for k, v in values.items() if k.startswith("clustering.")})
        return SetParametersResult(successful=True)

    def diagnostic_values(self) -> dict:
        """The node's own keys of /diagnostics (:mod:`mots_ros.ros.diagnostics`)."""
        return {"device": str(self.stream.device), "model": self.stream.model.arch,
                "lookahead": self.stream.lookahead,
                "image_publishers": self.sub.get_publisher_count() if self.sub is not None else 0,
                "detections_subscribers": self.pub.get_subscription_count()}

    def activate(self) -> None:
        """Take camera frames."""
        self.sub = self.create_subscription(self.image_type, self.image_topic, self.on_image,
                                            image_qos(self.params["image_qos"]),
                                            event_callbacks=SubscriptionEventCallbacks(message_lost=self.on_lost))

    def deactivate(self) -> None:
        """Take no more camera frames (those waiting for their lookahead stay, see ``~/flush``)."""
        if self.sub is not None:
            self.destroy_subscription(self.sub)
            self.sub = None

    def cleanup(self) -> None:
        """Destroy the publishers and services, free the model."""
        destroy(self, self.entities)
        if self.stream is not None:
            self.remove_on_set_parameters_callback(self.on_set_parameters)
        on_gpu = self.stream is not None and str(self.stream.device).startswith("cuda")
        self.stream = None
        if on_gpu:
            import torch

            torch.cuda.empty_cache()

    def on_image(self, msg, info) -> None:
        self.taken_pub.publish(msg.header)
        self.stats.took()
        self.count_skipped(info.get("publication_sequence_number"))
        try:
            rgb = self.to_rgb(msg)
        except ImageError as e:
            self.drop(msg.header, str(e))
            return
        stamp = stamp_ns(msg.header.stamp)
        if self.last is not None and (stamp < self.last[0] or rgb.shape[:2] != self.last[1]):
            why = "time went back" if stamp < self.last[0] else f"size changed {self.last[1]} -> {rgb.shape[:2]}"
            self.get_logger().warning(f"{self.image_topic}: {why}: new sequence, waiting frames flushed")
            self.publish(self.stream.flush())
        self.last = (stamp, rgb.shape[:2])
        self.headers[self.frame] = msg.header
        self.frame += 1
        try:
            t = time.perf_counter()
            out = self.stream.push(rgb, self.frame - 1, stamp)
            self.stats.timed(time.perf_counter() - t)
            self.publish(out)
        except Exception as e:  # a robot keeps running: report, forget the sequence, go on
            waiting = list(self.headers.values())
            self.stream.reset()
            self.headers.clear()
            for header in waiting:
                self.drop(header, f"inference failed: {e!r}; sequence reset", error=True)

    def count_skipped(self, seq: int | None) -> None:
        """Frames of the camera this node never took: gaps in its publication sequence numbers (a new publisher
        starts again at 1)."""
        if seq is None or seq <= 0:
            return
        if self.publisher_seq is not None and seq > self.publisher_seq + 1:
            self.stats.count("skipped", seq - self.publisher_seq - 1)
        self.publisher_seq = seq

    def on_lost(self, info) -> None:
        """The middleware saw camera frames that never arrived (a best-effort image too large for the sender's
        transport, a lossy link): counted and logged."""
        self.stats.count("lost", info.total_count_change)
        self.get_logger().warning(f"{self.image_topic}: {info.total_count_change} frames lost on the way "
                                  f"({info.total_count} so far; a best-effort image too large for the publisher's "
                                  f"transport? see config/fastdds.xml)")

    def drop(self, header: Header, why: str, error: bool = False) -> None:
        """A frame that gets no detections: logged with its stamp, counted, its header on ``~/image_dropped``."""
        report_drop(self, self.stats, self.dropped_pub, self.image_topic, "frame", header, why, error)

    def publish(self, detections) -> None:
        for det in detections:
            self.deliver(detections_to_msg(det, self.headers.pop(det.frame)))
            self.stats.published()

    def deliver(self, msg: Detections) -> None:
        """Send one frame's detections (in :mod:`~mots_ros.ros.composed_nodes` also to the tracker by a call)."""
        self.pub.publish(msg)

    def on_flush(self, request, response):
        n = len(self.headers)
        self.publish(self.stream.flush())
        self.last = None
        response.success, response.message = True, f"flushed {n} waiting frames"
        return response

    def on_reset(self, request, response):
        self.stream.reset()
        n = len(self.headers)
        self.headers.clear()
        self.last = None
        response.success, response.message = True, f"reset ({n} waiting frames discarded)"
        return response


def main(args=None) -> None:
    """Run the node until Ctrl-C; ends the process (:func:`mots_ros.ros.spin.run_node`)."""
    run_node(node_class(InferenceLogic, "inference_node", args), "inference_node", args)


if __name__ == "__main__":
    main()
