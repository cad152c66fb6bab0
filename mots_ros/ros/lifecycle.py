"""Plain and managed (lifecycle) versions of a node from one piece of logic.

A node's logic is a class with four steps: ``configure`` (read the parameters, load the model, create
publishers and services), ``activate`` (subscribe the input), ``deactivate`` (stop taking input) and
``cleanup`` (destroy what configure made, free the model). The plain node runs configure and activate in its
constructor; the managed node (``rclpy.lifecycle.LifecycleNode``, driven by ``ros2 lifecycle set`` or a
lifecycle manager) runs each step on its transition. A failing configure (missing checkpoint, bad parameter
value) is logged and leaves the node unconfigured."""
from __future__ import annotations

import sys

from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.service import Service
from rclpy.subscription import Subscription
from rclpy.timer import Timer

from mots_ros import MotsError


def destroy(node: Node, entities: list) -> None:
    """Destroy ``node``'s publishers, subscriptions, services and timers in ``entities`` (emptied)."""
    kinds = ((Publisher, node.destroy_publisher), (Subscription, node.destroy_subscription),
             (Service, node.destroy_service), (Timer, node.destroy_timer))
    while entities:
        entity = entities.pop()
        next(destroy_it for kind, destroy_it in kinds if isinstance(entity, kind))(entity)


def plain(logic: type, name: str) -> type:
    """A ``rclpy.node.Node`` running ``logic`` from its construction."""

    class PlainNode(logic, Node):
        def __init__(self, **kwargs):
            Node.__init__(self, name, **kwargs)
            self.declare()
            self.configure()
            self.activate()

    PlainNode.__name__ = PlainNode.__qualname__ = logic.__name__.replace("Logic", "Node")
    return PlainNode


def managed(logic: type, name: str) -> type:
    """A ``rclpy.lifecycle.LifecycleNode`` running ``logic``'s steps on its transitions."""

    class ManagedNode(logic, LifecycleNode):
        def __init__(self, **kwargs):
            LifecycleNode.__init__(self, name, **kwargs)
            self.declare()  # settable (ros2 param set, --params-file) before configure reads them

        def on_configure(self, state) -> TransitionCallbackReturn:
            try:
                self.configure()
            except (MotsError, ValueError) as e:
                self.get_logger().error(f"configure failed, still unconfigured: {e}")
                self.cleanup()
                return TransitionCallbackReturn.FAILURE
            return super().on_configure(state)

        def on_activate(self, state) -> TransitionCallbackReturn:
            self.activate()
            return super().on_activate(state)

        def on_deactivate(self, state) -> TransitionCallbackReturn:
            self.deactivate()
            return super().on_deactivate(state)

        def on_cleanup(self, state) -> TransitionCallbackReturn:
            self.cleanup()
            return super().on_cleanup(state)

        def on_shutdown(self, state) -> TransitionCallbackReturn:
            self.deactivate()
            self.cleanup()
            return super().on_shutdown(state)

    ManagedNode.__name__ = ManagedNode.__qualname__ = "Managed" + logic.__name__.replace("Logic", "Node")
    return ManagedNode


def node_class(logic: type, name: str, args: list | None = None) -> type:
    """The managed version when the command line (``args``, default ``sys.argv``) has ``--lifecycle`` before
    its ROS arguments, else the plain one."""
    argv = sys.argv[1:] if args is None else list(args)
    own = argv[:argv.index("--ros-args")] if "--ros-args" in argv else argv
    return (managed if "--lifecycle" in own else plain)(logic, name)
