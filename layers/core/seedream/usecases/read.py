"""Read a job as the API shows it."""

from __future__ import annotations

from ..errors import JobNotFound
from ..models.records import JobRecord
from ..models.views import JobView
from ..services import Services


def owned(svc: Services, job_id: str, owner: str | None) -> JobRecord:
    """The job if ``owner`` created it over HTTP; raises ``JobNotFound`` otherwise (another caller's job does not exist
    for you, nor does a job that came by S3 or EventBridge: it has no caller, and its door gives its answer)."""
    record = svc.store.find(job_id)
    if record is None or record.owner != owner or (record.origin is not None and record.origin.type != "http"):
        raise JobNotFound(f"no job with id {job_id!r}")
    return record


def job_view(svc: Services, job_id: str, owner: str | None = None) -> JobView:
    """The job with a presigned ``url`` per output, for its owner. Raises ``JobNotFound``."""
    svc.need("store", "blobs")
    return view(svc, owned(svc, job_id, owner))


def view(svc: Services, record: JobRecord) -> JobView:
    """``record`` as the API shows it (a job already read or just moved): a presigned ``url`` per output, valid
    ``PRESIGN_SECONDS``; nothing is read again."""
    svc.need("blobs")
    return JobView.of(record, lambda uri: svc.blobs.presign_get(uri, svc.settings.presign_seconds))
