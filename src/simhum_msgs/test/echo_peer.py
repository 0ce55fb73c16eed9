"""A second ROS 2 process for the interface test: echoes every SimHum message back and
answers both services from the request's fields."""

from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from simhum_msgs.msg import EndEffectorTarget, EpisodeEvent, HandPose, PolicyStatus
from simhum_msgs.srv import Record, ResetScene

MESSAGE_TYPES = (HandPose, EndEffectorTarget, EpisodeEvent, PolicyStatus)


class EchoPeer(Node):
    """Republishes /simhum_test/in/<Type> on /simhum_test/out/<Type>; serves the services."""

    def __init__(self) -> None:
        super().__init__("simhum_echo_peer")
        self._keep = []
        for msg_type in MESSAGE_TYPES:
            name = msg_type.__name__
            pub = self.create_publisher(msg_type, f"/simhum_test/out/{name}", 10)
            self._keep.append(
                self.create_subscription(
                    msg_type, f"/simhum_test/in/{name}", lambda m, p=pub: p.publish(m), 10
                )
            )
        self.create_service(ResetScene, "/simhum_test/reset_scene", self._reset)
        self.create_service(Record, "/simhum_test/record", self._record)

    def _reset(self, req: ResetScene.Request, res: ResetScene.Response) -> ResetScene.Response:
        res.ok = req.task != ""
        res.message = f"task={req.task} seed={req.seed} variant={req.variant}"
        return res

    def _record(self, req: Record.Request, res: Record.Response) -> Record.Response:
        res.ok = req.action in (Record.Request.ACTION_START, Record.Request.ACTION_STOP)
        res.bag_path = f"/bags/{req.task}/{req.domain}/{req.embodiment}/{req.operator_name}"
        res.message = f"action={req.action} success={req.success} note={req.note}"
        return res


def main() -> None:
    rclpy.init()
    node = EchoPeer()
    print("READY", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
