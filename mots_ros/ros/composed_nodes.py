"""composed_nodes: inference_node and tracker_node in one process, spun by one executor (``composed:=true``).

rclpy has no intra-process communication, so between two Python nodes every message crosses the middleware,
serialised, with a wake-up of the receiving process. Here the inference node hands each Detections message to
the tracker node by a call, before publishing it on ``detections`` for anyone else: a frame's tracks leave one
hop and one process wake-up sooner. Both nodes keep their names, parameters (node-keyed parameter files),
services, topics and lifecycle (``--lifecycle``: two managed nodes, each driven on its own); the tracker node takes
only its own process's detections, none from the ``detections`` topic.
"""
from __future__ import annotations

from mots_ros.msg import Detections
from mots_ros.ros.inference_node import InferenceLogic
from mots_ros.ros.lifecycle import node_class
from mots_ros.ros.spin import run_nodes
from mots_ros.ros.tracker_node import TrackerLogic


class InProcessTrackerLogic(TrackerLogic):
    """The tracker node fed by :meth:`take` instead of the ``detections`` topic."""

    def subscribe_detections(self):
        return None

    def take(self, msg: Detections) -> None:
        """One frame's detections from the inference node, used while the node is active."""
        if self.active:
            self.on_detections(msg)


class HandingInferenceLogic(InferenceLogic):
    """The inference node that hands its detections to ``tracker`` (set after both are built, before spinning)."""

    tracker = None

    def deliver(self, msg: Detections) -> None:
        self.tracker.take(msg)
        super().deliver(msg)


def make_nodes(args=None) -> list:
    """The two nodes, linked: [inference node, tracker node] (managed ones with ``--lifecycle``)."""
    tracker = node_class(InProcessTrackerLogic, "tracker_node", args)()
    inference = node_class(HandingInferenceLogic, "inference_node", args)()
    inference.tracker = tracker
    return [inference, tracker]


def main(args=None) -> None:
    """Run both nodes until Ctrl-C; ends the process (:func:`mots_ros.ros.spin.run_nodes`)."""
    run_nodes(lambda: make_nodes(args), "composed_nodes", args)


if __name__ == "__main__":
    main()
