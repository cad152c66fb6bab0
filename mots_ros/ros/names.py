"""ROS 2 topic names, checked without rclpy (the rules of rcl's ``rcl_validate_topic_name``, without ``{}``
substitutions): a clear error before a publisher or a bag is made with a name ROS 2 refuses."""
from __future__ import annotations

import re

from mots_ros import MotsError

_TOPIC = re.compile(r"(~/|/)?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*|~")


def check_topic_name(name: str, what: str = "topic") -> str:
    """``name`` when it is a valid ROS 2 topic name (absolute, relative or ``~/private``); else a MotsError."""
    if not _TOPIC.fullmatch(name):
        raise MotsError(f"{what} {name!r} is not a valid ROS 2 topic name (tokens of letters, digits and '_' "
                        f"that do not start with a digit, separated by single '/', no '/' at the end)")
    return name
