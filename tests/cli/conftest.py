"""The ``seedream`` command run with click's ``CliRunner`` against one local stack (ports 0, fast simulator).

The stack is package-scoped, not session-scoped: one for the tests of ``tests/cli`` a process runs, stopped (and
moto's in-process state cleared) before that process starts another (``tests/integration``'s, in the same way).
A local stack is one per process at a time: it sets the process's AWS environment, and moto's backends are the
process's.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from moto.core.base_backend import BackendDict

from local.stack import LocalStack
from seedream_cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
ASTRONAUT = ROOT / "examples" / "astronaut.png"
PROMPT = "Generate a series of 2 images from the source photo, changing only the colour grade."


@pytest.fixture(scope="package")
def stack():
    try:
        with LocalStack(api_port=0, key_api_port=0, moto_port=0, simulator_port=0, websocket_port=0, generation_seconds=0.2,
                        retry_delay=1, reconcile_seconds=1) as running:
            yield running
    finally:
        # moto keeps its backends in this process, not in the server: without this the next stack
        # (tests/integration's) would find this one's tables, queues and bucket already there
        BackendDict.reset()


@pytest.fixture(autouse=True)
def _clean_faults(stack):
    stack.simulator.reset_faults()
    yield
    stack.simulator.reset_faults()


@pytest.fixture
def seedream(stack):
    """``seedream(*args)``: the command against the test stack (``--api-url`` first), as a ``Result``."""

    def run(*args: str, env: dict | None = None, target: bool = True) -> Result:
        argv = (["--api-url", stack.api_url] if target else []) + list(args)
        return CliRunner().invoke(cli, argv, env=env)

    return run


@pytest.fixture
def source(stack) -> str:
    """The example photo in the stack's bucket, as an s3:// URI (for jobs that need no upload)."""
    bucket = stack.name("JobsBucket")
    stack.session.client("s3").upload_file(str(ASTRONAUT), bucket, "inputs/cli-tests/astronaut.png")
    return f"s3://{bucket}/inputs/cli-tests/astronaut.png"


@pytest.fixture
def dead_port():
    """A loopback port bound but not listening: connecting to it is refused, for as long as the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def final_json(result: Result) -> dict:
    """The job JSON, which must be everything on stdout (and so the last thing on it)."""
    return json.loads(result.stdout)


def one_line_error(result: Result, exit_code: int = 2) -> str:
    """Asserts a one-line message on stderr, nothing on stdout, no traceback, the exit status; returns the line."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
