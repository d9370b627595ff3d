"""What the serve tests share: holding the batcher's worker, slices to upload, and a live server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_LIMIT_S = 180  # loading TensorFlow and the run on a busy 2-core machine; not a timing assertion


def hold(batcher) -> threading.Event:
    """Occupy a batcher's worker with a call until the returned event is set; returns once the call runs."""
    running, release = threading.Event(), threading.Event()
    batcher.submit_call(lambda: running.set() or release.wait())
    assert running.wait(30)
    return release


@pytest.fixture
def hold_worker():
    """:func:`hold`, with every held worker released at the end of the test."""
    held = []
    yield lambda batcher: held.append(hold(batcher)) or held[-1]
    for release in held:
        release.set()


@pytest.fixture(scope="session")
def slice_files(small_root) -> list[Path]:
    """A few synthetic slices (JPEG files) of one class folder."""
    return sorted((small_root / "data" / "val" / "MildDemented").glob("*.jpg"))[:4]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serving():
    """:func:`live_server`, for a test to start one with its run and options."""
    return live_server


@contextmanager
def live_server(run_dir: Path, *options: str):
    """``python -m alzmri serve RUN`` as a real process on a free loopback port, up once ``/health`` answers.

    Yields:
        ``(base_url, process)``; on leaving, the process is sent SIGINT (as Ctrl-C) and waited for.
    """
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "alzmri", "serve", str(run_dir), "--port", str(port), *options],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(url: str, process: subprocess.Popen) -> None:
    """Poll ``/health`` until it answers; the server's output if it exits or never comes up."""
    deadline = time.monotonic() + START_LIMIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}: {process.stdout.read()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the server did not answer /health within {START_LIMIT_S} s")
