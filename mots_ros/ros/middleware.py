"""The DDS settings of every mots_ros participant (both nodes, the replay client), applied in-process before
``rclpy.init`` so that ``ros2 run``, ``ros2 launch`` and ``mots launch`` start the nodes alike.

Fast DDS gets ``config/fastdds.xml``: the transports of a default-configured participant (shared memory +
UDPv4), so that any camera driver, RViz or ``ros2`` shell with default settings reaches the nodes. The nodes'
topics listen on UDPv4 only: a writer sends to a local reader through shared memory whenever the reader offers
it, into the writer's own segment, and a default camera's 512 KB segment cannot hold a 1242x375 frame (none
arrived); over UDP the frame comes as fragments into the nodes' large socket buffers. The writers keep shared
memory with a 32 MB segment, so that a default viewer takes whole overlay frames. The nodes used to run with
``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` (shared memory + TCP), which exchanges nothing with a default
participant (0 of 25 images arrived). A user's own choice (one of :data:`USER_SETTINGS`) is left alone."""
from __future__ import annotations

import os

USER_SETTINGS = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_BUILTIN_TRANSPORTS")


def configure(env: dict | None = None) -> str | None:
    """Point Fast DDS at the package's profile in ``env`` (default ``os.environ``) unless the user configured
    Fast DDS; returns the profile's path, or None when left alone."""
    from mots_ros.ros.launcher import share_path

    env = os.environ if env is None else env
    if any(env.get(name) for name in USER_SETTINGS):
        return None
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = share_path("config/fastdds.xml")
    return env["FASTDDS_DEFAULT_PROFILES_FILE"]
