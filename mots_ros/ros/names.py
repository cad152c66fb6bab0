"""ROS 2 topic names, checked without rclpy: a clear error before a publisher or a bag is made with a name ROS 2
refuses. The rules of rcl's topic name validation and of the fully qualified name after expansion (no ``//``);
stricter only for ``{}`` substitutions and a ``~`` not followed by ``/``, which are refused too."""
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
