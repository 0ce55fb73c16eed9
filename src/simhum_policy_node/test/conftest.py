"""A tiny trained and exported policy (32x32 images), built once per test session through
the project's own commands: generate, convert, train both stages, export."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the tests' helper modules (toy_policy)

TINY = {
    "model.backbone_widths": "[8, 16]",
    "model.backbone_stride": "4",
    "model.groups": "4",
    "model.keypoints": "4",
    "model.d_model": "32",
    "model.heads": "2",
    "model.encoder_layers": "1",
    "model.decoder_layers": "1",
    "model.chunk_length": "4",
    "model.num_sampling_steps": "4",
    "data.val_fraction": "0.34",
    "device": "cpu",
    "stages.0.steps": "4",
    "stages.0.batch_size": "8",
    "stages.0.eval_every": "4",
    "stages.1.steps": "3",
    "stages.1.batch_size": "8",
    "stages.1.eval_every": "3",
}


@pytest.fixture(scope="session")
def tiny_policy(tmp_path_factory) -> Path:
    from simhum_human_capture.proxy_human import main as generate_human
    from simhum_sim_bridge.generate import main as generate
    from simhum_train.convert import main as convert
    from simhum_train.export import main as export
    from simhum_train.train import main as train

    root = tmp_path_factory.mktemp("tiny_policy")
    episodes = root / "episodes"
    common = [
        "--out",
        str(episodes),
        "--tasks",
        "pick_place",
        "--width",
        "32",
        "--height",
        "32",
        "-n",
        "2",
        "--workers",
        "1",
    ]
    assert generate([*common, "--domains", "sim"]) == 0
    assert generate([*common, "--domains", "real", "--seed", "50000"]) == 0
    assert generate_human([*common, "--domains", "real"]) == 0
    bags = [str(p) for p in sorted(episodes.glob("*/*/*")) if not p.name.startswith(".")]
    assert (
        convert(["--episodes", *bags, "--out", str(root / "store.zarr"), "--image-size", "32"])
        == 0
    )
    overrides = {**TINY, "out": str(root / "train"), "data.store": str(root / "store.zarr")}
    args = ["--config", "simhum", "--no-progress"]
    for key, value in overrides.items():
        args += ["--set", f"{key}={value}"]
    assert train(args) == 0
    assert (
        export(
            [
                "--checkpoint",
                str(root / "train" / "simhum" / "finetune" / "final.pt"),
                "--out",
                str(root / "model"),
            ]
        )
        == 0
    )
    return root / "model" / "simhum_policy.onnx"


@pytest.fixture
def change_state(ros_node, spin):
    """change_state(transition id) -> success: a lifecycle transition of the policy node,
    asked over its change_state service."""
    from lifecycle_msgs.msg import State, Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    client = ros_node.create_client(ChangeState, "/simhum_policy/change_state")
    get_state = ros_node.create_client(GetState, "/simhum_policy/get_state")
    goal = {
        Transition.TRANSITION_CONFIGURE: State.PRIMARY_STATE_INACTIVE,
        Transition.TRANSITION_ACTIVATE: State.PRIMARY_STATE_ACTIVE,
        Transition.TRANSITION_DEACTIVATE: State.PRIMARY_STATE_INACTIVE,
    }

    def primary_state() -> int:
        """The node's state once no transition is under way (get_state is safe to re-ask)."""
        for _ in range(12):
            future = get_state.call_async(GetState.Request())
            if spin(future.done, 5) and future.result().current_state.id < 10:
                return future.result().current_state.id
        raise AssertionError("the policy node's get_state never answered with a primary state")

    def change(transition: int) -> bool:
        assert client.wait_for_service(timeout_sec=30) and get_state.wait_for_service(30)
        request = ChangeState.Request()
        request.transition.id = transition
        future = client.call_async(request)
        if spin(future.done, 20):
            return future.result().success
        # Fast DDS drops a reply sent before the server has matched this client's reply
        # reader (ros2/rmw_fastrtps#842); re-asking the transition is not safe, the state says
        return primary_state() == goal[transition]

    return change
