"""The README's commands, run as written against the local stack (the ports and names `make up` uses replaced by
the test stack's)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from local.client import JobsClient

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


def test_the_api_key_example_runs_as_written_and_curl_lists_the_callers_jobs(stack):
    block = readme_block("### API keys (callers outside AWS)")
    lines = block.splitlines()
    assert lines[0].startswith("KEY=$(.venv/bin/seedream keys create)")
    assert lines[1].startswith('curl -s -H "Authorization: Bearer $KEY" http://127.0.0.1:3001/v1/jobs')
    script = "set -e\n" + "\n".join(lines[:2]).replace("http://127.0.0.1:3001", stack.key_api_url) + "\n"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "API_PORT": str(stack.api_port),
           "MOTO_PORT": str(stack.moto_port), "KEY_API_PORT": str(stack.key_api_port)}  # make up's, moved
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    # the key acts as the command's IAM caller (make up's dummy access key "local"): the same jobs as signed
    signed = JobsClient(stack.api_url, stack.session).request("GET", "/v1/jobs").json()
    assert set(page) == {"jobs", "next_cursor"} and [j["job_id"] for j in page["jobs"]] == [j["job_id"] for j in signed["jobs"]]
    assert f"{stack.key_api_url}/v1/jobs" in done.stderr  # keys create says where to use it


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
