"""Submit a job: hand it to its providers in order, each time with a fresh callback URL.

A provider's 429 is back-pressure, not a failure (``seedream.lifecycle``): when every provider tried
answered 429, the job goes back on the submit queue as a new message, delayed by the provider's
``Retry-After`` (else ``THROTTLE_BASE_SECONDS`` doubling per throttle, at most SQS's 900 s, with jitter),
so waiting uses up none of the message's receives; only once those delays add up to
``SUBMIT_BACKPRESSURE_MAX_SECONDS`` is the job failed (``submit_failed``) — the time it then waits its turn in
the queue is not counted. Any other failure (5xx, timeout, refused connection) counts
against the message's receives, and its last receive ends the job.
"""

from __future__ import annotations

import random
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from typing import Literal

from aws_lambda_powertools import Logger

from ..errors import JobError, ProviderRejected, ProviderUnavailable
from ..models import iso, now_iso
from ..models.messages import GenerateMessage, SubmitMessage
from ..models.records import Attempt, JobRecord
from ..models.requests import JobRequest
from ..providers.base import SubmitResult
from ..providers.selection import job_price
from ..services import Services
from ..settings import Settings
from ..store import Conflict
from ..tokens import new_token, token_hash
from .finish import fail
from .progress import progressed
from .provider_cancel import cancel_at_provider, cancel_job_at_provider

logger = Logger(child=True)

SubmitOutcome = Literal["submitted", "skipped", "rejected", "throttled", "provider_cancelled",
                        "provider_cancel_failed"]
THROTTLE_BASE_SECONDS = 2.0
"""The delay after a 429 without ``Retry-After``: doubled per throttle of the same job, up to 900 s."""
MAX_DELAY_SECONDS = 900
"""SQS's longest ``DelaySeconds``."""


def callback_url(settings: Settings, provider: str, job_id: str, token: str) -> str:
    """``{PUBLIC_BASE_URL}/v1/webhooks/{provider}/{job_id}?token=…``; raises ``JobError`` (``misconfigured``)."""
    if not settings.public_base_url:
        raise JobError("PUBLIC_BASE_URL is not set: providers would have nowhere to call back", code="misconfigured")
    return f"{settings.public_base_url}/v1/webhooks/{provider}/{job_id}?token={token}"


def provider_image_urls(svc: Services, request: JobRequest) -> list[str]:
    """Source URLs as the provider receives them: ``s3://`` becomes a presigned GET URL."""
    return [svc.blobs.presign_get(u, svc.settings.presign_seconds) if u.startswith("s3://") else u
            for u in request.images]


def submit(svc: Services, message: SubmitMessage | str, final_attempt: bool = False) -> SubmitOutcome:
    """Hand a ``queued`` job to its providers, in order, each with a fresh callback token; returns the outcome.

    ``message`` is the submit queue message (or a bare job id). ``throttled``: every provider answered 429; the
    job was queued again with a delay (module docstring).

    A ``provider_cancel`` message is not a submit: the job was cancelled and its task is cancelled at the provider
    (``usecases.provider_cancel``; outcome ``provider_cancelled``, ``provider_cancel_failed`` or ``skipped``).

    ``submitted`` (with its first deadline; ``Job Submitted`` is published, best effort); ``skipped``
    (not queued any more); ``rejected`` (a provider refused it for good: the job is ``failed`` with
    ``provider_rejected`` and ``Job Failed`` is published — unless the refusal names a limit and another
    provider is left to try; or no provider of the job has an ``api_key`` in the provider secret: ``failed`` with
    ``provider_not_configured``). A provider without a key is skipped untried (attempt ``provider_not_configured``).
    A 429, 5xx, timeout or refused connection moves on to the next provider (failover); every attempt is
    recorded on the job. When all are unavailable, raises ``ProviderUnavailable`` so SQS retries; on
    the ``final_attempt`` (the message's last receive before the DLQ) the job is first ended
    ``failed`` with ``submit_failed`` and the last error.
    """
    svc.need("store", "blobs", "providers")
    message = message if isinstance(message, SubmitMessage) else SubmitMessage(job_id=message)
    job_id = message.job_id
    if message.provider_cancel:  # the owner cancelled the job: stop its task at the provider (provider_cancel)
        return cancel_job_at_provider(svc, job_id, final_attempt=final_attempt)
    record = svc.store.get(job_id)
    if record.status != "queued":
        return "skipped"
    unavailable: ProviderUnavailable | None = None
    throttled: list[ProviderUnavailable] = []
    order = record.provider_order or [record.request.provider]
    keyless = []
    for name in order:
        provider = svc.providers[name]
        if not has_api_key(provider):  # a host without a key is never chosen
            keyless.append(name)
            _add_attempt(svc, job_id, Attempt(provider=name, at=now_iso(), outcome="provider_not_configured",
                                              message=f"the provider secret has no api_key for {name}"))
            logger.warning("provider has no api_key; skipped", extra={"job_id": job_id, "provider": name})
            continue
        token = new_token()
        try:
            svc.store.arm_callback(job_id, provider.name, token_hash(token), job_price(provider, record.request))
            if getattr(provider, "synchronous", False):
                result = hand_to_generate(svc, job_id)
            else:
                images = provider_image_urls(svc, record.request)
                result = provider.submit(record.request, images, callback_url(svc.settings, provider.name, job_id, token))
        except Conflict:
            return "skipped"
        except ProviderRejected as exc:
            _add_attempt(svc, job_id, Attempt(provider=name, at=now_iso(), outcome="provider_rejected",
                                              message=exc.message))
            if exc.names_limit and name != order[-1]:
                logger.warning("provider refused a limit; trying the next", extra={"job_id": job_id, "provider": name})
                continue
            fail(svc, job_id, exc)
            return "rejected"
        except ProviderUnavailable as exc:
            _add_attempt(svc, job_id, Attempt(provider=name, at=now_iso(), outcome="provider_unavailable",
                                              message=exc.message))
            logger.warning("provider unavailable", extra={"job_id": job_id, "provider": name, "code": exc.code})
            unavailable = exc
            if exc.throttled:
                throttled.append(exc)
            continue
        submitted_at = now_iso()
        attempt = Attempt(provider=name, at=submitted_at, outcome="submitted", provider_task_id=result.provider_task_id)
        request = record.request
        deadline = svc.settings.deadlines().submitted(submitted_at, name, request.model,
                                                      request.max_images, request.width, request.height)
        try:
            submitted = svc.store.mark_submitted(job_id, attempt, submitted_at, deadline, result.provider_urls)
        except Conflict as conflict:
            # The provider's callback outran us and already finished the job: nothing left to change; or the owner
            # cancelled it while we handed it over: stop the task we just started, where the provider can.
            status = conflict.current.status if conflict.current else None
            logger.info("job moved on before it was marked submitted", extra={"job_id": job_id, "status": status})
            if status == "cancelled":
                cancel_at_provider(svc, job_id, name, result.provider_task_id, result.provider_urls)
        else:
            progressed(svc, submitted)
        logger.info("job submitted", extra={"job_id": job_id, "provider": name,
                                            "provider_task_id": result.provider_task_id})
        return "submitted"
    if unavailable is None:  # every provider was skipped: none has a key
        fail(svc, job_id, JobError(f"no provider of this job has an api_key in the provider secret ({', '.join(keyless)}"
                                   "); put one there (README, \"Deploy to AWS\")", code="provider_not_configured"))
        return "rejected"
    tried = len(order) - len(keyless)
    if len(throttled) == tried:  # every provider tried said "not now": wait, do not fail
        return _hold_back(svc, record, message, throttled)
    if final_attempt:
        fail(svc, job_id, JobError(f"no provider took the job on the last try ({tried} provider(s) each time); "
                                   f"last error: {unavailable.message}", code="submit_failed"))
    raise unavailable


