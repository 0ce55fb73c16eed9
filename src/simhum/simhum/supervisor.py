"""Bring a declared graph up without ``ros2 launch``: one process per node, each with its
parameter file and log, a node declared ``after`` another started once that one exited 0 (as
the launch file's event handlers do); Ctrl-C stops them all cleanly, and a node that dies is
named and takes the graph down with a non-zero status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from simhum.graph import NodeDecl, ros_executable

STOP_TIMEOUT_S = 10.0


class SupervisorError(RuntimeError):
    """The graph cannot come up here, or one of its nodes died."""


class Supervisor:
    """Runs a graph's nodes as child processes; use as a context manager."""

    def __init__(self, nodes: list[NodeDecl], run_dir: Path, env: dict[str, str] | None = None):
        self.nodes, self.run_dir = nodes, Path(run_dir)
        self.env = dict(os.environ if env is None else env)
        self.procs: dict[str, subprocess.Popen] = {}
        self.finished: set[str] = set()
        foreign = [
            n
            for n in nodes
            if n.module is None and ros_executable(n.package, n.executable) is None
        ]
        if foreign:
            names = ", ".join(f"{n.name} ({n.package}/{n.executable})" for n in foreign)
            raise SupervisorError(
                f"{names} come from a ROS 2 installation (ros2_control, robot_state_publisher), "
                "not installed on this machine: on the robot run `ros2 launch simhum "
                "bringup.launch.py`; here, use mode sim"
            )

    def log_path(self, name: str) -> Path:
        """Where a node's output goes."""
        return self.run_dir / "logs" / f"{name}.log"

    def start(self) -> None:
        """Start every node that waits for no other."""
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "params").mkdir(parents=True, exist_ok=True)
        for node in self.nodes:
            if node.after is None:
                self.launch(node)

    def launch(self, node: NodeDecl) -> None:
        """Start one node's process."""
        params = self.run_dir / "params" / f"{node.name}.yaml"
        params.write_text(yaml.safe_dump({node.name: {"ros__parameters": node.parameters}}))
        if node.module:
            program = [sys.executable, "-m", node.module]
        else:  # a ROS 2 package's executable (C++ nodes such as robot_state_publisher)
            program = [str(ros_executable(node.package, node.executable))]
        args = [
            *program,
            *node.arguments,
            "--ros-args",
            "-r",
            f"__node:={node.name}",
            "--params-file",
            str(params),
        ]
        for extra in node.parameter_files:
            args += ["--params-file", extra]
        for source, target in node.remappings:
            args += ["-r", f"{source}:={target}"]
        with open(self.log_path(node.name), "w") as log:
            self.procs[node.name] = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # Ctrl-C reaches the supervisor, which stops them
            )

    def check(self) -> None:
        """Raise SupervisorError naming a node that died (oneshot nodes may exit 0)."""
        for node in self.nodes:
            proc = self.procs.get(node.name)
            if proc is None or node.name in self.finished:
                continue
            status = proc.poll()
            if status is None:
                continue
            if node.oneshot and status == 0:
                self.finished.add(node.name)
                for waiting in self.nodes:
                    if waiting.after == node.name:
                        self.launch(waiting)
                continue
            tail = self.log_path(node.name).read_text().splitlines()[-15:]
            raise SupervisorError(
                f"node '{node.name}' (pid {proc.pid}) exited with status {status}; "
                f"its log {self.log_path(node.name)} ends:\n  " + "\n  ".join(tail)
            )

    def stop(self) -> None:
        """SIGINT every node (as Ctrl-C), then kill what has not exited in time."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Supervisor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_forever(self, poll_s: float = 0.2) -> int:
        """Supervise until Ctrl-C (status 0) or a node dies (status 1, reported)."""
        print(
            f"[simhum] {len(self.nodes)} nodes up: {', '.join(n.name for n in self.nodes)}; "
            f"logs in {self.run_dir / 'logs'}; Ctrl-C stops them",
            flush=True,
        )
        try:
            while True:
                self.check()
                time.sleep(poll_s)
        except KeyboardInterrupt:
            print("[simhum] stopping", flush=True)
            return 0
        except SupervisorError as err:
            print(f"[simhum] {err}", file=sys.stderr, flush=True)
            return 1
