"""The data, evaluation and tracking core imports without torch and without rclpy (thesis-independent rule of the
architecture: ROS-free, and usable on machines without PyTorch)."""
import subprocess
import sys

CODE = """
import sys
sys.modules['torch'] = None      # any 'import torch' now raises ImportError
sys.modules['rclpy'] = None
import mots_ros.data.formats, mots_ros.data.rle_runs, mots_ros.data.synth, mots_ros.data.convert
import mots_ros.eval.evaluate, mots_ros.eval.downsample, mots_ros.eval.perturb
import mots_ros.tracking.tracker, mots_ros.tracking.tune, mots_ros.tracking.cluster, mots_ros.viz.render, mots_ros.cli
import mots_ros.ros.params, mots_ros.ros.launcher
assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]
"""


def test_core_imports_without_torch_and_rclpy():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_subcommand_has_help():
    from mots_ros.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"eval", "downsample-gt", "convert", "synth", "viz", "perturb", "track", "tune", "train", "infer", "run",
            "demo", "launch", "bag"} <= set(sub.choices)
    for name, p in sub.choices.items():
        text = p.format_help()
        assert p.description and "usage: mots " + name in text, name
    bag = next(a for a in sub.choices["bag"]._actions if a.dest == "bag_command")
    assert set(bag.choices) == {"from-sequence", "evaluate", "record", "to-txt"}
    for name, p in bag.choices.items():
        assert p.description and "usage: mots bag " + name in p.format_help(), name
