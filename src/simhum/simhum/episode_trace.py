"""Where lock-step episodes go wrong, from what each EpisodeOutcome keeps per control tick:
the measured joints (the tool's path by the URDF's forward kinematics) and the position of
the task's moved object (the cube, the block, the top cube).

A failed episode is one of two kinds:

- ``untouched``: the object never moved 1 cm from where it started: the policy did not find
  it; the tool's closest approach to it says by how far it went wrong;
- ``missed``: the policy moved it and did not finish; the object's final distance to the
  goal (the bin's, the target's or the base's start) says how near it came.

On push (session 43, docs/learning_record.md) these separated a policy that finds the
block in the real look less precisely from one that pushes it worse; ``simhum lockstep``
prints them per variant and ``--plot`` draws every episode from above.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median

import numpy as np

from simhum_core.kinematics import IKSolver
from simhum_sim_bridge.tasks import Task

MOVED_M = 0.01  # an object that never got this far from its start was not touched
KINDS = ("success", "untouched", "missed")
KIND_COLOURS = {"success": "tab:green", "untouched": "tab:grey", "missed": "tab:red"}


def tool_path(ik: IKSolver, path) -> np.ndarray:
    """Tool positions [N, 3] along a path of joint positions."""
    return np.array([ik.forward(np.asarray(q))[:3, 3] for q in path])


@dataclass(frozen=True)
class EpisodeTrace:
    """What one episode did to its task's moved object."""

    kind: str  # one of KINDS
    tool_closest_m: float  # the tool's closest approach to the object (3-D, same tick)
    object_moved_m: float  # the object's farthest distance from its start
    goal_distance_m: float  # the object's final horizontal distance to the goal's start


def trace_episode(outcome: dict, task: Task, ik: IKSolver) -> EpisodeTrace:
    """The trace of one EpisodeOutcome (as a dict) of ``task``."""
    tool = tool_path(ik, outcome["path"])
    obj = np.asarray(outcome["object_path"], dtype=float)
    if len(obj) != len(tool):
        raise ValueError(
            f"episode {outcome['seed']}: {len(obj)} object positions for {len(tool)} joint states"
        )
    moved = float(np.linalg.norm(obj - obj[0], axis=1).max())
    goal = np.asarray(outcome["layout"][task.goal][:2], dtype=float)
    kind = "success" if outcome["success"] else "untouched" if moved < MOVED_M else "missed"
    return EpisodeTrace(
        kind,
        float(np.linalg.norm(tool - obj, axis=1).min()),
        moved,
        float(np.linalg.norm(obj[-1, :2] - goal)),
    )


def failure_summary(traces: list[EpisodeTrace]) -> dict:
    """Episodes of each kind, with the untouched ones' median closest approach and the missed
    ones' median final distance to the goal (None where there are none)."""
    untouched = [t.tool_closest_m for t in traces if t.kind == "untouched"]
    missed = [t.goal_distance_m for t in traces if t.kind == "missed"]
    return {
        **{kind: sum(t.kind == kind for t in traces) for kind in KINDS},
        "untouched_tool_closest_m": median(untouched) if untouched else None,
        "missed_goal_distance_m": median(missed) if missed else None,
    }


def describe(summary: dict) -> str:
    """One line: each kind's count and its median measure."""

    def cm(value: float | None, what: str) -> str:
        return "" if value is None else f" ({what} median {100 * value:.1f} cm)"

    return (
        f"success {summary['success']}, untouched {summary['untouched']}"
        f"{cm(summary['untouched_tool_closest_m'], 'tool closest')}, missed "
        f"{summary['missed']}{cm(summary['missed_goal_distance_m'], 'to goal')}"
    )


def add_traces(report: list[dict], task: Task, ik: IKSolver) -> list[dict]:
    """``evaluate_lockstep``'s report with each episode's trace fields and each variant's
    failure summary ('failures')."""
    traced = []
    for variant in report:
        traces = [trace_episode(o, task, ik) for o in variant["outcomes"]]
        outcomes = [{**o, **asdict(t)} for o, t in zip(variant["outcomes"], traces, strict=True)]
        traced.append({**variant, "outcomes": outcomes, "failures": failure_summary(traces)})
    return traced


def plot_traces(traced: list[dict], task: Task, ik: IKSolver, path: Path) -> None:
    """Every episode of ``add_traces``' report from above, one panel per variant: the tool's
    path (thin) and the moved object's (thick, a dot at its start), coloured by kind; the
    goal's start as a cross."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(traced), figsize=(4.2 * len(traced), 4.4), squeeze=False)
    for ax, variant in zip(axes[0], traced, strict=True):
        for outcome in variant["outcomes"]:
            colour = KIND_COLOURS[outcome["kind"]]
            tool = tool_path(ik, outcome["path"])
            obj = np.asarray(outcome["object_path"])
            goal = outcome["layout"][task.goal]
            ax.plot(tool[:, 0], tool[:, 1], color=colour, lw=0.6, alpha=0.5)
            ax.plot(obj[:, 0], obj[:, 1], color=colour, lw=2.0)
            ax.plot(obj[0, 0], obj[0, 1], "o", color=colour, ms=3)
            ax.plot(goal[0], goal[1], "x", color="black", ms=4, alpha=0.5)
        counts = variant["failures"]
        ax.set_title(
            f"{variant['variant']}: " + ", ".join(f"{counts[k]} {k}" for k in KINDS), fontsize=9
        )
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
    fig.suptitle(
        f"{task.name}: tool (thin) and {task.moved_object} (thick) per episode, "
        f"{task.goal} start x",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
