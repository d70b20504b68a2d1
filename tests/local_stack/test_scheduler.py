"""The local schedule invokes its function with scheduled events naming its rule, and nothing while the rule is disabled."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from local.scheduler import Schedule
from tests.support.waits import wait_until


class Recorder:
    spec = SimpleNamespace(logical_id="SweepFunction")

    def __init__(self):
        self.events: list[dict] = []

    def invoke(self, event: dict) -> dict:
        self.events.append(event)
        return {}


def test_a_schedule_runs_while_its_rule_is_enabled_only():
    function, on, asked = Recorder(), threading.Event(), []
    on.set()

    def enabled() -> bool:
        asked.append(on.is_set())
        return on.is_set()

    schedule = Schedule(function, 0.01, "seedream-local-SweepFunctionTick", enabled=enabled)
    schedule.start()
    try:
        wait_until(lambda: schedule.runs >= 2)
        assert {tuple(e["resources"]) for e in function.events} == {
            ("arn:aws:events:us-east-1:123456789012:rule/seedream-local-SweepFunctionTick",)}
        assert function.events[0]["detail-type"] == "Scheduled Event"

        on.clear()
        wait_until(lambda: asked.count(False) >= 1)  # a run that asked before the rule was disabled has ended
        runs = schedule.runs
        wait_until(lambda: asked.count(False) >= 4)
        assert schedule.runs == runs

        on.set()
        wait_until(lambda: schedule.runs > runs)
    finally:
        schedule.stop()
