"""SimHum bringup: the robot (mode:=real) or its MuJoCo stand-in (mode:=sim), the camera, the
policy and the recorder, built from the one graph declaration in simhum.graph; TF in both
modes, and RViz2 with rviz:=true (robot, camera, the policy's intended tool path, TF).

    ros2 launch simhum bringup.launch.py mode:=real camera:=0 policy:=/models/model.onnx
    ros2 launch simhum bringup.launch.py mode:=sim policy:=model.onnx record:=true rviz:=true
"""

from dataclasses import MISSING, fields

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.event_handlers import OnProcessExit, OnProcessStart
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from simhum.graph import Bringup, NodeDecl, declare_graph


def _default(f) -> str:
    value = f.default_factory() if f.default is MISSING else f.default
    return str(value).lower() if isinstance(value, bool) else str(value)


def _start_after(decl: NodeDecl, node: Node):
    """on_exit of the node ``decl`` waits for: start ``node`` only if that one succeeded."""

    def on_exit(event, context):
        if event.returncode == 0:
            return [node]
        return [
            LogInfo(
                msg=f"[simhum] {decl.after} exited with status {event.returncode}: "
                f"{decl.name} is not started (see {decl.after}'s log above)"
            )
        ]

    return on_exit


def _transition(node: LifecycleNode, transition: int) -> EmitEvent:
    return EmitEvent(
        event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition)
    )


def _managed(decl: NodeDecl, node: LifecycleNode, after: Node | None) -> list:
    """A managed node: configured as soon as its process runs (the policy loads and warms up
    while the arm moves to the start pose); activated once it is configured and, with
    ``after``, that node has exited 0 (else the launch says why it stays inactive)."""
    handlers = [
        RegisterEventHandler(
            OnProcessStart(
                target_action=node, on_start=[_transition(node, Transition.TRANSITION_CONFIGURE)]
            )
        )
    ]
    if after is None:
        activate = [_transition(node, Transition.TRANSITION_ACTIVATE)]
        return [node, *handlers, _on_inactive(node, lambda: activate)]
    waiting = {"configured": False, "after_done": False}

    def both_done() -> list:
        if waiting["configured"] and waiting["after_done"]:
            return [_transition(node, Transition.TRANSITION_ACTIVATE)]
        return []

    def on_exit(event, context):
        if event.returncode != 0:
            return [
                LogInfo(
                    msg=f"[simhum] {decl.after} exited with status {event.returncode}: "
                    f"{decl.name} stays inactive (see {decl.after}'s log above)"
                )
            ]
        waiting["after_done"] = True
        return both_done()

    def on_configured() -> list:
        waiting["configured"] = True
        return both_done()

    handlers.append(RegisterEventHandler(OnProcessExit(target_action=after, on_exit=on_exit)))
    return [node, *handlers, _on_inactive(node, on_configured)]


def _on_inactive(node: LifecycleNode, then) -> RegisterEventHandler:
    """The actions ``then()`` returns, once ``node`` is configured (inactive)."""
    entities = [OpaqueFunction(function=lambda context: then())]
    return RegisterEventHandler(
        OnStateTransition(target_lifecycle_node=node, goal_state="inactive", entities=entities)
    )


def _nodes(context):
    values = {f.name: LaunchConfiguration(f.name).perform(context) for f in fields(Bringup)}
    decls = declare_graph(Bringup.from_strings(values))
    nodes = {}
    for decl in decls:
        common = {
            "package": decl.package,
            "executable": decl.executable,
            "name": decl.name,
            "parameters": [decl.parameters, *decl.parameter_files],
            "arguments": list(decl.arguments),
            "remappings": list(decl.remappings),
            "output": "screen",
        }
        nodes[decl.name] = (
            LifecycleNode(namespace="", **common) if decl.managed else Node(**common)
        )
    actions = []
    for decl in decls:
        node = nodes[decl.name]
        if decl.managed and not decl.parameters.get("autostart", False):
            actions += _managed(decl, node, nodes.get(decl.after))
        elif decl.after is None:
            actions.append(node)
        else:  # started when the node it waits for exits 0 (spawners, start pose)
            handler = OnProcessExit(
                target_action=nodes[decl.after], on_exit=_start_after(decl, node)
            )
            actions.append(RegisterEventHandler(handler))
    return actions


def generate_launch_description() -> LaunchDescription:
    """One launch argument per Bringup field, then the declared graph."""
    arguments = [
        DeclareLaunchArgument(f.name, default_value=_default(f), description=f.metadata["help"])
        for f in fields(Bringup)
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_nodes)])
