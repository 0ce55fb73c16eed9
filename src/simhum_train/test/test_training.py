"""Training: the loss goes down, stage 2 keeps exactly the retained modules, resume is exact,
configs fail clearly, diagnostics measure what they claim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from simhum_train.checkpoint import (
    BEST,
    FINAL,
    LATEST,
    CheckpointError,
    initialize_from,
    load_policy,
    shared_init_map,
)
from simhum_train.dataset import TrainingData
from simhum_train.diagnostics import domain_classifier_accuracy, wasserstein
from simhum_train.experiment import ConfigError, load_experiment
from simhum_train.metrics import read_csv
from simhum_train.policy.modeling import Backbone, ModularPolicy
from simhum_train.tensorboard_log import TensorBoardLog
from simhum_train.train import (
    StageTrainer,
    batch_shares,
    ema_decay,
    policy_config,
    run_experiment,
    update_ema,
)
from simhum_train.train import main as simhum_train

RETAINED = {"backbone", "trunk", "adaptors.real", "embodiments.robot"}


def tensorboard_events(folder: Path):
    """The scalars and images of the event files in ``folder``, as TensorBoard reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    return EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0}).Reload()


def module_roots(state: dict) -> set[str]:
    roots = set()
    for key in state:
        parts = key.split(".")
        roots.add(".".join(parts[:2]) if parts[0] in ("adaptors", "embodiments") else parts[0])
    return roots


def test_a_tiny_training_run_lowers_the_loss(
    tmp_path: Path, store_path: Path, tiny_config
) -> None:
    overrides = [
        f"data.store={store_path}",
        f"out={tmp_path}",
        "data.val_fraction=0",  # evaluate on the episodes it fits (fixed noise and times)
        "stages=[{name: sim, mixing: {sim: 1.0}, steps: 60, batch_size: 16, lr: 3.0e-3, "
        "warmup_steps: 5, eval_every: 30, eval_samples: 32}]",
    ]
    exp = load_experiment(tiny_config, overrides)
    finals = run_experiment(exp, progress=False)
    evals = read_csv(tmp_path / "tiny" / "sim" / "eval.csv")
    assert [int(r["step"]) for r in evals] == [0, 30, 60]
    first, last = float(evals[0]["val_loss"]), float(evals[-1]["val_loss"])
    assert last < 0.6 * first, (first, last)
    assert float(evals[-1]["val_action_mse"]) < float(evals[0]["val_action_mse"])
    train = read_csv(tmp_path / "tiny" / "sim" / "train.csv")
    assert len(train) == 60 and all(float(r["seconds"]) > 0 for r in train)
    assert (tmp_path / "tiny" / "loss.png").stat().st_size > 10_000
    # TensorBoard event files beside the CSVs mirror them, with a predictions figure
    board = tensorboard_events(tmp_path / "tiny" / "sim")
    assert [e.step for e in board.Scalars("train/loss")] == list(range(1, 61))
    assert [e.value for e in board.Scalars("train/loss")] == pytest.approx(
        [float(r["loss"]) for r in train], rel=1e-6
    )
    assert [e.step for e in board.Scalars("eval/val_action_mse")] == [0, 30, 60]
    assert [e.step for e in board.Images("predictions/sim")] == [0, 30, 60]
    # checkpoint selection: best.pt is the evaluation with the lowest sampled-action error,
    # and the last step is kept beside it
    assert finals["sim"] == tmp_path / "tiny" / "sim" / BEST
    errors = {int(r["step"]): float(r["val_action_mse"]) for r in evals}
    best = torch.load(finals["sim"], weights_only=True)
    assert best["step"] == min(errors, key=errors.get)
    assert best["best"] == pytest.approx(min(errors.values()))
    assert torch.load(finals["sim"].parent / FINAL, weights_only=True)["step"] == 60
    # what is selected and exported is the moving average, not the last raw weights
    assert any(not torch.equal(best["policy"][k], best["raw_policy"][k]) for k in best["policy"])


