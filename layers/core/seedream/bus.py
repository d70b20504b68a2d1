"""EventBridge: the ``Job ...`` lifecycle events on the stack's bus.

Event: ``source`` = ``EVENT_SOURCE`` (default ``seedream.jobs``), ``detail-type`` = ``Job Queued`` |
``Job Submitted`` | ``Job Succeeded`` | ``Job Failed`` | ``Job Cancelled`` | ``Job Rejected``, ``detail`` =
``models.events.JobEvent`` (job id, status, origin, reference, provider, model, output S3 URIs, metadata,
error, at). The stack's own ``Job Requested`` rule ignores this source, so nothing published here comes back in.
"""

from __future__ import annotations

from .models import TERMINAL, now_iso
from .models.events import DETAIL_TYPES, JobEvent
from .models.origins import Origin
from .models.records import JobRecord


class Bus:
    """The stack's event bus. ``events`` is a botocore EventBridge client."""

    def __init__(self, events, bus_name: str, source: str):
        self.events = events
        self.bus_name = bus_name
        self.source = source

    def job_event(self, record: JobRecord) -> dict:
        """Publish the event of ``record``'s status (``Job Queued`` ... ``Job Cancelled``); returns the detail sent.
        Raises RuntimeError if EventBridge refuses it."""
        return self._put(JobEvent.of(record))

    def job_finished(self, record: JobRecord) -> dict:
        """Publish the terminal event of ``record``; returns the detail sent. Raises RuntimeError if EventBridge refuses it."""
        if record.status not in TERMINAL:
            raise ValueError(f"job {record.job_id} is {record.status}, not finished")
        return self.job_event(record)

    def job_rejected(self, origin: Origin, reference: str | None, error: dict) -> dict:
        """Publish ``Job Rejected`` for a refused request (``error``: ``{"code", "message", "details"}``)."""
        return self._put(JobEvent.rejected(origin, reference, error, now_iso()))

    def _put(self, event: JobEvent) -> dict:
        entry = {"Source": self.source, "DetailType": DETAIL_TYPES[event.status], "Detail": event.model_dump_json(),
                 "EventBusName": self.bus_name, "Resources": []}
        result = self.events.put_events(Entries=[entry])
        if result.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the event: {result['Entries']}")
        return event.model_dump(mode="json")