def has_api_key(provider) -> bool:
    """Whether the provider secret holds an ``api_key`` for ``provider`` (its ``credentials()`` raise ``JobError``
    ``misconfigured`` when not). Any other failure to read the secret propagates: SQS retries the job."""
    try:
        provider.credentials()
    except JobError as exc:
        if exc.code != "misconfigured":
            raise
        return False
    return True


def hand_to_generate(svc: Services, job_id: str) -> SubmitResult:
    """A synchronous provider (ModelArk) has no callback: the job goes to the generate function, which holds the
    connection for the generation time (``usecases.generate``). The task id is ours (``ark-<hex>``); the job is
    then ``submitted`` at the provider like any other, so cancel, the sweep and the lifecycle apply to it."""
    svc.need("queues")
    task_id = f"ark-{uuid.uuid4().hex}"
    svc.queues.send_generate(GenerateMessage(job_id=job_id, provider_task_id=task_id))
    return SubmitResult(provider_task_id=task_id, provider_status="queued")


def throttle_delay(throttles: int, retry_after: list[float], jitter: float | None = None) -> float:
    """Seconds to hold a job back after its ``throttles``-th round of 429s: the shortest ``Retry-After`` the
    providers asked for, else ``THROTTLE_BASE_SECONDS × 2^throttles``; times ``jitter`` (default random in
    1.0..1.25, so a burst does not come back at once), within 1..900 s."""
    delay = min(retry_after) if retry_after else THROTTLE_BASE_SECONDS * 2 ** throttles
    jitter = random.uniform(1.0, 1.25) if jitter is None else jitter  # noqa: S311  # nosec B311 - spreads retries
    return min(MAX_DELAY_SECONDS, max(1.0, delay * jitter))


def _hold_back(svc: Services, record: JobRecord, message: SubmitMessage,
               throttled: list[ProviderUnavailable]) -> SubmitOutcome:
    """Queue the job again as a new message, delayed as its providers asked; ``submit_failed`` once the 429s have
    lasted ``SUBMIT_BACKPRESSURE_MAX_SECONDS``."""
    svc.need("queues")
    since = message.throttled_since or iso(datetime.now(UTC))
    held = message.held_seconds  # waiting its turn in a long queue is not counted: only the delays 429s asked for
    if held >= svc.settings.submit_backpressure_max_seconds:
        fail(svc, record.job_id, JobError(f"every provider answered 429 (rate limited) {message.throttles} times "
                                          f"since {since}, holding the job back {held:.0f} s; last: "
                                          f"{throttled[-1].message}", code="submit_failed"))
        return "rejected"
    delay = throttle_delay(message.throttles, [t.retry_after for t in throttled if t.retry_after is not None])
    again = SubmitMessage(job_id=record.job_id, throttles=message.throttles + 1, throttled_since=since,
                          held_seconds=held + round(delay))
    svc.queues.send_submit(again, delay_seconds=round(delay))
    stamp = now_iso()
    with suppress(Conflict):  # cancelled meanwhile: the new message finds it so and stops
        svc.store.requeue(record.job_id, stamp, svc.settings.deadlines().queued(stamp))
    logger.info("providers rate limited; job queued again", extra={"job_id": record.job_id, "delay_seconds": round(delay),
                                                                   "throttles": again.throttles})
    return "throttled"


def _add_attempt(svc: Services, job_id: str, attempt: Attempt) -> None:
    try:
        svc.store.add_attempt(job_id, attempt)
    except Conflict:
        pass