def test_moving_average_of_the_weights() -> None:
    assert ema_decay(0.995, 0) == pytest.approx(0.1)  # early: mostly the new weights
    assert ema_decay(0.995, 1_000_000) == 0.995
    model = torch.nn.Linear(2, 2)
    average = torch.nn.Linear(2, 2)
    average.load_state_dict(model.state_dict())
    before = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    update_ema(average, model, 0.75)
    torch.testing.assert_close(average.weight, before + 0.25)
    torch.testing.assert_close(average.bias, model.bias)


def test_stage_two_checkpoint_holds_exactly_the_retained_modules(two_stage) -> None:
    pretrain = torch.load(two_stage["pretrain"], weights_only=True)
    finetune = torch.load(two_stage["finetune"], weights_only=True)
    assert module_roots(pretrain["policy"]) == RETAINED | {"adaptors.sim", "embodiments.human"}
    assert module_roots(finetune["policy"]) == RETAINED
    assert finetune["origin"] == {m: m for m in RETAINED}
    assert set(finetune["normalization"]) == {"robot"}
    assert finetune["step"] == 3 and pretrain["step"] == 4
    train = read_csv(Path(two_stage["pretrain"]).parent / "train.csv")
    assert all(float(r["classifier_loss"]) > 0 and float(r["alignment_loss"]) > 0 for r in train)
    evals = read_csv(Path(two_stage["pretrain"]).parent / "eval.csv")
    pairs = ("human-real", "human-sim", "real-sim")  # every domain the policy can encode
    for metric in ("wasserstein", "classifier_accuracy"):
        assert all(f"{metric}/{pair}" in evals[-1] for pair in pairs)
    assert all(float(evals[-1][f"wasserstein/{pair}"]) > 0 for pair in pairs)
    assert all(0.0 <= float(evals[-1][f"classifier_accuracy/{pair}"]) <= 1.0 for pair in pairs)
    assert (Path(two_stage["pretrain"]).parents[1] / "diagnostics.png").stat().st_size > 10_000


def test_a_shared_adaptor_reads_every_domains_images(tmp_path, store_path, tiny_config) -> None:
    """model.shared_adaptor: sim and human images both go through the deployable adaptor,
    which the fine-tune keeps; no per-look adaptor is made."""
    exp = load_experiment(
        tiny_config,
        [f"data.store={store_path}", f"out={tmp_path}", "model.shared_adaptor=true"],
    )
    finals = run_experiment(exp, progress=False)
    pretrain = torch.load(finals["pretrain"], weights_only=True)["policy"]
    assert module_roots(pretrain) == {"backbone", "trunk", "adaptors.real"} | {
        "embodiments.robot",
        "embodiments.human",
    }
    finetune = torch.load(finals["finetune"], weights_only=True)
    assert finetune["origin"]["adaptors.real"] == "adaptors.real"  # kept from pre-training
    evals = read_csv(Path(finals["pretrain"]).parent / "eval.csv")
    assert float(evals[-1]["wasserstein/human-sim"]) > 0  # both encoded, through one adaptor


def test_initialize_from_copies_kept_modules_and_maps_renamed_ones(two_stage) -> None:
    _, pretrain = load_policy(two_stage["pretrain"])
    state = pretrain["policy"]
    finetune = torch.load(two_stage["finetune"], weights_only=True)
    policy = ModularPolicy(load_policy(two_stage["finetune"])[0].config)
    origin = initialize_from(policy, state, {"adaptors.real": "adaptors.sim"})
    assert origin["adaptors.real"] == "adaptors.sim" and origin["backbone"] == "backbone"
    loaded = policy.state_dict()
    for key, value in loaded.items():
        source = key.replace("adaptors.real", "adaptors.sim")
        torch.testing.assert_close(value, state[source])
    assert set(loaded) == set(finetune["policy"])
    with pytest.raises(ValueError, match="init_map names"):
        initialize_from(policy, state, {"adaptors.sim": "adaptors.real"})
    without_sim = {k: v for k, v in state.items() if not k.startswith("adaptors.sim.")}
    with pytest.raises(
        ValueError, match=r"from modules the checkpoint lacks; it holds \['adaptors.real'"
    ):
        initialize_from(policy, without_sim, {"adaptors.real": "adaptors.sim"})


