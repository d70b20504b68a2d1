"""``get``, ``cancel``, ``wait`` on a cancelled job, ``list``, ``events``."""

from __future__ import annotations

import json

import pytest

from seedream_cli.main import run

from .conftest import PROMPT, final_json, one_line_error

pytestmark = pytest.mark.integration


@pytest.fixture
def open_job(seedream, stack, source) -> str:
    """A job whose provider task never finishes (it stays open until cancelled)."""
    stack.simulator.set_faults(task_result="hang")
    result = seedream("submit", source, "--prompt", PROMPT, "--provider", "wavespeed", "--count", "1")
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_get_cancel_and_wait_on_a_cancelled_job(seedream, open_job):
    got = seedream("get", open_job)
    assert got.exit_code == 0 and final_json(got)["status"] in ("queued", "submitted")

    cancelled = seedream("cancel", open_job)
    assert cancelled.exit_code == 0, cancelled.output
    assert final_json(cancelled)["status"] == "cancelled"
    assert cancelled.stderr == f"job {open_job} cancelled\n"

    again = one_line_error(seedream("cancel", open_job))
    assert again.startswith("seedream: error: job_finished: ") and again.endswith("[HTTP 409]")

    waited = seedream("wait", open_job, "--poll-interval", "0.1")
    assert waited.exit_code == 1
    assert final_json(waited)["status"] == "cancelled"
    assert waited.stderr.splitlines()[-1] == f"seedream: job {open_job} cancelled"


def test_wait_gives_up_after_timeout_with_exit_2(seedream, open_job):
    result = seedream("wait", open_job, "--timeout", "0.3", "--poll-interval", "0.1")
    assert result.exit_code == 2
    assert final_json(result)["status"] in ("queued", "submitted")
    assert result.stderr.splitlines()[-1].startswith(f"seedream: error: job {open_job} is still ")
    assert seedream("cancel", open_job).exit_code == 0


def test_list_shows_the_callers_jobs_newest_first_and_pages(seedream, open_job):
    listed = seedream("list", "--json", "--limit", "1")
    assert listed.exit_code == 0, listed.output
    page = json.loads(listed.stdout)
    assert [job["job_id"] for job in page["jobs"]] == [open_job]  # the newest
    assert seedream("list", "--status", "cancelled").stdout.count(open_job) == 0
    assert seedream("cancel", open_job).exit_code == 0
    assert open_job in seedream("list", "--status", "cancelled").stdout
    assert "Invalid value for '--limit': 101 is not in the range 1<=x<=100" in one_line_error(seedream("list", "--limit", "101"))


def test_events_on_a_finished_job_prints_its_end_and_exits(seedream, open_job):
    assert seedream("cancel", open_job).exit_code == 0

    result = seedream("events", "--job", open_job)  # no --timeout: only the job's end can stop it

    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    assert open_job in line and "Job Cancelled" in line and "wavespeed seedream-v4.5" in line
    assert result.stderr.startswith("following events on ws://127.0.0.1:")


def test_events_from_a_named_queue_as_json(seedream, stack, source):
    job_id = seedream("submit", source, "--prompt", PROMPT, "--count", "1", "--provider", "evolink").stdout.strip()
    result = seedream("events", "--queue-url", stack.events_queue_url, "--job", job_id, "--timeout", "30", "--json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["detail-type"] for e in events]  # SQS keeps no strict order: what came before the end, then the end
    assert set(kinds) <= {"Job Queued", "Job Submitted", "Job Succeeded"} and kinds[-1] == "Job Succeeded"
    event = events[-1]
    assert event["source"] == "seedream.jobs"
    assert event["detail"]["job_id"] == job_id and len(event["detail"]["outputs"]) == 1


def test_run_is_the_command_in_process_with_its_exit_status(stack, open_job, capsys):
    assert run(["--api-url", stack.api_url, "get", open_job]) == 0
    assert json.loads(capsys.readouterr().out)["job_id"] == open_job
    assert run(["--api-url", stack.api_url, "get", "no-such-job"]) == 2
    assert capsys.readouterr().err.startswith("seedream: error: job_not_found")
    assert run(["--api-url", stack.api_url, "cancel", open_job]) == 0


def test_models_lists_every_model_at_every_provider_with_limits_and_price(seedream):
    result = seedream("models")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["MODEL", "PROVIDER", "IMAGES", "OUTPUTS", "PIXELS", "SIDES", "PROMPT", "PRICE"]
    assert len(rows) == 17  # Replicate serves no seedream-v5.0-lite
    cells = {tuple(row.split()[:2]): row for row in rows}
    assert "$0.03 per image" in cells[("seedream-v4", "replicate")] and ("seedream-v5.0-lite", "replicate") not in cells
    assert "$0.04 per image requested" in cells[("seedream-v4.5", "wavespeed")]
    assert "3.69-16.78 MP" in cells[("seedream-v4.5", "wavespeed")]
    assert "$0.036 per run" in cells[("seedream-v4.5", "atlascloud")]
    assert "$0.027 per run" in cells[("seedream-v4", "atlascloud")]
    assert "$0.035* per image requested" in cells[("seedream-v5.0-lite", "wavespeed")]  # not published: a setting
    assert "≤ 14" in cells[("seedream-v4", "evolink")] and "0.92-16.78 MP" in cells[("seedream-v4", "evolink")]
    assert "$0.03 per image produced" in cells[("seedream-v4", "fal")]
    assert "$0.04 per image produced" in cells[("seedream-v4.5", "modelark")]  # usage.generated_images
    assert result.stderr.startswith("* not published by the provider")
    as_json = json.loads(seedream("models", "--json").stdout)
    assert {(m["model"], m["provider"]) for m in as_json["models"]} == {tuple(key) for key in cells}


def test_version_is_the_installed_distributions():
    from importlib.metadata import version

    from click.testing import CliRunner

    from seedream_cli.main import cli

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"seedream {version('seedream-jobs')}\n"
