"""The policy's intent as RViz draws it (message packages only, no rclpy): a nav_msgs/Path of
tool poses and a visualization_msgs/MarkerArray of the predicted tool path (a line strip),
one sphere per step coloured by its gripper command, and a label of the next one."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point, Pose, PoseStamped, Vector3
from nav_msgs.msg import Path
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from simhum_core.pose_math import quaternion_from_matrix
from simhum_policy_node.intent import Intent
from simhum_ros.messages import to_time

NAMESPACE = "simhum_policy_intent"
PATH_ID, STEPS_ID, GRIPPER_ID = 0, 1, 2  # the markers' ids in NAMESPACE
PATH_COLOUR = ColorRGBA(r=0.1, g=0.6, b=1.0, a=1.0)
OPEN_COLOUR = ColorRGBA(r=0.1, g=0.8, b=0.2, a=1.0)
CLOSED_COLOUR = ColorRGBA(r=0.9, g=0.2, b=0.1, a=1.0)
LINE_WIDTH_M, SPHERE_M, TEXT_M = 0.004, 0.012, 0.03
LABEL_ABOVE_M = 0.05  # the gripper label floats this far above the next tool position


def pose_msg(T: np.ndarray) -> Pose:
    """geometry_msgs/Pose of a 4x4 pose."""
    w, x, y, z = (float(v) for v in quaternion_from_matrix(T[:3, :3]))
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in T[:3, 3])
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = x, y, z, w
    return pose


def path_msg(intent: Intent, frame_id: str, stamp: float, period: float) -> Path:
    """One PoseStamped per step, each stamped with the time it is for (``stamp``, the
    observation's, plus k + 1 control periods)."""
    msg = Path(header=Header(frame_id=frame_id, stamp=to_time(stamp)))
    for k, T in enumerate(intent.poses):
        header = Header(frame_id=frame_id, stamp=to_time(stamp + period * (k + 1)))
        msg.poses.append(PoseStamped(header=header, pose=pose_msg(T)))
    return msg


def marker_array_msg(intent: Intent, frame_id: str, stamp: float) -> MarkerArray:
    """The path line, the per-step spheres and the next gripper command's label; the same
    ids every time, so each chunk's markers replace the last one's."""
    header = Header(frame_id=frame_id, stamp=to_time(stamp))
    points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in intent.poses[:, :3, 3]]
    colours = [CLOSED_COLOUR if c else OPEN_COLOUR for c in intent.closed]

    def marker(marker_id: int, kind: int, size: float) -> Marker:
        out = Marker(header=header, ns=NAMESPACE, id=marker_id, type=kind, action=Marker.ADD)
        out.pose.orientation.w = 1.0
        out.scale = Vector3(x=size, y=size, z=size)
        return out

    line = marker(PATH_ID, Marker.LINE_STRIP, LINE_WIDTH_M)
    line.points, line.color = points, PATH_COLOUR
    steps = marker(STEPS_ID, Marker.SPHERE_LIST, SPHERE_M)
    steps.points, steps.colors, steps.color = points, colours, OPEN_COLOUR
    label = marker(GRIPPER_ID, Marker.TEXT_VIEW_FACING, TEXT_M)
    label.pose.position = Point(x=points[0].x, y=points[0].y, z=points[0].z + LABEL_ABOVE_M)
    label.text = f"gripper {'closed' if intent.closed[0] else 'open'} ({intent.apertures[0]:.2f})"
    label.color = colours[0]
    return MarkerArray(markers=[line, steps, label])
