"""The launch file, checked without launch/launch_ros (no wheels exist): what it starts exists, what it passes
is declared, what it loads is there and installed, and `mots launch tracker` mirrors its arguments."""
import ast
import configparser
import os
import re
from dataclasses import fields
from pathlib import Path

import yaml

from mots_ros.ros.launcher import LaunchArgs, node_commands
from mots_ros.ros.params import NODES

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / "launch" / "tracker.launch.py"


def _calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def _kw(call, key):
    return next((k.value for k in call.keywords if k.arg == key), None)


def _flat(params: dict, prefix: str = "") -> set:
    out = set()
    for k, v in params.items():
        out |= _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
    return out


def _list(tree, arg):
    """The list ``arg`` is, or the list assigned to the name ``arg`` in the launch file."""
    if isinstance(arg, ast.Name):
        return next(a.value for a in ast.walk(tree) if isinstance(a, ast.Assign) and
                    any(getattr(t, "id", None) == arg.id for t in a.targets))
    return arg


def _executable_installed(exe: str) -> None:
    script = REPO / "scripts" / exe
    assert script.is_file() and script.stat().st_mode & 0o111, f"{script} missing or not executable"
    assert f"from mots_ros.ros.{exe} import main" in script.read_text()
    assert re.search(rf"install\(PROGRAMS[^)]*scripts/{exe}[^)]*DESTINATION lib/\$\{{PROJECT_NAME\}}",
                     (REPO / "CMakeLists.txt").read_text())


def test_nodes_executables_and_parameters():
    tree = ast.parse(LAUNCH.read_text())
    ours = _calls(tree, "mots_node")  # each a Node, or with lifecycle:=true a LifecycleNode
    assert sorted(ast.literal_eval(n.args[0]) for n in ours) == ["inference_node", "tracker_node"]
    helper = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "mots_node")
    assert {c.func.id for c in _calls(helper, "Node") + _calls(helper, "LifecycleNode")} == {"Node", "LifecycleNode"}
    assert "--lifecycle" in ast.unparse(_kw(_calls(helper, "LifecycleNode")[0], "arguments"))
    for node in ours:
        exe = ast.literal_eval(node.args[0])
        _executable_installed(exe)
        dicts = [d for d in _list(tree, node.args[3]).elts if isinstance(d, ast.Dict)]
        passed = {ast.literal_eval(k) for d in dicts for k in d.keys}
        undeclared = passed - set(NODES[exe]) - {"use_sim_time"}
        assert not undeclared, f"{exe}: launch file passes undeclared parameters {undeclared}"
        assert ast.unparse(node.args[2]) == "remappings"  # both nodes get the same image remapping


def test_config_file_exists_is_installed_and_declared():
    tree = ast.parse(LAUNCH.read_text())
    default = next(c for c in _calls(tree, "DeclareLaunchArgument") if ast.literal_eval(c.args[0]) == "params_file")
    parts = [ast.literal_eval(a) for a in _kw(default, "default_value").args[1:]]
    assert parts == ["config", "tracker.yaml"]
    config = REPO.joinpath(*parts)
    doc = yaml.safe_load(config.read_text())
    assert set(doc) == {f"/**/{node}" for node in NODES}  # any namespace: a bare name is the root's only
    for key, body in doc.items():
        node = key.removeprefix("/**/")
        keys = _flat(body["ros__parameters"])
        assert keys == set(NODES[node]), f"{config}: {node} keys differ from the declared parameters: " \
                                         f"{keys ^ set(NODES[node])}"
        for key in keys:  # same defaults as the node declares (ROS parameters are typed)
            value = body["ros__parameters"]
            for part in key.split("."):
                value = value[part]
            default_value = NODES[node][key][0]
            assert type(value) is type(default_value) and value == default_value, (node, key, value)
    assert "install(DIRECTORY launch config rviz DESTINATION share/${PROJECT_NAME})" in \
        (REPO / "CMakeLists.txt").read_text()
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    data = cfg["options.data_files"]
    # the pip set-up installs every config, as CMake's install(DIRECTORY config) does
    assert {f.strip() for f in data["share/mots_ros/config"].split(",")} == \
        {f"config/{p.name}" for p in (REPO / "config").iterdir() if p.is_file()}
    assert "launch/tracker.launch.py" in data["share/mots_ros/launch"]
    assert "rviz/mots.rviz" in data["share/mots_ros/rviz"]
    assert (REPO / "rviz" / "mots.rviz").is_file()


