"""Retargeting node: HandPose -> EndEffectorTarget in the robot base frame, and optionally
the joint configuration the robot would take (IK on the shared URDF) for RViz."""

from __future__ import annotations

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState

from simhum_core.calibration import load_calibration
from simhum_core.kinematics import IKSolver
from simhum_core.paths import default_calibration, default_urdf
from simhum_core.pose_math import quaternion_from_matrix
from simhum_core.robot import load_robot
from simhum_core.topics import load_topics
from simhum_human_capture.retargeting import RetargetConfig, Retargeter
from simhum_msgs.msg import EndEffectorTarget, HandPose
from simhum_ros.messages import from_time, joint_state_msg
from simhum_ros.node import declare, run

DEFAULTS = RetargetConfig()
PARAMETERS = {
    "calibration_file": (str(default_calibration()), "camera calibration YAML (extrinsics)"),
    "robot_description_file": (str(default_urdf()), "URDF or xacro (base frame, IK preview)"),
    "tool_frame": ("tcp", "tool-centre-point link"),
    "pinch_closed_m": (DEFAULTS.pinch_closed_m, "thumb-index distance of a closed gripper"),
    "pinch_open_m": (DEFAULTS.pinch_open_m, "thumb-index distance of a fully open gripper"),
    "workspace_min": (list(DEFAULTS.workspace_min), "workspace box lower corner, base frame"),
    "workspace_max": (list(DEFAULTS.workspace_max), "workspace box upper corner, base frame"),
    "min_confidence": (DEFAULTS.min_confidence, "ignore hands below this confidence"),
    "min_cutoff_hz": (DEFAULTS.min_cutoff_hz, "One Euro filter: cutoff when still, Hz"),
    "beta": (DEFAULTS.beta, "One Euro filter: cutoff increase with speed"),
    "ik_preview": (False, "publish the robot configuration for the target (IK)"),
}


def pose_msg_fields(T: np.ndarray, out: EndEffectorTarget) -> None:
    """Fill ``out.pose`` from a 4x4 pose."""
    w, x, y, z = (float(v) for v in quaternion_from_matrix(T[:3, :3]))
    out.pose.position.x, out.pose.position.y, out.pose.position.z = (float(v) for v in T[:3, 3])
    out.pose.orientation.x, out.pose.orientation.y = x, y
    out.pose.orientation.z, out.pose.orientation.w = z, w


class RetargetNode(Node):
    """A thin adapter over Retargeter (and IKSolver for the preview)."""

    def __init__(self) -> None:
        super().__init__("simhum_retargeting")
        p = declare(self, PARAMETERS)
        camera = load_calibration(p["calibration_file"])
        self.robot = load_robot(p["robot_description_file"], tool_frame=p["tool_frame"])
        config = RetargetConfig(
            pinch_closed_m=p["pinch_closed_m"],
            pinch_open_m=p["pinch_open_m"],
            workspace_min=tuple(p["workspace_min"]),
            workspace_max=tuple(p["workspace_max"]),
            min_confidence=p["min_confidence"],
            min_cutoff_hz=p["min_cutoff_hz"],
            beta=p["beta"],
        )
        self.retargeter = Retargeter(config, camera.T_base_camera)
        topics = load_topics()
        self.pub = self.create_publisher(EndEffectorTarget, topics.end_effector_target, 10)
        self.ik = IKSolver(self.robot) if p["ik_preview"] else None
        self.q = self.robot.home()
        self.pub_preview = self.create_publisher(JointState, topics.retarget_preview, 10)
        self.create_subscription(HandPose, topics.hand_pose, self.on_hand, 10)

    def on_hand(self, msg: HandPose) -> None:
        """Retarget one hand observation."""
        keypoints = np.array([[p.x, p.y, p.z] for p in msg.keypoints_camera])
        try:
            if not 0.0 <= msg.confidence <= 1.0:
                raise ValueError(f"confidence {msg.confidence} is not in [0, 1]")
            result = self.retargeter.update(from_time(msg.header.stamp), keypoints, msg.confidence)
            if result is not None and not np.all(np.isfinite(result.T_base_tool)):
                self.retargeter.reset()  # the filters took in the NaN: start them afresh
                raise ValueError("degenerate keypoints (no palm frame)")
        except ValueError as err:
            self.get_logger().warning(f"hand pose ignored: {err}")
            return
        if result is None:
            return
        if result.clamped:
            self.get_logger().warning(
                "hand outside the workspace: target clamped", throttle_duration_sec=2.0
            )
        out = EndEffectorTarget(
            gripper_aperture=result.aperture, embodiment=EndEffectorTarget.EMBODIMENT_HUMAN
        )
        out.header.stamp = msg.header.stamp
        out.header.frame_id = self.robot.base_frame
        pose_msg_fields(result.T_base_tool, out)
        self.pub.publish(out)
        if self.ik is not None:
            # from home (a straight arm) the warm start stalls on most targets, and a stalled
            # configuration would be the next warm start: restart when it stalls
            solution = self.ik.solve_with_restarts(result.T_base_tool, self.q)
            self.q = self.robot.with_aperture(solution.q, result.aperture)
            self.pub_preview.publish(
                joint_state_msg(
                    self.robot.joint_names,
                    self.q,
                    np.zeros(self.robot.dof),
                    from_time(msg.header.stamp),
                )
            )


def main() -> None:
    """Run the retargeting node."""
    run(RetargetNode, "simhum retargeting")


if __name__ == "__main__":
    main()
