"""tracker_node: detections -> tracks with stable ids, KITTI MOTS instance images and RViz overlays (thesis ch. 3),
a thin adapter over :class:`~mots_ros.tracking.tracker.Tracker`.

Subscribes ``detections`` (mots_ros/Detections) and, while ``overlay`` has subscribers, ``image`` (or
``image/compressed`` with ``image_transport: compressed``); publishes ``tracks``
(mots_ros/TrackedInstances), ``instance_image`` (sensor_msgs/Image mono16, class*1000+track id per pixel: the
KITTI MOTS png convention) and ``overlay`` (rgb8, coloured masks with ``car 12`` labels), all with the header of
the camera image. The two images are rendered only while someone subscribes to them. Per-class tracker
parameters (:data:`params.TRACKER`) can be changed at run time; service ``~/reset`` restarts the ids.
"""
from __future__ import annotations

import time

import numpy as np
from rcl_interfaces.msg import SetParametersResult
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from mots_ros import MotsError
from mots_ros.data import rle
from mots_ros.msg import Detections, TrackedInstances
from mots_ros.ros.convert import (DetectionsError, ImageError, detections_to_msg, instance_image, instance_ids,
                                  msg_to_detections, rgb_to_image, stamp_ns, tracks_to_msg)
from mots_ros.ros.diagnostics import Diagnostics, FrameStats, report_drop
from mots_ros.ros.image_cache import ImageCache
from mots_ros.ros.lifecycle import destroy, node_class
from mots_ros.ros.params import TRACKER, declare_all, image_input, image_qos, read_all, tracker_dict
from mots_ros.ros.spin import run_node
from mots_ros.tracking.config import CLASSES, from_dict
from mots_ros.tracking.linking import make_tracker, reconfigure
from mots_ros.tracking.types import FrameDetections


def warm_up(config) -> None:
    """One frame of two overlapping detections through the message checks and a throw-away tracker: the numba
    kernels (RLE checks, disjoint masks) load or compile on their first call (0.7 s measured for the first
    ``Tracker.step`` of a process), which the node pays at start-up instead of on the first frame."""
    masks = np.zeros((8, 8, 2), np.uint8)
    masks[1:5, 1:5, 0] = masks[3:7, 3:7, 1] = 1
    det = FrameDetections(0, 0, 8, 8, np.array([[1, 1, 5, 5], [3, 3, 7, 7]], np.float32),
                          np.ones(2, np.float32), np.array([1, 1]), rle.encode(masks), np.zeros((2, 1), np.float32),
                          np.zeros((2, 1, 1), np.float32),  # representatives, for the cluster linker
                          np.ones((2, 2, 3), np.float32))  # votes for one previous frame, for the vote linker
    make_tracker(config).step(msg_to_detections(detections_to_msg(det, Header()), 0))