def test_pip_launcher_mirrors_the_launch_arguments():
    tree = ast.parse(LAUNCH.read_text())
    declared = {ast.literal_eval(c.args[0]) for c in _calls(tree, "DeclareLaunchArgument")}
    assert declared == {f.name for f in fields(LaunchArgs)} - {"extra_params", "overrides"}
    cmds = node_commands(LaunchArgs(camera_topic="/cam/left", checkpoint="/x.pt", device="cpu", namespace="car1",
                                    use_sim_time=True))
    for name, cmd in cmds.items():
        assert cmd[cmd.index("--params-file") + 1].endswith("config/tracker.yaml")
        assert ["-r", "image:=/cam/left"] == cmd[cmd.index("image:=/cam/left") - 1:cmd.index("image:=/cam/left") + 1]
        assert "__ns:=/car1" in cmd and f"__node:={name}" in cmd and "use_sim_time:=true" in cmd
    assert "checkpoint:=/x.pt" in cmds["inference_node"] and "device:=cpu" in cmds["inference_node"]
    assert not any(a.startswith(("checkpoint:=", "device:=")) for a in cmds["tracker_node"])
    assert not any("--lifecycle" in cmd for cmd in cmds.values())
    for cmd in node_commands(LaunchArgs(lifecycle=True)).values():  # before --ros-args, as launch_ros passes it
        assert cmd.index("--lifecycle") < cmd.index("--ros-args")
    assert "FASTDDS" not in LAUNCH.read_text()  # the nodes choose their DDS settings themselves (middleware.py)


def test_nodes_use_the_package_profile_unless_the_user_configured_fast_dds():
    from mots_ros.ros.middleware import USER_SETTINGS, configure

    env = {}
    assert configure(env) == env["FASTDDS_DEFAULT_PROFILES_FILE"]
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"].endswith("config/fastdds.xml")
    assert os.path.isfile(env["FASTDDS_DEFAULT_PROFILES_FILE"])
    for name in USER_SETTINGS:
        env = {name: "mine"}
        assert configure(env) is None and env == {name: "mine"}


def test_composed_nodes_in_the_launch_file_and_the_pip_launcher(tmp_path):
    tree = ast.parse(LAUNCH.read_text())
    _executable_installed("composed_nodes")
    helper = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "composed_nodes")
    assert "name" not in {k.arg for c in _calls(helper, "dict") for k in c.keywords}  # would rename both nodes
    separate = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "mots_node")
    assert ast.unparse(separate).count("AndSubstitution(separate") == 2  # neither separate node when composed
    call = _calls(tree, "composed_nodes")[0]
    dicts = [d for d in _list(tree, call.args[2]).elts if isinstance(d, ast.Dict)]
    passed = {ast.literal_eval(k) for d in dicts for k in d.keys} - {"use_sim_time"}
    # a dict of launch_ros reaches every node of the process: only the inference node may declare its keys
    assert passed and passed <= set(NODES["inference_node"]) and not passed & set(NODES["tracker_node"])

    args = LaunchArgs(camera_topic="/cam/left", device="cpu", namespace="car1", composed=True, lifecycle=True,
                      overrides={"inference_node": {"image_qos": "reliable"}, "tracker_node": {"car.keep_alive": 3}})
    (name, cmd), = node_commands(args, str(tmp_path)).items()
    assert name == "composed_nodes" and cmd[1:3] == ["-m", "mots_ros.ros.composed_nodes"]
    assert cmd.index("--lifecycle") < cmd.index("--ros-args") and not any("__node:=" in a for a in cmd)
    assert "__ns:=/car1" in cmd and "image:=/cam/left" in cmd
    files = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--params-file"]
    assert files[0].endswith("config/tracker.yaml") and len(files) == 2  # the node-keyed values come last
    assert [a for a in cmd if ":=" in a and cmd[cmd.index(a) - 1] == "-p"] == ["use_sim_time:=false"]
    assert yaml.safe_load(open(files[1])) == {
        "/**/inference_node": {"ros__parameters": {"model_type": "auto", "device": "cpu", "image_qos": "reliable"}},
        "/**/tracker_node": {"ros__parameters": {"car": {"keep_alive": 3}}}}


def test_a_composed_graph_with_a_missing_parameter_file_leaves_no_folder(tmp_path, monkeypatch):
    import pytest

    from mots_ros import MotsError
    from mots_ros.ros.launcher import Graph

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(MotsError, match="nope.yaml: parameter file not found"):
        Graph(LaunchArgs(composed=True, params_file=str(tmp_path / "nope.yaml"))).start()
    assert list(tmp_path.iterdir()) == []
