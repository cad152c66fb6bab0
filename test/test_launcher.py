"""`mots launch tracker` (pip-only launcher): starts both nodes, stops them cleanly on Ctrl-C; a missing
checkpoint stops the inference node at start with a message naming the file."""
import os
import signal
import subprocess
import sys
import time

import pytest


def _mots(*args, **kw):
    env = {**os.environ, "ROS_DOMAIN_ID": str(150 + os.getpid() % 50), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "mots_ros.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_ctrl_c_stops_every_node():
    proc = _mots("launch", "tracker", "--device", "cpu")
    lines = []
    deadline = time.monotonic() + 120
    while not any("[inference_node]: loaded" in ln for ln in lines):
        assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
        lines.append(proc.stdout.readline())
    nodes = _children(proc.pid)
    assert len(nodes) == 2
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + out
    for pid in nodes:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_missing_checkpoint_is_named_and_fails(tmp_path):
    missing = tmp_path / "nope.pt"
    proc = _mots("launch", "tracker", "--checkpoint", str(missing))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert str(missing) in out and "inference_node exited with status 1" in out, out
