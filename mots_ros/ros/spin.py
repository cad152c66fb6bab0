"""The ``main`` of both nodes: build, spin until Ctrl-C, clean up; a start-up error is logged and exits 1."""
from __future__ import annotations

import signal

import rclpy
from rclpy.executors import ExternalShutdownException

from mots_ros import MotsError


def run_node(node_class, name: str, args=None) -> int:
    rclpy.init(args=args)
    try:
        node = node_class()
    except (MotsError, ValueError) as e:  # missing checkpoint, bad parameter value
        rclpy.logging.get_logger(name).fatal(str(e))
        rclpy.try_shutdown()
        return 1
    except KeyboardInterrupt:  # Ctrl-C while starting
        rclpy.try_shutdown()
        return 0
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C (e.g. from the launcher) during clean-up
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
