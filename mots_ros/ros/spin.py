"""The ``main`` of the node processes (one node each, or both in one: :mod:`mots_ros.ros.composed_nodes`): build,
spin until Ctrl-C, clean up; a start-up error is logged and exits 1."""
from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager, suppress
from typing import NoReturn

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

from mots_ros import MotsError
from mots_ros.ros import middleware
from mots_ros.ros.hard_exit import exit_within


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


STOP_S = 4.0  # ros2 launch escalates to SIGTERM 5 s after its SIGINT
BACKSTOP_S = 0.5  # a watchdog whose thread cannot run (another holds the GIL) is replaced this much later


def _stop_watchdog(name: str, seconds: float = STOP_S) -> None:
    """End the process ``seconds`` after its first SIGINT if it still runs, logging every thread's stack first.
    Python's C-level handler writes the signal to the wakeup fd at once, so this thread wakes even while the main
    thread is stuck in C (seen in 1 of 50 `ros2 launch` soak cycles: an idle inference_node still in spin 5 s
    after SIGINT, killed by the launcher, no stack). Should this thread not get the GIL back in time,
    :func:`~mots_ros.ros.hard_exit.exit_within` ends the process BACKSTOP_S later."""
    import socket

    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def watch(keep_open=writer):  # the wakeup fd is only a number: its socket must stay referenced
        while reader.recv(1) != bytes([signal.SIGINT]):
            pass
        exit_within(seconds + BACKSTOP_S)
        time.sleep(seconds)
        print(f"[WARN] [{name}]: still running {seconds:.0f} s after SIGINT; exiting. Where it was:",
              file=sys.stderr, flush=True)
        faulthandler.dump_traceback(sys.stderr, all_threads=True)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="stop-watchdog").start()


def run_node(node_class, name: str, args=None) -> NoReturn:
    """Run the node until Ctrl-C, then end the process at once with the status (0, or 1 for a start-up error):
    see :func:`_end_process`."""
    run_nodes(lambda: [node_class()], name, args)


def run_nodes(make_nodes, name: str, args=None) -> NoReturn:
    """:func:`run_node` for the nodes ``make_nodes()`` returns, spun by one executor in this process."""
    _end_process(_run(make_nodes, name, args))


def _end_process(status: int) -> NoReturn:
    """Leave without the interpreter's and the C libraries' exit-time teardown: the node's entities and rclpy are
    shut down and its logs closed by now, and what remains (finalising every module, then the destructors of the
    hundreds of shared libraries torch and the middleware load) only costs time. Under CPU load that time ran past
    the launcher's 10 s grace: its SIGABRT found the process inside ``exit()`` -> ``_dl_fini`` (gdb), after
    Python's finalisation had turned off faulthandler and the stop watchdogs, so the node was reported killed
    (status -6) with no stack (benchmarks/soak_memory.py beside a training run; reproduced with
    soak_nodes.py-style cycles during training)."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(status)


def _run(make_nodes, name: str, args=None) -> int:
    interrupts = _Interrupts()
    signal.signal(signal.SIGINT, interrupts)
    _stop_watchdog(name)
    middleware.configure()
    rclpy.init(args=args)
    try:
        nodes = make_nodes()
        executor = SingleThreadedExecutor()
        for node in nodes:
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
        with _bounded(CLEANUP_S, name):
            executor.shutdown()
            for node in nodes:
                node.destroy_node()
            rclpy.try_shutdown()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Python resets its handlers at exit: a late SIGINT would kill
    return 0


CLEANUP_S = 3.0


@contextmanager
def _bounded(seconds: float, name: str):
    """Run the clean-up of a stopped node for at most ``seconds``, then end the process with status 0: seen in 1
    of 21 soak cycles, ``destroy_node`` did not return (inside ``destroy_when_not_in_use``, the middleware's
    participant teardown) until the launcher's SIGABRT 10 s later. The node's work is done by then; the stack
    of the hang is logged and nothing else is lost. When the teardown holds the GIL, as it did in CI (15 s
    without either watchdog's warning), the watchdog thread cannot run and
    :func:`~mots_ros.ros.hard_exit.exit_within` ends the process BACKSTOP_S later; it stays armed, as only the
    process's exit follows the clean-up."""
    done = threading.Event()
    exit_within(seconds + BACKSTOP_S)

    def watchdog():
        if not done.wait(seconds):
            print(f"[WARN] [{name}]: clean-up did not finish in {seconds:.0f} s (middleware teardown); exiting "
                  f"without it. Where it hung:", file=sys.stderr, flush=True)
            faulthandler.dump_traceback(sys.stderr, all_threads=True)
            os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        yield
    finally:
        done.set()
