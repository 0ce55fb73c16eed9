"""The start-pose node needs control_msgs' FollowJointTrajectory (installed with
ros2_controllers on the robot; no PyPI wheel here, so this builds it only there)."""

from __future__ import annotations

import pytest


def test_start_pose_node_imports_where_control_msgs_is_installed() -> None:
    pytest.importorskip(
        "control_msgs", reason="control_msgs (ros-jazzy-control-msgs) has no PyPI wheel here"
    )
    from simhum_policy_node.start_pose import PARAMETERS, StartPoseNode

    assert callable(StartPoseNode.check_arrival) and "controller" in PARAMETERS
