"""Engines that drive the ROS-free core over data: training, streaming inference and tracking."""