def test_a_look_to_look_init_map_keeps_the_shared_adaptor(
    tmp_path, store_path, tiny_config
) -> None:
    """sim_to_real's map (the real look's adaptor from the sim look's) under a shared adaptor:
    both are the one deployable adaptor, so the fine-tune keeps it (it once started fresh)."""
    assert shared_init_map({"adaptors.real": "adaptors.sim"}, shared_adaptor=False) == {
        "adaptors.real": "adaptors.sim"
    }
    assert shared_init_map({"adaptors.real": "adaptors.sim", "trunk": "trunk"}, True) == {}
    exp = load_experiment(
        tiny_config,
        [
            f"data.store={store_path}",
            f"out={tmp_path}",
            "model.shared_adaptor=true",
            "stages.0.mixing={sim: 1.0}",
            "stages.1.init_map={adaptors.real: adaptors.sim}",
        ],
    )
    finals = run_experiment(exp, progress=False)
    pretrain = torch.load(finals["pretrain"], weights_only=True)["policy"]
    finetune = torch.load(finals["finetune"], weights_only=True)
    assert finetune["origin"]["adaptors.real"] == "adaptors.real"
    assert any(k.startswith("adaptors.real.") for k in pretrain)


def test_frozen_modules_keep_the_weights_they_start_from(
    two_stage, tmp_path: Path, store_path: Path, tiny_config
) -> None:
    """A fine-tune of the vision only: trunk and robot modules stay as the pre-training
    left them (raw and averaged weights), the adaptor and backbone train."""
    overrides = [
        f"data.store={store_path}",
        f"out={tmp_path}",
        f"stages.1.init_from={two_stage['pretrain']}",
        "stages.1.freeze=[trunk, embodiments]",
        "stages.0.steps=0",
    ]
    exp = load_experiment(tiny_config, overrides)
    assert exp.stages[1].freeze == ("trunk", "embodiments")
    finetune = torch.load(run_experiment(exp, progress=False)["finetune"], weights_only=True)
    pretrain = torch.load(two_stage["pretrain"], weights_only=True)
    for key, value in finetune["policy"].items():
        if key.startswith(("trunk.", "embodiments.")):
            torch.testing.assert_close(value, pretrain["policy"][key], msg=key)
    moved = [k for k in finetune["policy"] if k.startswith(("backbone.", "adaptors.real."))]
    assert any(not torch.equal(finetune["policy"][k], pretrain["policy"][k]) for k in moved)
    bad = load_experiment(tiny_config, [*overrides, "stages.1.freeze=[head]", "name=bad"])
    with pytest.raises(ConfigError, match=r"freeze names \['head'\]"):
        run_experiment(bad, progress=False)