class TrackerLogic:
    """The tracker node's work, in the steps of :mod:`mots_ros.ros.lifecycle`."""

    def declare(self) -> None:
        declare_all(self, TRACKER)
        self.tracker = None
        self.active = False
        self.detections_sub = None
        self.image_sub = None  # subscribed only while someone watches the overlay (no image traffic otherwise)
        self.entities = []  # what configure made, destroyed on cleanup

    def configure(self) -> None:
        self.params = read_all(self, TRACKER)
        image_qos(self.params["image_qos"])  # a bad value fails here, not on activate
        self.tracker = make_tracker(from_dict(tracker_dict(self.params), "tracker_node parameters: "))
        warm_up(self.tracker.config)
        self.detections_topic = self.resolve_topic_name("detections")
        self.image_type, topic, self.to_rgb = image_input(self, self.params["image_transport"])
        self.image_topic = self.resolve_topic_name(topic)
        self.add_on_set_parameters_callback(self.on_set_parameters)
        self.tracks_pub = self.create_publisher(TrackedInstances, "tracks", 10)
        self.instance_pub = self.create_publisher(Image, "instance_image", 10)
        self.overlay_pub = self.create_publisher(Image, "overlay", 10)
        self.dropped_pub = self.create_publisher(Header, "~/detections_dropped", 10)
        self.images = ImageCache()  # camera image messages for the overlay
        self.frame = 0
        self.last_stamp = None
        self.dim = 0
        self.stats = FrameStats()
        self.live = {c: 0 for c in CLASSES}  # tracks per class in the last published frame
        diagnostics = Diagnostics(self, self.stats, self.params["diagnostics_period"], self.params["latency_warn_ms"],
                                  lambda: {"live_tracks": ", ".join(f"{c} {n}" for c, n in self.live.items()),
                                           "detections_publishers": self.detections_sub.get_publisher_count()
                                           if self.detections_sub is not None else 0})
        self.entities += [self.tracks_pub, self.instance_pub, self.overlay_pub, self.dropped_pub,
                          *diagnostics.entities, self.create_service(Trigger, "~/reset", self.on_reset)]

    def activate(self) -> None:
        """Take detections (and camera images while the overlay is watched)."""
        self.detections_sub = self.subscribe_detections()
        self.image_timer = self.create_timer(0.5, self.update_image_subscription)
        self.active = True
        self.update_image_subscription()

    def subscribe_detections(self):
        """The subscription of the ``detections`` topic (none in :mod:`~mots_ros.ros.composed_nodes`)."""
        return self.create_subscription(Detections, "detections", self.on_detections, 10)

    def deactivate(self) -> None:
        """Take no more detections or images."""
        if self.active:
            destroy(self, [e for e in (self.detections_sub, self.image_timer, self.image_sub) if e is not None])
            self.detections_sub = self.image_sub = None
            self.active = False
            self.images.clear()

    def cleanup(self) -> None:
        """Destroy the publishers and the service, drop the tracks."""
        destroy(self, self.entities)
        if self.tracker is not None:
            self.remove_on_set_parameters_callback(self.on_set_parameters)
            self.tracker = None

    def on_set_parameters(self, changes) -> SetParametersResult:
        values = {**self.params, **{p.name: p.value for p in changes}}
        try:
            config = from_dict(tracker_dict(values))
        except (MotsError, TypeError) as e:
            return SetParametersResult(successful=False, reason=str(e))
        self.params = values
        self.tracker = reconfigure(self.tracker, config)
        return SetParametersResult(successful=True)

    def update_image_subscription(self) -> None:
        watched = self.active and self.overlay_pub.get_subscription_count() > 0
        if watched and self.image_sub is None:
            # depth 5: images only wait here for their detections (lookahead), none may be lost while drawing
            self.image_sub = self.create_subscription(self.image_type, self.image_topic, self.on_image,
                                                      image_qos(self.params["image_qos"], depth=5))
        elif not watched and self.image_sub is not None:
            self.destroy_subscription(self.image_sub)
            self.image_sub = None
            self.images.clear()

    def on_image(self, msg) -> None:
        self.images.put(stamp_ns(msg.header.stamp), msg, self.params["image_cache"])

    def on_detections(self, msg: Detections) -> None:
        stamp = stamp_ns(msg.header.stamp)
        self.stats.took()
        t = time.perf_counter()
        try:
            det = msg_to_detections(msg, self.frame, self.dim)
        except DetectionsError as e:
            self.drop(msg.header, str(e))
            return
        if self.last_stamp is not None and stamp < self.last_stamp:
            self.new_sequence("time went back")
        elif len(det) and self.dim and det.embeddings.shape[1] != self.dim:
            self.new_sequence(f"embedding size changed {self.dim} -> {det.embeddings.shape[1]}")
        self.last_stamp = stamp
        self.frame += 1
        if len(det):
            self.dim = det.embeddings.shape[1]
        try:
            tracks = self.tracker.step(det)
            self.stats.timed(time.perf_counter() - t)
            self.publish(tracks, msg.header, stamp)
        except Exception as e:  # a robot keeps running: report, forget the sequence, go on
            self.drop(msg.header, f"tracking failed: {e!r}; new sequence, ids restart", error=True)
            self.tracker.reset()

    def drop(self, header, why: str, error: bool = False) -> None:
        """Skip a detections message: logged with its stamp, counted, its header on ``~/detections_dropped``."""
        report_drop(self, self.stats, self.dropped_pub, self.detections_topic, "message", header, why, error)

    def new_sequence(self, why: str) -> None:
        self.get_logger().warning(f"{self.detections_topic}: {why}; new sequence, ids restart")
        self.tracker.reset()
        self.dim = 0

    def publish(self, tracks, header, stamp: int) -> None:
        self.tracks_pub.publish(tracks_to_msg(tracks, header))
        self.stats.published()
        self.live = {c: int((tracks.classes == i).sum()) for i, c in enumerate(CLASSES, 1)}
        if self.instance_pub.get_subscription_count():
            self.instance_pub.publish(rgb_to_image(instance_image(tracks), header, "mono16"))
        if self.overlay_pub.get_subscription_count() and self.image_sub is not None:
            self.publish_overlay(tracks, header, stamp)

    def publish_overlay(self, tracks, header, stamp: int) -> None:
        from mots_ros.viz.overlay import draw_overlay

        image = self.images.take(stamp)
        if image is None:
            self.get_logger().warning(f"{self.overlay_pub.topic_name}: no camera image stamped {stamp} on "
                                      f"{self.image_topic}; overlay skipped", throttle_duration_sec=5.0)
            return
        try:
            rgb = self.to_rgb(image)
        except ImageError as e:
            self.get_logger().warning(f"{self.image_topic}: {e}; overlay skipped",
                                      throttle_duration_sec=5.0)
            return
        self.overlay_pub.publish(rgb_to_image(draw_overlay(rgb, tracks.masks, instance_ids(tracks),
                                                           self.params["overlay_alpha"]), header))

    def on_reset(self, request, response):
        self.tracker.reset()
        self.last_stamp = None
        self.dim = 0
        response.success, response.message = True, "tracks cleared; ids restart at 1"
        return response


def main(args=None) -> None:
    """Run the node until Ctrl-C; ends the process (:func:`mots_ros.ros.spin.run_node`)."""
    run_node(node_class(TrackerLogic, "tracker_node", args), "tracker_node", args)


if __name__ == "__main__":
    main()
