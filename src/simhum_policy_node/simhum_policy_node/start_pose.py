"""Start-pose node (real mode): before the policy takes over, move the arm to the start
configuration every episode starts from (simhum_description.kinematics.start_configuration),
with moveit_py where it is installed, else by a slow trajectory to the controller; then ask
the policy node to start, and exit."""

from __future__ import annotations

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from simhum_description.kinematics import start_configuration
from simhum_description.paths import default_urdf
from simhum_description.robot import load_robot
from simhum_description.ros_messages import trajectory_msg
from simhum_description.ros_node import declare, run
from simhum_description.topics import load_topics

PARAMETERS = {
    "robot_description_file": (str(default_urdf()), "URDF or xacro of the robot"),
    "tool_frame": ("tcp", "tool-centre-point link"),
    "policy_node": ("simhum_policy", "policy node to start afterwards; empty: none"),
    "speed_rad_s": (0.3, "joint speed of the move when moveit_py is not installed"),
    "moveit_group": ("arm", "MoveIt planning group (when moveit_py is installed)"),
}


class StartPoseNode(Node):
    """Moves to the start pose once, then starts the policy and exits."""

    def __init__(self) -> None:
        super().__init__("simhum_start_pose")
        self.p = declare(self, PARAMETERS)
        self.robot = load_robot(self.p["robot_description_file"], tool_frame=self.p["tool_frame"])
        self.goal = start_configuration(self.robot)
        topics = load_topics()
        self.pub = self.create_publisher(JointTrajectory, topics.joint_trajectory, 10)
        self.create_subscription(JointState, topics.joint_states, self.on_joints, 10)
        self.done = False

    def on_joints(self, msg: JointState) -> None:
        """Plan from the first joint state, once."""
        if self.done:
            return
        q = np.zeros(self.robot.dof)
        q[self.robot.indices(list(msg.name))] = msg.position
        self.done = True
        if not self.move_with_moveit():
            duration = max(2.0, float(np.abs(self.goal - q).max()) / self.p["speed_rad_s"])
            self.pub.publish(
                trajectory_msg(
                    self.robot.joint_names, self.goal[None], [duration], self.robot.base_frame
                )
            )
            self.get_logger().info(f"moving to the start pose over {duration:.1f} s")
            self.create_timer(duration + 0.5, self.finish)
        else:
            self.finish()

    def move_with_moveit(self) -> bool:
        """Plan and execute with moveit_py if it is installed; False when it is not."""
        try:
            from moveit.core.robot_state import RobotState
            from moveit.planning import MoveItPy
        except ImportError:
            return False
        moveit = MoveItPy(node_name="simhum_start_pose_moveit")
        group = moveit.get_planning_component(self.p["moveit_group"])
        state = RobotState(moveit.get_robot_model())
        state.joint_positions = dict(zip(self.robot.joint_names, self.goal.tolist(), strict=True))
        group.set_start_state_to_current_state()
        group.set_goal_state(robot_state=state)
        plan = group.plan()
        if not plan:
            raise RuntimeError("MoveIt found no path to the start pose")
        moveit.execute(plan.trajectory, controllers=[])
        return True

    def finish(self) -> None:
        """Start the policy and leave."""
        if self.p["policy_node"]:
            client = self.create_client(Trigger, f"/{self.p['policy_node']}/start")
            if client.wait_for_service(timeout_sec=10.0):
                client.call_async(Trigger.Request())
        self.get_logger().info("at the start pose")
        raise SystemExit(0)


def main() -> None:
    """Run the start-pose node until it has reached the start pose."""
    run(StartPoseNode, "simhum_start_pose")


if __name__ == "__main__":
    main()
