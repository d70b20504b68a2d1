"""The README's commands, run as written against the local stack (the ports and names `make up` uses replaced by
the test stack's)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import wait_status

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def readme_block(after: str) -> str:
    """The first fenced block after the line that starts with ``after``."""
    text = (ROOT / "README.md").read_text()
    start = text.index(after)
    return re.search(r"```\w*\n(.*?)```", text[start:], re.S).group(1)


def test_the_jobsclient_snippet_runs_from_the_repository_root_and_creates_a_job(stack):
    block = readme_block('**HTTP** — as in "The API"')
    assert block.startswith(".venv/bin/python - <<'EOF'\n") and block.endswith("EOF\n")
    script = block.removeprefix(".venv/bin/python - <<'EOF'\n").removesuffix("EOF\n")
    assert "http://127.0.0.1:3000" in script and "http://127.0.0.1:5050" in script
    script = script.replace("http://127.0.0.1:3000", stack.api_url).replace("http://127.0.0.1:5050", stack.moto_url)
    assert stack.name("JobsBucket") == "seedream-local-jobsbucket"  # the name the snippet uses, as make up's
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}  # nothing exported: no AWS_* variables
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-"], input=script, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    status, _, answer = done.stdout.partition(" ")
    assert status == "202", done.stdout
    job_id = re.search(r"'job_id': '([^']+)'", answer).group(1)
    assert wait_status(stack, job_id, "succeeded", "failed", timeout=60)["status"] == "succeeded"


def test_the_websocket_client_snippet_follows_a_job_to_its_end(stack, client, source_image, tmp_path):
    block = readme_block("A client in a dozen lines")
    script = tmp_path / "follow.py"
    script.write_text(block)
    created = client.create_job({"provider": "evolink", "model": "seedream-v4.5", "prompt": "Generate a series of 1 images",
                                 "images": [source_image], "max_images": 1, "size": "2048*2048"})
    job_id = created.json()["job_id"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "AWS_ACCESS_KEY_ID": "local",
           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}  # the local stack's caller, as JobsClient's
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), str(script), stack.resources.outputs["WebSocketUrl"],
                           job_id], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("{'type': 'subscribed', 'job_id': '" + job_id + "'")
    assert "'detail-type': 'Job Succeeded'" in lines[-1]