def test_resume_continues_exactly(tmp_path: Path, store_path: Path, tiny_config) -> None:
    def experiment(out: Path):
        return load_experiment(
            tiny_config, [f"data.store={store_path}", f"out={out}", "stages.0.steps=4"]
        )

    straight = experiment(tmp_path / "a")
    exp = straight.stages[0]
    data = TrainingData(store_path, "relative_ee", 2, 4, straight.data.val_fraction, 0)
    StageTrainer(straight, 0, data, torch.device("cpu")).run(progress=False)

    interrupted = experiment(tmp_path / "b")
    first = StageTrainer(interrupted, 0, data, torch.device("cpu"))
    first.dir.mkdir(parents=True)
    board = TensorBoardLog(first.dir)
    for step in (1, 2, 3):
        board.train(step, first.train_step())
        if step == 2:
            first.save("checkpoint.pt")  # step 3 is lost: never checkpointed
    board.close()
    second = StageTrainer(interrupted, 0, data, torch.device("cpu"))
    second.run(progress=False)

    # the step trained after the last checkpoint and lost is hidden from TensorBoard too
    events = tensorboard_events(tmp_path / "b" / "tiny" / exp.name).Scalars("train/loss")
    assert [e.step for e in events] == [1, 2, 3, 4]
    rows = read_csv(tmp_path / "b" / "tiny" / exp.name / "train.csv")
    retrained = next(r for r in rows if r["step"] == "3")
    assert events[2].value == pytest.approx(float(retrained["loss"]), rel=1e-6)
    a = torch.load(tmp_path / "a" / "tiny" / exp.name / FINAL, weights_only=True)["policy"]
    b = torch.load(tmp_path / "b" / "tiny" / exp.name / FINAL, weights_only=True)["policy"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_a_changed_config_is_not_resumed_into(tmp_path, store_path, tiny_config) -> None:
    base = [
        f"data.store={store_path}",
        f"out={tmp_path}",
        "stages=[{name: s, mixing: {sim: 1}, "
        "steps: 1, batch_size: 4, warmup_steps: 1, eval_samples: 4}]",
    ]
    run_experiment(load_experiment(tiny_config, base), progress=False)
    Path(tmp_path / "tiny" / "s" / FINAL).unlink()
    config = (tmp_path / "tiny" / "config.yaml").read_text()
    changed = load_experiment(tiny_config, [*base, "seed=1"])
    with pytest.raises(ConfigError, match="different config"):
        run_experiment(changed, progress=False)
    assert (tmp_path / "tiny" / "config.yaml").read_text() == config  # the run's record kept


def test_a_corrupt_checkpoint_to_resume_is_named_and_kept(tmp_path, store_path, tiny_config):
    """A run whose latest checkpoint cannot be read stops with a message naming the file and
    what to do, before anything on disk changes; the file stays for the user to inspect."""
    base = [
        f"data.store={store_path}",
        f"out={tmp_path}",
        "stages=[{name: s, mixing: {sim: 1}, "
        "steps: 1, batch_size: 4, warmup_steps: 1, eval_samples: 4}]",
    ]
    exp = load_experiment(tiny_config, base)
    run_experiment(exp, progress=False)
    stage_dir = tmp_path / "tiny" / "s"
    (stage_dir / FINAL).unlink()
    latest = stage_dir / LATEST
    latest.write_bytes(latest.read_bytes()[:100])  # truncated, as by a full disk
    config = (tmp_path / "tiny" / "config.yaml").read_text()
    with pytest.raises(CheckpointError, match=rf"{LATEST}: not a readable .* delete it"):
        run_experiment(exp, progress=False)
    assert latest.stat().st_size == 100
    assert (tmp_path / "tiny" / "config.yaml").read_text() == config


def test_config_numbers_are_checked_and_yaml_exponents_read(tiny_config) -> None:
    """YAML 1.1 reads '1e-4' as a string: it must still be a learning rate, and a value of
    the wrong kind must fail naming its key (not deep inside the optimiser)."""
    assert load_experiment(tiny_config, ["stages.1.lr=1e-4"]).stages[1].lr == 1e-4
    with pytest.raises(ConfigError, match=r"stages\[0\]\.steps must be an integer, got 1\.5"):
        load_experiment(tiny_config, ["stages.0.steps=1.5"])
    with pytest.raises(ConfigError, match=r"stages\[1\]\.lr must be a number, got 'fast'"):
        load_experiment(tiny_config, ["stages.1.lr=fast"])


def test_bad_configs_name_the_file_and_key(tmp_path: Path, tiny_config) -> None:
    with pytest.raises(ConfigError, match=r"tiny\.yaml.*unknown key\(s\) \['stepz'\]"):
        load_experiment(tiny_config, ["stages.0.stepz=3"])
    with pytest.raises(ConfigError, match="mixing needs positive weights"):
        load_experiment(tiny_config, ["stages.0.mixing={simulation: 1}"])
    with pytest.raises(ConfigError, match="must name an earlier stage"):
        load_experiment(tiny_config, ["stages.1.init_from=finetune"])
    with pytest.raises(ConfigError, match=r"must be non-empty multiples of model\.groups"):
        load_experiment(tiny_config, ["model.backbone_widths=[6, 16]"])
    for stride in (3, 8):  # not a power of two; more halvings than [8, 16] has stages
        with pytest.raises(ConfigError, match="backbone_stride must be a power of two"):
            load_experiment(tiny_config, [f"model.backbone_stride={stride}"])
    with pytest.raises(ConfigError, match="'steps' is a value, not a section"):
        load_experiment(tiny_config, ["stages.0.steps.x=1"])
    for name in ("", "../elsewhere"):
        with pytest.raises(ConfigError, match="name must be a plain name"):
            load_experiment(tiny_config, [f"name={name}"])
    with pytest.raises(ConfigError, match="no such config file"):
        load_experiment(tmp_path / "missing.yaml")
    child = tmp_path / "child.yaml"
    child.write_text(f"base: {tiny_config}\nname: child\nseed: 3\n")
    composed = load_experiment(child)
    assert (composed.name, composed.seed, composed.model.d_model) == ("child", 3, 32)
    assert composed.stages[0].mixing == {"sim": 0.5, "human": 0.5}
    assert len(load_experiment("simhum").hash()) == 64  # the packaged configs load


def test_image_size_must_fit_the_backbone(store_path: Path, tiny_config) -> None:
    deep = ["model.backbone_widths=[8, 8, 8, 8, 8]", "model.backbone_stride=32"]
    exp = load_experiment(tiny_config, [f"data.store={store_path}", *deep])  # 32x32: too small
    data = TrainingData(store_path, "relative_ee", 2, 4, 0.34, 0)
    with pytest.raises(ValueError, match="too small for the backbone"):
        policy_config(exp, data, exp.stages[0])


def test_backbone_stride_sets_the_keypoint_grid() -> None:
    for stride in (2, 4, 8):
        features = Backbone((8, 16, 16), 4, stride)(torch.zeros(1, 3, 32, 48))
        assert features.shape[-2:] == (32 // stride, 48 // stride)


def test_grid_tokens_are_one_per_feature_cell_where_they_are() -> None:
    """visual_tokens grid: a token per backbone cell (sizes rounded up, as the convolutions
    do), and the token of a cell carries that cell's position."""
    from simhum_train.policy.config import ArchitectureConfig, PolicyConfig
    from simhum_train.policy.modeling import ModularPolicy, VisionAdaptor

    arch = ArchitectureConfig(
        backbone_widths=(8, 16), backbone_stride=4, groups=4, d_model=32, heads=2,
        visual_tokens="grid",
    )  # fmt: skip
    config = PolicyConfig(arch, 30, 45, embodiments={"robot": (4, 4)})
    assert config.tokens_per_frame == 8 * 12
    images = torch.zeros(2, 1, 30, 45, 3, dtype=torch.uint8)
    tokens = ModularPolicy(config).visual_tokens(images, "sim")
    assert tokens.shape == (2, 1, 96, 32)
    adaptor = VisionAdaptor(16, 32, 4, keypoints=4, grid=True)
    features = torch.zeros(1, 16, 3, 4)
    out = adaptor(features)  # equal features: tokens differ only by their cell's (x, y)
    cell = out[0] - out[0, 0]
    torch.testing.assert_close(cell[5], adaptor.where.weight @ torch.tensor([2 / 3, 1.0]))
    with pytest.raises(ValueError, match=r"model\.visual_tokens must be one of"):
        ArchitectureConfig(visual_tokens="patches")


def test_batch_shares_follow_the_mixing_ratio() -> None:
    assert batch_shares({"sim": 0.75, "human": 0.25}, 64, "proportional") == {
        "sim": 48,
        "human": 16,
    }
    assert batch_shares({"sim": 0.99, "real": 0.01}, 10, "proportional") == {"sim": 9, "real": 1}
    assert batch_shares({"sim": 0.9, "real": 0.1}, 64, "balanced") == {"sim": 32, "real": 32}


def test_proportional_mixing_applies_the_ratio_once(store_path: Path, tiny_config) -> None:
    """The batch already holds each domain's share: the flow loss is the plain mean over the
    batch's samples (weighting each domain's mean by the ratio again would apply it twice,
    which differs where the at-least-one-per-domain rounding moves the shares)."""
    stage = "stages=[{name: s, mixing: {sim: 0.99, real: 0.01}, steps: 1, batch_size: 10}]"
    exp = load_experiment(tiny_config, [f"data.store={store_path}", stage])
    data = TrainingData(store_path, "relative_ee", 2, 4, 0.34, 0)
    trainer = StageTrainer(exp, 0, data, torch.device("cpu"))
    assert trainer.shares == {"sim": 9, "real": 1}
    assert trainer.domain_weights() == pytest.approx({"sim": 0.9, "real": 0.1})
    balanced = load_experiment(
        tiny_config, [f"data.store={store_path}", stage[:-2] + ", batch_mixing: balanced}]"]
    )
    reweighted = StageTrainer(balanced, 0, data, torch.device("cpu"))
    assert reweighted.domain_weights() == pytest.approx({"sim": 0.99, "real": 0.01})


def test_diagnostics_separate_shifted_latents_from_identical_ones() -> None:
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.normal(size=(200, 16)).astype(np.float32))
    b = torch.from_numpy(rng.normal(size=(200, 16)).astype(np.float32))
    assert float(wasserstein(a, a.clone())) < 1e-3
    same_distribution = float(wasserstein(a, b))  # sampling noise only
    shifted = float(wasserstein(a, b + 1.0))  # mean shift of sqrt(16) = 4
    assert shifted > 1.2 * same_distribution and shifted > 4.0
    shifted = b + 3.0
    assert domain_classifier_accuracy({"sim": a, "real": shifted}) > 0.95
    assert domain_classifier_accuracy({"sim": a, "real": b}) < 0.7
    # a collapsed representation is one point for both domains, whatever rounding says
    collapsed = torch.full((200, 16), 0.3)
    assert domain_classifier_accuracy({"sim": collapsed, "real": collapsed + 1e-7}) < 0.7


def test_a_checkpoint_of_another_robot_or_action_space_is_refused_as_a_start(
    two_stage, tmp_path: Path, store_path: Path, tiny_config, capsys
) -> None:
    """A stage started from a checkpoint trained for other joints or another action space
    stops before training, in one line naming the checkpoint (no size-mismatch traceback)."""
    other_robot = tmp_path / "other_robot.pt"
    checkpoint = torch.load(two_stage["finetune"], weights_only=True)
    checkpoint["robot"]["joint_names"] = [f"axis_{i}" for i in range(7)]
    torch.save(checkpoint, other_robot)
    cases = [
        (two_stage["finetune"], "joint_positions", "its 'robot' action space is relative_ee"),
        (other_robot, "relative_ee", "trained for robot joints ['axis_0'"),
    ]
    for source, space, message in cases:
        stage = (
            f"[{{name: tune, mixing: {{real: 1}}, init_from: {source}, steps: 1, "
            "batch_size: 4, warmup_steps: 1, eval_samples: 4}]"
        )
        overrides = [
            f"data.store={store_path}",
            f"out={tmp_path / space}",
            f"data.action_space={space}",
            f"stages={stage}",
        ]
        argv = ["--config", str(tiny_config), "--no-progress"]
        for item in overrides:
            argv += ["--set", item]
        assert simhum_train(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {source}: {message}"), err
        assert len(err.strip().splitlines()) == 1
