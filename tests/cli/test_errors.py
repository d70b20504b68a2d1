"""Usage errors, API errors and an unreachable stack: exit 2 and one line on stderr, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib import import_module

import pytest

from .conftest import ASTRONAUT, PROMPT, ROOT, one_line_error

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("args", "says"), [
    (["submit", str(ASTRONAUT)], "Missing option '--prompt'"),
    (["submit", "--prompt", PROMPT], "Missing argument 'IMAGE_OR_URL...'"),
    (["submit", "no/such/file.png", "--prompt", PROMPT], "'no/such/file.png' is neither a URL"),
    (["submit", str(ASTRONAUT.parent.parent / "README.md"), "--prompt", PROMPT], "is not an image file"),
    (["submit", str(ASTRONAUT), "--prompt", PROMPT, "--count", "16"], "'--count'"),
    (["submit", str(ASTRONAUT), "--prompt", PROMPT, "--size", "big"], '\'big\' is not "W*H"'),
    (["submit", str(ASTRONAUT), "--prompt", PROMPT, "--model", "seedream-v9"], "'--model'"),
    (["submit", str(ASTRONAUT), "--prompt", PROMPT, "--metadata", "novalue"], "'novalue' is not KEY=VALUE"),
    (["submit", str(ASTRONAUT), "--prompt", PROMPT, "--out", "x"], "--out and --timeout go with --wait"),
    (["wait"], "Missing argument 'JOB_ID'"),
    (["list", "--status", "done"], "'--status'"),
    (["lst"], "No such command 'lst'"),
])
def test_usage_errors_are_one_line_exit_2(seedream, args, says):
    line = one_line_error(seedream(*args))
    assert says in line
    assert line.endswith("--help)")


def test_two_targets_at_once_is_a_usage_error(seedream):
    line = one_line_error(seedream("--stack", "prod", "get", "x"))
    assert line == "seedream: error: give --api-url or --stack, not both"


def test_an_api_url_that_is_not_http_is_one_line(seedream):
    line = one_line_error(seedream("--api-url", "ftp://example.com", "get", "x", target=False))
    assert line == "seedream: error: --api-url 'ftp://example.com' is not an http(s) URL"


def test_the_api_refusing_a_job_is_one_line_with_its_code(seedream, source):
    line = one_line_error(seedream("submit", source, "--prompt", "x" * 4001))
    assert line == "seedream: error: invalid_request: prompt: String should have at most 4000 characters [HTTP 422]"


def test_an_unknown_job_is_one_line(seedream):
    line = one_line_error(seedream("get", "no-such-job"))
    assert line.startswith("seedream: error: job_not_found: ") and line.endswith("[HTTP 404]")


@pytest.mark.parametrize("args", [["get", "some-job"], ["cancel", "some-job"], ["list"]])
def test_an_unreachable_api_is_one_line(seedream, dead_port, args):
    url = f"http://127.0.0.1:{dead_port}"
    line = one_line_error(seedream("--api-url", url, *args, target=False))
    assert line == f"seedream: error: cannot reach {url}: is the stack up? (make up)"


def test_the_default_target_is_the_local_stack_on_api_port(seedream, dead_port, stack, source):
    url = f"http://127.0.0.1:{dead_port}"
    line = one_line_error(seedream("get", "x", target=False, env={"API_PORT": str(dead_port), "SEEDREAM_API_URL": None}))
    assert line == f"seedream: error: cannot reach {url}: is the stack up? (make up)"
    # and with API_PORT naming the stack, no --api-url and nothing exported, it works
    found = seedream("submit", source, "--prompt", PROMPT, "--count", "1", target=False,
                     env={"API_PORT": str(stack.api_port), "SEEDREAM_API_URL": None})
    assert found.exit_code == 0, found.output


def test_submit_to_an_unreachable_api_is_one_line_before_any_upload(seedream, dead_port):
    url = f"http://127.0.0.1:{dead_port}"
    result = seedream("--api-url", url, "submit", str(ASTRONAUT), "--prompt", PROMPT, "--wait", target=False)
    assert result.exit_code == 2 and "Traceback" not in result.output and result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"seedream: error: cannot reach {url}: is the stack up? (make up)"


def test_a_local_file_for_a_remote_api_needs_a_bucket(seedream):
    line = one_line_error(seedream("--api-url", "https://abc123.execute-api.eu-west-1.amazonaws.com",
                                   "submit", str(ASTRONAUT), "--prompt", PROMPT, target=False))
    assert "needs the stack's bucket (use --stack NAME, or --bucket NAME with --api-url)" in line


def test_events_on_a_deployed_stack_say_how_to_subscribe(seedream):
    result = seedream("--api-url", "https://abc123.execute-api.eu-west-1.amazonaws.com", "events", target=False)
    assert result.exit_code == 2 and "Traceback" not in result.output and result.stdout == ""
    assert "EventBridge rules" in result.stderr and '{"source": ["seedream.jobs"]}' in result.stderr
    assert "seedream --api-url https://abc123.execute-api.eu-west-1.amazonaws.com events --queue-url" in result.stderr


def test_api_error_lines_leave_out_details_that_repeat_the_message_and_give_several_one_line_each():
    from seedream_cli.errors import ApiError

    same = ApiError(400, "invalid_request", "size: too big", [{"field": "size", "message": "too big"}])
    assert str(same) == "invalid_request: size: too big [HTTP 400]"
    more = ApiError(400, "invalid_request", "2 errors", [{"field": "size", "message": "too big"}, {"field": "seed"}])
    assert str(more) == "invalid_request: 2 errors [HTTP 400]\n  size: too big\n  seed"  # never Python's None
    listed = ApiError(422, "invalid_request", "size: too big; seed: no", [{"field": "size", "message": "too big"},
                                                                          {"field": "seed", "message": "no"}])
    assert str(listed) == "invalid_request: 2 problems [HTTP 422]\n  size: too big\n  seed: no"
    gateway = ApiError(403, None, "GET /v1/jobs/x: Forbidden")
    assert str(gateway) == "GET /v1/jobs/x: Forbidden [HTTP 403]"


def test_the_console_script_is_the_guarded_entry_point():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["seedream"].partition(":")
    assert getattr(import_module(module), function).__name__ == "entry"


def test_an_unreachable_local_moto_is_one_line_from_a_real_process(dead_port, tmp_path):
    """Nothing exported: the local target's AWS endpoint is http://127.0.0.1:$MOTO_PORT (run in its own process, so
    this process's environment, which the test stack set, is left alone)."""
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "SEEDREAM_API_URL")}
    env |= {"MOTO_PORT": str(dead_port), "API_PORT": str(dead_port), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "seedream_cli", "submit", str(ASTRONAUT), "--prompt", PROMPT],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"seedream: error: cannot reach http://127.0.0.1:{dead_port}: is the stack up? (make up)\n"
