"""Scheduled invocations: what an EventBridge schedule does for a function, on the local stack.

The template's ``Schedule`` events (``rate(1 minute)``) become a thread that invokes the function
with a scheduled event shaped like ``events/reconcile-schedule.json`` (``sam local generate-event
cloudwatch scheduled-event``) every ``interval`` seconds — locally a few seconds instead of the
deployed minute, so that deadlines scaled for a machine are met. ``tick()`` runs one at once.
As EventBridge does, it invokes nothing while its rule (the ``AWS::Events::Rule`` SAM makes of the event,
created in moto by ``local.template``) is disabled.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from .runtime import LocalFunction
from .template import ACCOUNT, REGION

log = logging.getLogger("local.scheduler")


def scheduled_event(rule_name: str) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"], "detail": {}}


class Schedule:
    """``rule_name``: the rule the scheduled events name; ``enabled()``: whether that rule is enabled now."""

    def __init__(self, function: LocalFunction, interval: float, rule_name: str | None = None,
                 enabled: Callable[[], bool] | None = None):
        self.function, self.interval = function, interval
        self.rule_name = rule_name or f"{function.spec.logical_id}-schedule"
        self.enabled = enabled or (lambda: True)
        self.runs = 0
        self.last_result: dict | None = None
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._thread = threading.Thread(target=self._run, name=f"schedule-{function.spec.logical_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        self._thread.join(timeout=10)

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def tick(self) -> dict | None:
        """One scheduled invocation now; returns what the function returned."""
        self.last_result = self.function.invoke(scheduled_event(self.rule_name))
        self.runs += 1
        return self.last_result

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._running.wait()
            if self._stop.is_set():
                return
            try:
                if self.enabled():
                    self.tick()
            except Exception:  # a failed run is logged and the next one comes, as with EventBridge
                log.exception("scheduled run of %s failed", self.function.spec.logical_id)
