"""``make demo`` is ``seedream submit … --wait`` run in-process: its arguments come from the Makefile's variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from local import demo
from seedream_cli.main import run

from .conftest import ASTRONAUT, ROOT

pytestmark = pytest.mark.integration


def test_the_demo_variables_become_seedream_arguments(monkeypatch):
    for name, value in {"PROVIDER": "evolink", "MODEL": "seedream-v4", "MAX_IMAGES": "3", "SIZE": "1024*2048",
                        "PROMPT": "three panels", "IMAGES": "examples/astronaut.png, https://example.com/b.png"}.items():
        monkeypatch.setenv(name, value)
    args = demo.command("http://127.0.0.1:1234")
    assert args[:3] == ["--api-url", "http://127.0.0.1:1234", "submit"]
    assert args[3:5] == [str(ASTRONAUT), "https://example.com/b.png"]  # a repository path, a URL as it is
    options = dict(zip(args[5::2], args[6::2], strict=False))
    assert options["--provider"] == "evolink" and options["--model"] == "seedream-v4"
    assert options["--count"] == "3" and options["--size"] == "1024*2048" and options["--prompt"] == "three panels"
    assert "--wait" in args and args[-1] == "--stack-stops"  # no hint may name the stack the demo stops


def test_the_demo_defaults_run_to_the_end_on_the_stack(stack, monkeypatch, tmp_path, capsys):
    for name in ("PROVIDER", "MODEL", "PROMPT", "IMAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAX_IMAGES", "2")
    monkeypatch.setenv("SIZE", "1920*1920")  # the smallest square seedream-v4.5 takes
    args = demo.command(stack.api_url)
    args[args.index("--out") + 1] = str(tmp_path / "{job_id}")  # not the repository's out/
    assert run([*args, "--poll-interval", "0.1"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["status"] == "succeeded" and job["provider"] == "wavespeed" and job["model"] == "seedream-v4.5"
    assert job["metadata"] == {"source": "make-demo"}
    assert (tmp_path / job["job_id"] / "contact-sheet.png").is_file()


@pytest.mark.parametrize(("settings", "says"), [
    ({"IMAGES": "no/such/photo.png"}, "demo: IMAGES: 'no/such/photo.png' is neither a URL (https://, s3://) nor an "
                                      "existing file"),
    ({"SIZE": "1024x1024"}, "demo: the request would be refused, so the stack is not started: provider_limit_exceeded: "
                            "wavespeed does not take this job: seedream-v4.5 at wavespeed takes 3,686,400..16,777,216 "
                            "pixels in all, not 1,048,576 (1024*1024) — seedream-v4 takes it at every provider [HTTP 422]"),
    ({"MAX_IMAGES": "15"}, "demo: the request would be refused, so the stack is not started: provider_limit_exceeded: "
                           "wavespeed does not take this job: seedream-v4.5 at wavespeed makes at most 15 images counting "
                           "the references: 1 source image(s) + max_images 15 = 16: ask for at most 14 images — no model "
                           "takes it at any provider [HTTP 422]"),
])
def test_the_demo_checks_its_settings_before_it_starts_a_stack(monkeypatch, capsys, settings, says):
    for name in ("PROVIDER", "MODEL", "PROMPT", "IMAGES", "SIZE", "MAX_IMAGES", "ENTRY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)

    def no_stack(*args, **kwargs):
        raise AssertionError("the demo started a stack")

    monkeypatch.setattr(demo, "LocalStack", no_stack)
    assert demo.main() == 2
    assert capsys.readouterr().err.splitlines() == [says]


def test_the_demos_time_out_names_no_stack_it_has_stopped(stack, monkeypatch, tmp_path, capsys):
    for name in ("PROVIDER", "MODEL", "PROMPT", "IMAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAX_IMAGES", "1")
    monkeypatch.setenv("TIMEOUT", "0.3")
    stack.simulator.set_faults(task_result="hang")
    args = demo.command(stack.api_url)
    args[args.index("--out") + 1] = str(tmp_path / "{job_id}")
    assert run([*args, "--poll-interval", "0.1"]) == 2
    printed = capsys.readouterr()
    job = json.loads(printed.out)
    assert job["status"] in ("queued", "submitted")
    err = printed.err.splitlines()[-1]
    assert err == f"seedream: error: job {job['job_id']} is still {job['status']} after 0.3 s (the stack stops with this " \
                  "command, and the job with it: give it a longer time-out, e.g. make demo TIMEOUT=600)"
    assert err.startswith("seedream: error: job ") and " after 0.3 s (the stack stops with this command" in err
    assert stack.api_url not in err and " wait " not in err


def test_the_demo_process_refuses_a_request_before_any_stack_as_make_demo_runs_it():
    """``make demo`` runs ``python -m local.demo`` from the repository root with nothing on PYTHONPATH: the check
    finds the shared package as the stack's functions do."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IMAGES", "PROVIDER", "MODEL", "MAX_IMAGES")}
    done = subprocess.run([sys.executable, "-m", "local.demo"], cwd=ROOT, env=env | {"SIZE": "1024x1024"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("demo: the request would be refused, so the stack is not started: "
                                  "provider_limit_exceeded: wavespeed does not take this job: ")
    assert "starting the local stack" not in done.stderr and len(done.stderr.splitlines()) == 1
