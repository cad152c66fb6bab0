"""The DDS settings of every mots_ros participant (both nodes, the replay client), applied in-process before
``rclpy.init`` so that ``ros2 run``, ``ros2 launch`` and ``mots launch`` start the nodes alike.

Fast DDS gets ``config/fastdds.xml``: the transports of a default-configured participant (shared memory +
UDPv4), so that any camera driver, RViz or ``ros2`` shell with default settings reaches the nodes, with a larger
shared-memory segment for whole camera frames. The nodes used to run with ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA``
(shared memory + TCP), which exchanges nothing with a default participant (0 of 25 images arrived) and delivered
the first message after a match ~0.8 s late (the TCP connection), the cause of the slow first frames of
``mots demo``. A user's own choice (one of :data:`USER_SETTINGS`) is left alone."""
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
