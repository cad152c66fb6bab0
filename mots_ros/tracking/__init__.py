"""TrackR-CNN tracking (thesis ch. 3, 4.1): a ROS-free core that the CLI and the ROS node drive alike."""
