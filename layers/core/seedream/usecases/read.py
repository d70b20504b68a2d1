"""Read a job as the API shows it."""

from __future__ import annotations

from ..models.views import JobView
from ..services import Services


def job_view(svc: Services, job_id: str) -> JobView:
    """The job with a presigned ``url`` per output. Raises ``JobNotFound``."""
    svc.need("store", "blobs")
    record = svc.store.get(job_id)
    return JobView.of(record, lambda uri: svc.blobs.presign_get(uri, svc.settings.presign_seconds))
