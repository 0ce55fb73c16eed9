"""``simhum``: the node graph without ``ros2 launch`` (up), closed-loop evaluation (eval),
the main job from demonstrations to a policy closing the loop (demo), the study of every
method (study), and an episode as a video with its tool path drawn (render).

    simhum up --mode sim --policy model.onnx
    simhum eval --policy model.onnx --episodes 10
    simhum demo --preset quick
    simhum study --preset study
    simhum render --bag runs/demos/pick_place/real/pick_place-real-in-000000 --out episode.gif
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from simhum.graph import Bringup, declare_graph, describe
from simhum.supervisor import Supervisor, SupervisorError


def bringup_options(parser: argparse.ArgumentParser) -> None:
    """One option per Bringup field (the launch file's arguments)."""
    for f in fields(Bringup):
        default = f.default_factory() if f.default is MISSING else f.default
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f.metadata["help"])


def bringup_from(args: argparse.Namespace) -> Bringup:
    """The Bringup of parsed options."""
    return Bringup(**{f.name: getattr(args, f.name) for f in fields(Bringup)})


def up(args: argparse.Namespace) -> int:
    """Bring the graph up and supervise it until Ctrl-C or a node dies."""
    try:
        nodes = declare_graph(bringup_from(args))
        if args.dry_run:
            print(describe(nodes))
            return 0
        supervisor = Supervisor(nodes, Path(args.run_dir))
    except (ValueError, SupervisorError) as err:
        print(f"simhum up: {err}", file=sys.stderr)
        return 2
    # Ctrl-C (SIGINT) stops the graph even when this was started in the background by a
    # shell without job control, which starts it with SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with supervisor:
        return supervisor.run_forever()


def main(argv: list[str] | None = None) -> int:
    """Dispatch the sub-commands."""
    parser = argparse.ArgumentParser(prog="simhum", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="bring the node graph up (no ros2 launch)")
    bringup_options(up_parser)
    up_parser.add_argument("--dry-run", action="store_true", help="print the graph only")
    up_parser.set_defaults(run=up)

    from simhum.demo import add_demo_command
    from simhum.evaluate import add_eval_command
    from simhum.lockstep import add_lockstep_command
    from simhum.render import add_render_command
    from simhum.study import add_study_command

    add_eval_command(commands)
    add_lockstep_command(commands)
    add_demo_command(commands)
    add_study_command(commands)
    add_render_command(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
