"""Node parameters: read once at start, so read-only (a later `ros2 param set` is refused,
not silently ignored), and ranges enforced on launch overrides with one clear line."""

from __future__ import annotations

import pytest
import rclpy
from rclpy.parameter import Parameter

from simhum_ros.node import declare

PARAMETERS = {
    "speed": (0.3, "joint speed (rad/s)", (0.01, 1.0)),
    "retries": (3, "attempts", (1, 10)),
    "name": ("arm", "a name"),
}


@pytest.fixture
def context():
    rclpy.init()
    yield
    rclpy.shutdown()


def test_parameters_are_read_only_after_start(context) -> None:
    node = rclpy.create_node("simhum_test_parameters")
    assert declare(node, PARAMETERS) == {"speed": 0.3, "retries": 3, "name": "arm"}
    for parameter in (Parameter("speed", value=0.5), Parameter("name", value="other")):
        result = node.set_parameters([parameter])[0]
        assert not result.successful and "read-only" in result.reason
    assert node.get_parameter("speed").value == 0.3
    descriptor = node.describe_parameter("speed")
    assert (descriptor.floating_point_range[0].from_value, descriptor.read_only) == (0.01, True)
    node.destroy_node()


@pytest.mark.parametrize(
    ("override", "message"),
    [(Parameter("speed", value=5.0), "speed must be within [0.01, 1.0]"),
     (Parameter("retries", value=0), "retries must be within [1, 10]")],
)  # fmt: skip
def test_out_of_range_override_is_refused_with_one_line(context, override, message) -> None:
    node = rclpy.create_node("simhum_test_parameters", parameter_overrides=[override])
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        declare(node, PARAMETERS)
    node.destroy_node()
