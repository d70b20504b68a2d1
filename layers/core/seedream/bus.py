"""EventBridge: ``Job Succeeded`` and ``Job Failed`` on the stack's bus.

Event: ``source`` = ``EVENT_SOURCE`` (default ``seedream.jobs``), ``detail-type`` =
``Job Succeeded`` | ``Job Failed``, ``detail`` = ``models.JobEvent`` (job id, status,
provider, model, output S3 URIs, metadata, error).
"""

from __future__ import annotations

import json

from .models import Job, JobEvent, dump

DETAIL_TYPES = {"succeeded": "Job Succeeded", "failed": "Job Failed"}


class Bus:
    def __init__(self, events, bus_name: str, source: str):
        self.events = events
        self.bus_name = bus_name
        self.source = source

    def job_finished(self, job: Job) -> dict:
        """Publish the terminal event of ``job``; returns the detail sent. Raises RuntimeError if EventBridge refuses it."""
        detail = JobEvent(job_id=job.job_id, status=job.status, provider=job.provider, model=job.model,
                          outputs=[o.s3_uri for o in job.outputs], metadata=job.metadata, error=job.error,
                          completed_at=job.completed_at)
        entry = {"Source": self.source, "DetailType": DETAIL_TYPES[job.status], "Detail": json.dumps(dump(detail)),
                 "EventBusName": self.bus_name, "Resources": []}
        result = self.events.put_events(Entries=[entry])
        if result.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the event: {result['Entries']}")
        return dump(detail)
