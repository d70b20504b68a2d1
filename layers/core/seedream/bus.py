"""EventBridge: ``Job Succeeded``, ``Job Failed`` and ``Job Cancelled`` on the stack's bus.

Event: ``source`` = ``EVENT_SOURCE`` (default ``seedream.jobs``), ``detail-type`` =
``Job Succeeded`` | ``Job Failed`` | ``Job Cancelled``, ``detail`` = ``models.events.JobEvent`` (job id, status,
provider, model, output S3 URIs, metadata, error).
"""

from __future__ import annotations

from .models.events import JobEvent
from .models.records import JobRecord

DETAIL_TYPES = {"succeeded": "Job Succeeded", "failed": "Job Failed", "cancelled": "Job Cancelled"}


class Bus:
    """The stack's event bus. ``events`` is a botocore EventBridge client."""

    def __init__(self, events, bus_name: str, source: str):
        self.events = events
        self.bus_name = bus_name
        self.source = source

    def job_finished(self, record: JobRecord) -> dict:
        """Publish the terminal event of ``record``; returns the detail sent. Raises RuntimeError if EventBridge refuses it."""
        event = JobEvent.of(record)
        entry = {"Source": self.source, "DetailType": DETAIL_TYPES[record.status], "Detail": event.model_dump_json(),
                 "EventBusName": self.bus_name, "Resources": []}
        result = self.events.put_events(Entries=[entry])
        if result.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the event: {result['Entries']}")
        return event.model_dump(mode="json")
