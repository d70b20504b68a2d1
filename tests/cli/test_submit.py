"""``seedream submit`` (with and without ``--wait``) and ``seedream wait`` on the local stack."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from PIL import Image

from .conftest import ASTRONAUT, PROMPT, final_json, one_line_error

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
    # the local file went to the stack's bucket under inputs/<sha256>/<name> and the job names it as s3://
    [image] = request["images"]
    bucket, key = image.removeprefix("s3://").split("/", 1)
    digest = hashlib.sha256(ASTRONAUT.read_bytes()).hexdigest()
    assert bucket == stack.name("JobsBucket") and key == f"inputs/{digest}/astronaut.png"
    assert stack.session.client("s3").head_object(Bucket=bucket, Key=key)["ContentType"] == "image/png"

    out = tmp_path / "out" / job["job_id"]
    for index in (0, 1):
        with Image.open(out / f"{index:02d}.png") as saved:
            assert saved.size == (1728, 2304)
    with Image.open(out / "contact-sheet.png") as sheet:
        assert sheet.width > sheet.height  # source and two outputs side by side
    stages = [line.split("] ", 1)[1] for line in result.stderr.splitlines() if line.startswith("[")]
    # WaveSpeed bills max_images × $0.04 for seedream-v4.5: the estimate is there from the first line
    assert stages == ["queued at wavespeed, estimated $0.08",
                      "submitted to wavespeed, estimated $0.08",  # from its event: the task id is in the JSON
                      "succeeded: 2 outputs, estimated $0.08"]
    assert f"job {job['job_id']} accepted: wavespeed seedream-v4.5, 2 × 1728*2304, estimated $0.08 at wavespeed" \
        in result.stderr
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


def fresh_image(tmp_path, name: str = "photo.png"):
    """A PNG no other test has uploaded (its own pixels, so its own sha256), with its expected key."""
    path = tmp_path / name
    Image.new("RGB", (96, 64), tuple(uuid.uuid4().bytes[:3])).save(path)
    return path, f"inputs/{hashlib.sha256(path.read_bytes()).hexdigest()}/{name}"


def inputs_under(stack, prefix: str) -> list[str]:
    listed = stack.session.client("s3").list_objects_v2(Bucket=stack.name("JobsBucket"), Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_an_idempotency_key_retry_with_a_local_file_returns_the_same_job_and_uploads_once(seedream, stack, tmp_path):
    photo, key = fresh_image(tmp_path)
    args = ("submit", str(photo), "--prompt", PROMPT, "--provider", "evolink", "--model", "seedream-v4",
            "--size", "1024*1024", "--count", "1", "--idempotency-key", f"retry-{uuid.uuid4()}")
    first, again = seedream(*args), seedream(*args)

    assert first.exit_code == 0 and again.exit_code == 0, (first.output, again.output)
    assert again.stdout == first.stdout  # the same job id: the same body, so the key's first answer
    assert f"uploaded {photo} → s3://{stack.name('JobsBucket')}/{key}" in first.stderr
    assert f"already uploaded {photo} → s3://{stack.name('JobsBucket')}/{key}" in again.stderr
    assert inputs_under(stack, key.rsplit("/", 1)[0]) == [key]
    assert final_json(seedream("get", first.stdout.strip()))["request"]["images"] == [f"s3://{stack.name('JobsBucket')}/{key}"]


def test_a_refused_submit_uploads_nothing_and_says_each_rule_once_with_who_takes_it(seedream, stack, tmp_path):
    photo, key = fresh_image(tmp_path)
    result = seedream("submit", str(photo), "--prompt", PROMPT, "--size", "1024x1024", "--count", "2")

    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.output
    assert result.stderr.splitlines() == [
        "seedream: error: provider_limit_exceeded: no provider takes this job: seedream-v4.5 takes "
        "3,686,400..16,777,216 pixels in all, not 1,048,576 (1024*1024) — seedream-v4 takes it at every provider [HTTP 422]"]
    assert inputs_under(stack, key.rsplit("/", 1)[0]) == []

    twelve = seedream("submit", *[str(photo)] * 12, "--prompt", PROMPT, "--size", "1024x1024", "--count", "2")
    assert twelve.exit_code == 2 and twelve.stdout == ""
    assert twelve.stderr.splitlines() == [
        "seedream: error: provider_limit_exceeded: no provider takes this job [HTTP 422]",
        "  images: seedream-v4.5 at atlascloud, fal and wavespeed takes at most 10 source images, not 12 — "
        "seedream-v4.5 takes it at evolink and replicate",
        "  size: seedream-v4.5 takes 3,686,400..16,777,216 pixels in all, not 1,048,576 (1024*1024) — "
        "seedream-v4 takes it at every provider"]
    assert inputs_under(stack, key.rsplit("/", 1)[0]) == []


def test_a_dry_run_prints_the_order_and_cost_and_uploads_and_creates_nothing(seedream, stack, tmp_path):
    photo, key = fresh_image(tmp_path)
    before = [job["job_id"] for job in json.loads(seedream("list", "--json", "--limit", "100").stdout)["jobs"]]
    result = seedream("submit", str(photo), "--prompt", PROMPT, "--model", "seedream-v4", "--size", "1024*1024",
                      "--count", "2", "--dry-run")

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["provider_order"] == ["atlascloud", "evolink", "wavespeed", "fal", "replicate"]
    assert answer["estimated_cost_usd"] == 0.027
    assert answer["missing_images"] == [f"s3://{stack.name('JobsBucket')}/{key}"]
    assert result.stderr == ("dry run: seedream-v4, 2 × 1024*1024 would go to atlascloud (then evolink, wavespeed, "
                             "fal, replicate), "
                             "estimated $0.027; 1 local file to upload; nothing was uploaded or created\n")
    assert inputs_under(stack, key.rsplit("/", 1)[0]) == []
    # no new job (earlier jobs may have moved on meanwhile: their ids, not their states)
    assert [job["job_id"] for job in json.loads(seedream("list", "--json", "--limit", "100").stdout)["jobs"]] == before
    assert "--dry-run creates no job" in one_line_error(seedream("submit", str(photo), "--prompt", PROMPT, "--dry-run",
                                                                 "--wait"))


def test_an_s3_source_that_does_not_exist_is_refused_before_any_upload(seedream, stack, tmp_path):
    photo, key = fresh_image(tmp_path)
    missing = f"s3://{stack.name('JobsBucket')}/inputs/nothing-here/a.png"
    line = one_line_error(seedream("submit", str(photo), missing, "--prompt", PROMPT))
    assert line == f"seedream: error: {missing} does not exist"
    assert inputs_under(stack, key.rsplit("/", 1)[0]) == []
