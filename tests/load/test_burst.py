"""A burst of 100 HTTP jobs at once, a fifth of the provider submits answered 429: a longer queue, not a failure.

Runs ``make load``'s own harness (``python -m local.load``) in a process of its own — its own local stack on
free loopback ports, the ``make up`` deadlines — and reads the table it writes as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from local.template import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("burst")]
"""(``xdist_group``: one worker runs every test of the module, so the burst runs once.)"""

KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
"""The only variables the harness inherits: not the deadlines or AWS settings another suite set in this process."""


@pytest.fixture(scope="module")
def burst(tmp_path_factory) -> dict:
    report = tmp_path_factory.mktemp("load") / "burst.json"
    env = {k: v for k, v in os.environ.items() if k in KEPT}
    done = subprocess.run([sys.executable, "-m", "local.load", "--n", "100", "--entry", "http", "--faults", "429=0.2",
                           "--generation-seconds", "1", "--timeout", "240", "--json", str(report)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=360, check=False)
    assert report.exists(), f"the harness wrote no table (exit {done.returncode}):\n{done.stderr[-3000:]}"
    result = json.loads(report.read_text())
    result["table"] = done.stdout
    return result


def test_every_request_is_answered_and_accepted(burst):
    assert burst["requests"]["not_answered"] == 0, burst["table"]
    assert burst["requests"]["by_status"] == {"202": 100}, burst["table"]


def test_every_job_ends_succeeded_none_failed_none_stuck(burst):
    jobs = burst["jobs"]
    assert (jobs["made"], jobs["failed"], jobs["stuck"]) == (100, 0, 0), burst["table"]
    assert jobs["succeeded"] == 100, burst["table"]


def test_no_job_leaves_objects_it_does_not_record(burst):
    assert (burst["outputs_mismatched"], burst["orphaned_output_prefixes"]) == (0, 0), burst["table"]


def test_each_job_publishes_exactly_one_terminal_event(burst):
    assert burst["terminal_events_per_job"] == {"0": 0, "1": 100, ">1": 0}, burst["table"]


def test_each_job_is_taken_by_a_provider_once_after_its_429s(burst):
    assert burst["accepted_submits_per_job"] == {"0": 0, "1": 100, ">1": 0}, burst["table"]
    assert burst["submit_attempts"]["by_status"].get("429", 0) > 0, burst["table"]  # the faults were on
