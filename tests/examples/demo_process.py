"""Runs `cognito-asgi demo` as a real process, for the demo and browser tests.

The demo patches moto's backend in its own process (email aliases), so it runs apart from the
test process and its session-wide emulator.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0


@dataclass
class DemoProcess:
    process: subprocess.Popen[str]
    url: str = ""
    environ: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _ended: bool = False

    @property
    def output(self) -> str:
        self.drain()
        return "\n".join(self.lines)

    def drain(self, timeout: float = 0.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._ended:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return
            if line is None:
                self._ended = True
                return
            self.lines.append(line)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        """Stop the demo as Ctrl-C does; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.drain(timeout=5.0)  # until the output ends, which it does with the process
        return self.process.returncode


def _read(stream: object, sink: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.put(line.rstrip("\n"))
    sink.put(None)


@contextmanager
def run_demo(
    workdir: Path, *, extra_env: Mapping[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[DemoProcess]:
    """`cognito-asgi demo --port 0` in `workdir`, ready to serve; stopped on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COGNITO_", "AWS_"))}
    env.update(extra_env or {})
    command = [
        sys.executable,
        "-m",
        "cognito_asgi._cli",
        "demo",
        "--port",
        "0",
        "--static-dir",
        str(REPO / "examples" / "static_site"),
        *args,
    ]
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    demo = DemoProcess(process)
    reader = threading.Thread(target=_read, args=(process.stdout, demo._queue), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not demo.url:
            if time.monotonic() > deadline or process.poll() is not None:
                demo.stop()
                raise RuntimeError(f"the demo did not start:\n{demo.output}")
            demo.drain(timeout=0.5)
            for line in demo.lines:
                match = re.match(r"\s+(COGNITO_\w+)=(.*)$", line)
                if match:
                    demo.environ[match[1]] = match[2]
                found = re.search(r"Open (http://127\.0\.0\.1:\d+)", line)
                if found:
                    demo.url = found[1]
        while True:
            try:
                if httpx.get(demo.url + "/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                demo.stop()
                raise RuntimeError(f"the demo does not answer:\n{demo.output}")
            time.sleep(0.1)
        yield demo
    finally:
        demo.stop()
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
