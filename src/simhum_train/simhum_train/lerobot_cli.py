"""``simhum_lerobot``: training stores to and from LeRobot datasets (codebase_version v3.0).

    simhum_lerobot export --store runs/store.zarr --out runs/lerobot_real --domains real
    simhum_lerobot import --dataset runs/lerobot_real --store runs/other.zarr --domain real

``export`` writes the store's episodes of the given domains (one embodiment) as a dataset
that lerobot's LeRobotDataset loads; ``import`` appends a dataset's episodes to a store as
episodes of one domain and embodiment.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simhum_train.errors import SimhumTrainError
from simhum_train.keys import DOMAINS, EMBODIMENTS
from simhum_train.lerobot_format import LOSSLESS_CRF


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command; exit status 2 for bad input, naming it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="a store (or its domains) -> a LeRobot dataset")
    export.add_argument("--store", type=Path, required=True, help="training store (*.zarr)")
    export.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    export.add_argument("--domains", nargs="+", help="export only these domains' episodes")
    export.add_argument("--fps", type=int, help="frame rate (default: the store's camera rate)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    export.add_argument("--repo-id", help="Hugging Face id for the card (default simhum/<out>)")
    export.add_argument(
        "--crf", type=int, default=LOSSLESS_CRF, help="H.264 quality: 0 lossless (default) to 51"
    )
    imp = commands.add_parser("import", help="a LeRobot dataset -> episodes in a store")
    imp.add_argument("--dataset", type=Path, required=True, help="LeRobot dataset folder")
    imp.add_argument("--store", type=Path, required=True, help="training store (made if absent)")
    imp.add_argument("--domain", required=True, choices=DOMAINS)
    imp.add_argument("--embodiment", choices=EMBODIMENTS, help="default: the domain's")
    imp.add_argument("--task", help="task of every episode (default: the dataset's)")
    imp.add_argument("--image-key", help="camera feature to import (needed if several)")
    imp.add_argument("--urdf", type=Path, help="the store's robot (default: SimHum's arm)")
    imp.add_argument("--tool-frame", default="tcp", help="for a new store: the robot's tool")
    imp.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"), help="for a new store")
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            from simhum_train.lerobot_export import export_store

            print(
                export_store(
                    args.store,
                    args.out,
                    domains=args.domains,
                    fps=args.fps,
                    overwrite=args.overwrite,
                    repo_id=args.repo_id,
                    crf=args.crf,
                )
            )
        else:
            from simhum_train.lerobot_import import import_dataset

            print(
                import_dataset(
                    args.dataset,
                    args.store,
                    args.domain,
                    embodiment=args.embodiment,
                    task=args.task,
                    image_key=args.image_key,
                    urdf=args.urdf,
                    image_size=tuple(args.image_size) if args.image_size else None,
                    tool_frame=args.tool_frame,
                )
            )
    except (SimhumTrainError, OSError) as err:  # bad input, or a path that cannot be used
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
