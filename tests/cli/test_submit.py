"""``seedream submit`` (with and without ``--wait``) and ``seedream wait`` on the local stack."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from .conftest import ASTRONAUT, PROMPT, final_json

pytestmark = pytest.mark.integration

FAST = ("--poll-interval", "0.1")


def test_submit_wait_uploads_follows_saves_and_prints_the_job_last(seedream, stack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --out is out/<job_id> under the working directory
    result = seedream("submit", str(ASTRONAUT), "--prompt", PROMPT, "--provider", "wavespeed", "--count", "2",
                      "--size", "1728x2304", "--metadata", "team=cli", "--metadata", "run=1",
                      "--wait", *FAST)

    assert result.exit_code == 0, result.output
    job = final_json(result)
    assert result.output.rstrip().endswith("}")  # nothing, not even on stderr, after the JSON
    assert job["status"] == "succeeded" and len(job["outputs"]) == 2
    request = job["request"]
    assert request["size"] == "1728*2304" and request["seed"] is None and request["max_images"] == 2
    assert job["metadata"] == {"team": "cli", "run": "1"}
    # the local file went to the stack's bucket under inputs/<uuid>/<name> and the job names it as s3://
    [image] = request["images"]
    bucket, key = image.removeprefix("s3://").split("/", 1)
    assert bucket == stack.name("JobsBucket") and key.startswith("inputs/") and key.endswith("/astronaut.png")
    assert stack.session.client("s3").head_object(Bucket=bucket, Key=key)["ContentType"] == "image/png"

    out = tmp_path / "out" / job["job_id"]
    for index in (0, 1):
        with Image.open(out / f"{index:02d}.png") as saved:
            assert saved.size == (1728, 2304)
    with Image.open(out / "contact-sheet.png") as sheet:
        assert sheet.width > sheet.height  # source and two outputs side by side
    stages = [line.split("] ", 1)[1] for line in result.stderr.splitlines() if line.startswith("[")]
    assert stages == ["queued", f"submitted to wavespeed (task {job['provider_task_id']})", "succeeded: 2 outputs"]
    assert f"saved 2 outputs (1728x2304) and contact-sheet.png to out/{job['job_id']}/" in result.stderr


def test_a_failed_job_exits_1_with_the_job_last_on_stdout(seedream, stack, source, tmp_path):
    stack.simulator.set_faults(task_result="failed")
    result = seedream("submit", source, "--prompt", PROMPT, "--provider", "atlascloud", "--count", "2",
                      "--wait", "--out", str(tmp_path / "{job_id}"), *FAST)

    assert result.exit_code == 1, result.output
    job = final_json(result)
    assert job["status"] == "failed" and job["error"]["code"] == "provider_error"
    assert "Traceback" not in result.output
    assert result.stderr.splitlines()[-1] == (f"seedream: job {job['job_id']} failed: "
                                              f"{job['error']['code']}: {job['error']['message']}")
    assert not (tmp_path / job["job_id"]).exists()  # nothing to save


def test_submit_without_wait_prints_only_the_job_id(seedream, stack, source):
    result = seedream("submit", source, "--prompt", PROMPT, "--count", "1", "--idempotency-key", "cli-test-1")

    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    assert result.stdout == f"{job_id}\n"
    assert f"follow it with: seedream --api-url {stack.api_url} wait {job_id}" in result.stderr
    assert final_json(seedream("get", job_id))["job_id"] == job_id


def test_wait_follows_a_job_and_saves_its_outputs_with_out(seedream, source, tmp_path):
    job_id = seedream("submit", source, "--prompt", PROMPT, "--provider", "evolink", "--count", "1",
                      "--model", "seedream-v4", "--size", "1024*1024").stdout.strip()

    plain = seedream("wait", job_id, *FAST)
    assert plain.exit_code == 0, plain.output
    assert final_json(plain)["status"] == "succeeded"
    assert "saved" not in plain.stderr  # no --out, no download

    saved = seedream("wait", job_id, "--out", str(tmp_path / "{job_id}"), *FAST)
    assert saved.exit_code == 0, saved.output
    assert json.loads(saved.stdout) == final_json(saved)
    assert sorted(p.name for p in (tmp_path / job_id).iterdir()) == ["00.png", "contact-sheet.png"]
    # the source, read back from the bucket, and the one output: two 320 px tiles and three 8 px gaps
    with Image.open(tmp_path / job_id / "contact-sheet.png") as sheet:
        assert sheet.width == 2 * 320 + 3 * 8
