"""What every SimHum node shares: declaring described parameters, and a main() that spins
until Ctrl-C and turns a bad file or model into one line and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from simhum_core.errors import DescriptionError

# Episode events are latched (the last ones kept for late joiners), so a watcher that
# matches the bridge after an episode started still sees its START.
EVENTS_QOS = QoSProfile(
    depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def declare(
    node: Node, parameters: dict[str, tuple[object, str] | tuple[object, str, tuple]]
) -> dict[str, object]:
    """Declare parameters and return their values. Each is (default, description) or
    (default, description, (lowest, highest)); every one is read-only (nodes read them once,
    so ``ros2 param set`` is refused rather than silently ignored), and a range is enforced
    on launch overrides too."""
    for name, (default, description, *limits) in parameters.items():
        descriptor = ParameterDescriptor(description=description, read_only=True)
        if limits:
            lowest, highest = limits[0]
            if isinstance(default, float):
                descriptor.floating_point_range = [
                    FloatingPointRange(from_value=float(lowest), to_value=float(highest))
                ]
            else:
                descriptor.integer_range = [IntegerRange(from_value=lowest, to_value=highest)]
        try:
            node.declare_parameter(name, default, descriptor)
        except InvalidParameterValueException as err:
            raise ValueError(f"parameter {name} must be within {list(limits[0])}: {err}") from None
    return {name: node.get_parameter(name).value for name in parameters}


def run(make_node: Callable[[], Node], name: str) -> None:
    """Initialise rclpy, build the node, spin until Ctrl-C; startup errors (a missing file, a
    device that cannot be opened) print one line naming what is wrong and exit 2."""
    rclpy.init()
    try:
        node = make_node()
    except (DescriptionError, FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"{name}: refusing to start: {err}", file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        raise SystemExit(2) from None
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
