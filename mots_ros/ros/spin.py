"""The ``main`` of both nodes: build, spin until Ctrl-C, clean up; a start-up error is logged and exits 1."""
from __future__ import annotations

import signal

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

from mots_ros import MotsError
from mots_ros.ros import middleware


class _Interrupts:
    """SIGINT at the Python level. rclpy's own handler shuts rclpy down, which ends spin; this one raises
    KeyboardInterrupt once, for the first SIGINT while the node is being built (loading a model can take
    seconds), and ignores every other SIGINT, so that a second Ctrl-C (a terminal's reaches the whole process
    group, then the launcher sends its own) cannot break off the clean-up, whether the node was starting or
    spinning. Installed before ``rclpy.init``, whose handler calls it."""

    def __init__(self):
        self.starting = True

    def __call__(self, signum, frame):
        if self.starting:
            self.starting = False
            raise KeyboardInterrupt


def run_node(node_class, name: str, args=None) -> int:
    interrupts = _Interrupts()
    signal.signal(signal.SIGINT, interrupts)
    middleware.configure()
    rclpy.init(args=args)
    try:
        node = node_class()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        interrupts.starting = False
    except (MotsError, ValueError) as e:  # missing checkpoint, bad parameter value
        rclpy.logging.get_logger(name).fatal(str(e))
        rclpy.try_shutdown()
        return 1
    except KeyboardInterrupt:  # Ctrl-C while starting
        rclpy.try_shutdown()
        return 0
    except Exception:
        if rclpy.ok():
            raise
        return 0  # rclpy's SIGINT handler shut rclpy down while starting: creating an entity failed
    try:
        executor.spin()  # returns (or raises ExternalShutdownException) once rclpy's signal handler shut it down
    except ExternalShutdownException:
        pass
    except Exception:
        if rclpy.ok():
            raise
        # rclpy's SIGINT handler shut the context down inside an iteration (seen under ros2 launch: RCLError
        # "failed to initialize wait set"): a requested stop
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Python resets its handlers at exit: a late SIGINT would kill
    return 0
