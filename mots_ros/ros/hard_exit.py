"""A process exit that needs no GIL: the backstop behind the nodes' stop and clean-up watchdogs.

Those watchdogs are Python threads, and a thread cannot run while another holds the GIL. CI saw it: an
inference_node stopped by SIGINT was still running 15 s later, printed neither watchdog's warning and was killed
by ``ros2 launch``; a stack taken in an earlier hang showed rclpy's ``destroy_node`` (``destroy_when_not_in_use``,
the middleware's teardown) in C, holding the GIL. Here the kernel starts the exit: a POSIX timer whose expiry
makes libc call ``_exit(0)`` on a new thread (``SIGEV_THREAD``), after faulthandler's own C thread has written
every thread's stack to stderr.
"""
from __future__ import annotations

import ctypes
import faulthandler
import math
import sys
import threading
import time

CLOCK_MONOTONIC = 1
SIGEV_THREAD = 2
DUMP_LEAD_S = 0.1  # the stacks are written this long before the exit


class _SigEventThread(ctypes.Structure):
    _fields_ = [("function", ctypes.c_void_p), ("attribute", ctypes.c_void_p)]


class _SigEventUnion(ctypes.Union):
    _fields_ = [("pad", ctypes.c_int * 12), ("thread", _SigEventThread)]


class _SigEvent(ctypes.Structure):
    """``struct sigevent`` on Linux (64 bytes): the value passed to the function, then the notify fields."""

    _fields_ = [("value", ctypes.c_void_p), ("signo", ctypes.c_int), ("notify", ctypes.c_int),
                ("un", _SigEventUnion)]


class _TimeSpec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("interval", _TimeSpec), ("value", _TimeSpec)]


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "timer_create"):  # glibc < 2.34 keeps the timers in librt
        libc = ctypes.CDLL("librt.so.1", use_errno=True)
    return libc


class _ExitTimer:
    """One process-wide timer; :meth:`within` only ever brings its deadline forward."""

    def __init__(self):
        self._lock = threading.Lock()
        self._deadline = math.inf
        self._timer = None

    def _create(self):
        libc = _libc()
        event = _SigEvent(value=0, signo=0, notify=SIGEV_THREAD)  # value 0: the exit status
        event.un.thread.function = ctypes.cast(libc._exit, ctypes.c_void_p).value
        timer = ctypes.c_void_p()
        if libc.timer_create(CLOCK_MONOTONIC, ctypes.byref(event), ctypes.byref(timer)) != 0:
            raise OSError(ctypes.get_errno(), "timer_create")
        self._settime = libc.timer_settime
        self._timer = timer

    def within(self, seconds: float) -> None:
        """End the process with status 0 at most ``seconds`` from now, whatever holds the GIL by then. Where the
        C library offers no such timer, a warning says so once and the callers' watchdog threads stay alone."""
        with self._lock:
            deadline = time.monotonic() + seconds
            if deadline >= self._deadline:
                return
            try:
                self._arm(seconds)
            except (OSError, AttributeError) as e:
                print(f"[WARN] no GIL-free exit timer ({e}); only the watchdog threads bound the stop",
                      file=sys.stderr, flush=True)
                self._deadline = -math.inf  # not tried again
                return
            self._deadline = deadline

    def _arm(self, seconds: float) -> None:
        if self._timer is None:
            self._create()
        faulthandler.dump_traceback_later(max(seconds - DUMP_LEAD_S, 0.001), file=sys.stderr)
        whole, frac = divmod(seconds, 1.0)
        spec = _ITimerSpec(value=_TimeSpec(int(whole), max(int(frac * 1e9), 1)))
        if self._settime(self._timer, 0, ctypes.byref(spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timer_settime")


exit_within = _ExitTimer().within
