"""mots_ros: Multi-Object Tracking and Segmentation for ROS 2 (TrackR-CNN and pixel embeddings)."""

__version__ = "0.1.0"


class MotsError(Exception):
    """An error in user input (a file, a line, an argument) with a message meant for people."""


def _add_generated_interfaces() -> None:
    """Make ``mots_ros.msg`` importable in the pip set-up, where setup.sh generates the ROS 2 interfaces into
    ``PREFIX/share/mots_ros/python/mots_ros`` (a colcon install puts them into this package's folder itself)."""
    import os
    import sys

    generated = os.path.join(sys.prefix, "share", "mots_ros", "python", "mots_ros")
    if os.path.isdir(generated) and generated not in __path__:
        __path__.append(generated)


_add_generated_interfaces()
