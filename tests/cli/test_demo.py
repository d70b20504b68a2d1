"""``make demo`` is ``seedream submit … --wait`` run in-process: its arguments come from the Makefile's variables."""

from __future__ import annotations

import json

import pytest

from local import demo
from seedream_cli.main import run

from .conftest import ASTRONAUT

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
    assert "--wait" in args


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
