"""Take a provider's completion callback: authenticate, record it once, put it on the ingest queue.

The accept path makes at most two AWS calls: the provider's signature is checked first (from
the cached secret or JWKS), then one conditional ``UpdateItem`` checks the token's hash, the
provider, the task id, an open status and that no completion is being ingested (none recorded,
or the recorded one's ingest failed: a provider's later genuine callback can then retry it) —
its old item (returned on a failed condition) tells a forgery from a duplicate — then one
``SendMessage``. The job's deadline moves to ``INGEST_DEADLINE_SECONDS`` later, for ingest (or to when the provider
deletes the outputs, if sooner: ``lifecycle.ingest_due``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from aws_lambda_powertools import Logger

from ..errors import Unauthorized
from ..ledger import CallbackRefused
from ..lifecycle import ingest_due
from ..models import TERMINAL, after, now_iso
from ..models.messages import IngestMessage
from ..providers.base import NotTerminal
from ..services import Services
from ..tokens import token_hash, token_matches

logger = Logger(child=True)


@dataclass(frozen=True)
class CallbackOutcome:
    """``accepted`` (recorded and queued for ingest), ``duplicate`` (the job is finished, or a completion
    is recorded and being ingested) or ``ignored`` (not final, or for another provider task)."""

    status: Literal["accepted", "duplicate", "ignored"]
    reason: str | None = None


def record_callback(svc: Services, provider_name: str, job_id: str, token: str | None,
                    headers: Mapping[str, str], body: bytes, now: float | None = None) -> CallbackOutcome:
    """Authenticate a provider callback, record it and put it on the ingest queue; nothing is downloaded.

    ``headers`` are read whatever their names' case (held as Powertools' ``CaseInsensitiveDict``, which the API
    Gateway event's headers already are); ``body`` is the raw request body; ``now`` unix seconds. Raises
    ``Unauthorized`` (token, signature, timestamp, key id; nothing changes) or ``InvalidRequest`` (``callback_malformed``).
    """
    from aws_lambda_powertools.utilities.data_classes.common import CaseInsensitiveDict

    svc.need("ledger", "queues")
    if not isinstance(headers, CaseInsensitiveDict):
        headers = CaseInsensitiveDict(headers)
    provider = svc.providers.get(provider_name)
    if provider is None or not token:
        raise Unauthorized("the callback URL's token does not match this job", code="token_invalid")
    provider.verify_callback(headers, body, time.time() if now is None else now)
    try:
        notice = provider.parse_callback(headers, body)
    except NotTerminal as status:
        return CallbackOutcome("ignored", f"provider status {status} is not final")
    received_at = now_iso()
    ingest_deadline = ingest_due(after(received_at, svc.settings.ingest_deadline_seconds), notice.outputs_expire_at)
    try:
        svc.ledger.accept(job_id, provider_name, token_hash(token), notice, received_at, ingest_deadline)
    except CallbackRefused as refused:
        return _refused(refused, provider_name, token, notice.provider_task_id)
    try:
        svc.queues.send_ingest(IngestMessage(job_id=job_id, notice=notice, received_at=received_at))
    except Exception:
        svc.ledger.forget(job_id)  # let the provider's retry try again
        raise
    logger.info("callback accepted", extra={"job_id": job_id, "provider": provider_name,
                                            "provider_status": notice.provider_status})
    return CallbackOutcome("accepted")


def _refused(refused: CallbackRefused, provider_name: str, token: str, task_id: str) -> CallbackOutcome:
    """Why the conditional update refused the callback, from the job as it was. Raises ``Unauthorized``."""
    job = refused.state
    if job is None or job.provider != provider_name or not token_matches(token, job.callback_token_sha256):
        raise Unauthorized("the callback URL's token does not match this job", code="token_invalid")
    if job.status not in TERMINAL and not job.being_ingested and job.provider_task_id not in (None, task_id):
        return CallbackOutcome("ignored", "callback is for another provider task")
    return CallbackOutcome("duplicate")
