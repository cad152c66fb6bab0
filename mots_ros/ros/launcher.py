"""`mots launch tracker`: the node graph of ``launch/tracker.launch.py`` for a pip-only environment (no launch /
launch_ros wheels exist): the same executables, parameter file, arguments and remappings, as child processes,
stopped cleanly on Ctrl-C. Also used by `mots demo`, `mots bag evaluate` and the tests."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import yaml

from mots_ros import MotsError

RESPAWN_DELAY = 1.0  # seconds, as respawn_delay in launch/tracker.launch.py
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def share_path(relative: str) -> str:
    """A file of the package's share folder (config/, launch/, rviz/): the source checkout's when running from
    one, else the installed ``PREFIX/share/mots_ros``."""
    for root in (PACKAGE_ROOT, os.path.join(sys.prefix, "share", "mots_ros")):
        path = os.path.join(root, relative)
        if os.path.exists(path):
            return path
    raise MotsError(f"{relative}: not found in {PACKAGE_ROOT} or {sys.prefix}/share/mots_ros")


@dataclass
class LaunchArgs:
    """The arguments of ``tracker.launch.py`` (same names and defaults)."""

    camera_topic: str = "/camera/image_raw"
    model: str = "auto"
    checkpoint: str = ""
    device: str = "auto"
    namespace: str = ""
    use_sim_time: bool = False
    rviz: bool = False
    lifecycle: bool = False  # managed nodes (--lifecycle), configured and activated by ros2 lifecycle set
    composed: bool = False  # both nodes in one process (composed_nodes): detections handed over by a call
    params_file: str = ""  # empty: config/tracker.yaml
    respawn: bool = False  # start a node again RESPAWN_DELAY s after it exits (not on a stop)
    extra_params: list = field(default_factory=list)  # further parameter files, applied after params_file
    overrides: dict = field(default_factory=dict)  # node -> {parameter: value} given last (-p name:=value)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


NODE_NAMES = ("inference_node", "tracker_node")
COMPOSED = "composed_nodes"  # the process of both nodes with composed:=true


def node_commands(args: LaunchArgs, overrides_dir: str | None = None) -> dict[str, list[str]]:
    """Command line of each process: ``python -m mots_ros.ros.NODE --ros-args ...``. With ``composed`` one
    process of both nodes: ``-p`` would reach both, so each node's own values go into a node-keyed parameter
    file written to ``overrides_dir`` (a MotsError without one)."""
    params = args.params_file or share_path("config/tracker.yaml")
    for path in (params, *args.extra_params):
        if not os.path.isfile(path):
            raise MotsError(f"{path}: parameter file not found")
    values = {name: {**_launch_values(args, name), **args.overrides.get(name, {})} for name in NODE_NAMES}
    if not args.composed:
        return {name: _command(name, args, [params, *args.extra_params], values[name], rename=True)
                for name in NODE_NAMES}
    if overrides_dir is None:
        raise MotsError("composed nodes: a folder for their parameter file is needed")
    path = os.path.join(overrides_dir, "composed_parameters.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump({f"/**/{name}": {"ros__parameters": _nested(v)} for name, v in values.items()}, fh)
    return {COMPOSED: _command(COMPOSED, args, [params, *args.extra_params, path], {}, rename=False)}


def _launch_values(args: LaunchArgs, name: str) -> dict:
    """The parameters the launch arguments give node ``name`` (the inference node's model, device, checkpoint)."""
    if name != "inference_node":
        return {}
    return {"model_type": args.model, "device": args.device, **({"checkpoint": args.checkpoint} if args.checkpoint
                                                                 else {})}


def _command(module: str, args: LaunchArgs, params_files: list[str], values: dict, rename: bool) -> list[str]:
    cmd = [sys.executable, "-m", f"mots_ros.ros.{module}", *(["--lifecycle"] if args.lifecycle else []),
           "--ros-args", *(["-r", f"__node:={module}"] if rename else [])]
    for path in params_files:
        cmd += ["--params-file", path]
    if args.namespace:
        cmd += ["-r", f"__ns:=/{args.namespace.strip('/')}"]
    cmd += ["-r", f"image:={args.camera_topic}", "-p", f"use_sim_time:={_value(args.use_sim_time)}"]
    for key, value in values.items():
        cmd += ["-p", f"{key}:={_value(value)}"]
    return cmd


def _nested(values: dict) -> dict:
    """``{"car.keep_alive": 3}`` as the parameter file's ``{"car": {"keep_alive": 3}}``."""
    out: dict = {}
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def ros_environment(env: dict | None = None) -> dict:
    """The environment of the nodes: unbuffered logs, stacks on a crash or hang (the DDS settings are the nodes'
    own: :mod:`mots_ros.ros.middleware`)."""
    env = dict(os.environ if env is None else env)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PYTHONFAULTHANDLER", "1")  # a crash or a stop that hangs (SIGABRT from Graph.stop) logs stacks
    return env


class Graph:
    """The running node processes; a context manager that stops them (SIGINT; after ``grace`` s SIGABRT, which makes
    Python write every thread's stack to the node's log, then SIGKILL)."""

    def __init__(self, args: LaunchArgs, log_dir: str | None = None, grace: float = 10.0):
        self.args, self.log_dir, self.grace = args, log_dir, grace
        self.procs: dict[str, subprocess.Popen] = {}  # process name (a node's, or COMPOSED) -> process
        self.tmp = None  # the composed nodes' parameter file's folder
        self.logs: dict[str, str] = {}
        self.respawns: dict[str, int] = {}  # node -> times respawned
        self._died: dict[str, float] = {}  # node -> when it was seen dead, waiting for its respawn

    def start(self) -> "Graph":
        env = ros_environment()
        self.tmp = tempfile.mkdtemp(prefix="mots_launch_") if self.args.composed else None
        try:
            commands = node_commands(self.args, self.tmp)
        except MotsError:  # a missing parameter file: nothing started, nothing left behind
            self._remove_tmp()
            raise
        if self.args.rviz:
            from shutil import which

            if which("rviz2"):
                commands["rviz2"] = ["rviz2", "-d", share_path("rviz/mots.rviz")]
            else:
                print("mots launch: rviz2 not found (pip-only environment); RViz not started", file=sys.stderr)
        self.commands, self.env = commands, env
        for name in commands:
            self._spawn(name)
        return self

    def _spawn(self, name: str) -> None:
        out = None
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            self.logs[name] = os.path.join(self.log_dir, f"{name}.log")
            out = open(self.logs[name], "a" if name in self.procs else "w")  # a respawn appends
        # same session and process group as this process: a terminal's Ctrl-C reaches the nodes too
        self.procs[name] = subprocess.Popen(self.commands[name], env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT if out else None)
        if out:
            out.close()

    def check(self) -> None:
        """A node that has exited: respawned after :data:`RESPAWN_DELAY` s with ``respawn`` (the launch file's
        ``respawn:=true``), else a MotsError with its log."""
        for name, p in self.procs.items():
            if p.poll() is None:
                continue
            if not self.args.respawn or name == "rviz2":
                tail = self.log_tail(name)
                raise MotsError(f"{name} exited with status {p.returncode}" + (f":\n{tail}" if tail else ""))
            died = self._died.setdefault(name, time.monotonic())
            if time.monotonic() - died >= RESPAWN_DELAY:
                print(f"mots launch: {name} exited with status {p.returncode}; respawning", file=sys.stderr,
                      flush=True)
                del self._died[name]
                self.respawns[name] = self.respawns.get(name, 0) + 1
                self._spawn(name)

    def log_tail(self, name: str, lines: int = 15) -> str:
        """The last lines of a node's log ("" without ``log_dir``)."""
        if name not in self.logs:
            return ""
        with open(self.logs[name]) as fh:
            return "".join(fh.readlines()[-lines:])

    def stop(self) -> dict[str, int]:
        """Stop every node; their exit statuses."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + self.grace
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER (ros_environment): the stacks of the hang
                try:
                    p.wait(2.0)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self._remove_tmp()
        return {name: p.returncode for name, p in self.procs.items()}

    def _remove_tmp(self) -> None:
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "Graph":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def launch(args: LaunchArgs) -> int:
    """Run the graph in the foreground until Ctrl-C (or SIGTERM) or until a node exits; 0 when all stopped
    cleanly. A signal only sets a flag (raising from a handler could land between starting a node and keeping
    its handle), and a second Ctrl-C while the nodes stop is ignored: this process returns after its nodes,
    never leaving one without a parent."""
    requested: list[int] = []

    def on_signal(signum, frame):
        if requested:
            print(f"mots launch: already stopping (a node still running after {graph.grace:.0f} s is killed)",
                  file=sys.stderr, flush=True)
        requested.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored (a background job)
        signal.signal(sig, on_signal)
    graph = Graph(args).start()
    for name, cmd in graph.commands.items():
        print(f"mots launch: started {name} (pid {graph.procs[name].pid}): {' '.join(cmd)}", flush=True)
    while not requested:
        try:
            graph.check()
        except MotsError:  # a node exited (without respawn): named below
            break
        time.sleep(0.1)
    if requested:
        print("mots launch: stopping", file=sys.stderr, flush=True)
    requested.append(0)  # from here on every signal is a second one
    codes = graph.stop()
    failed = {n: c for n, c in codes.items() if c not in (0, -signal.SIGINT)}
    for name, code in failed.items():
        print(f"mots launch: {name} exited with status {code}", file=sys.stderr)
    return 1 if failed else 0
