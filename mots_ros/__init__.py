"""mots_ros: Multi-Object Tracking and Segmentation for ROS 2 (TrackR-CNN and pixel embeddings)."""

__version__ = "0.1.0"


class MotsError(Exception):
    """An error in user input (a file, a line, an argument) with a message meant for people."""
