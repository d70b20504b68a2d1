"""Cancel a cancelled job's task at its provider, where the provider documents a cancel (fal.ai: its ``cancel_url``).

Who does it: the api cancels the job (``usecases.cancel``) but holds no provider keys by design
(``wiring.API_PARTS``), so it puts a ``SubmitMessage(provider_cancel=True)`` on the submit queue — which it already
sends to — and the submit function, which holds the keys, calls the provider here. No new queue, function or grant.
A submit that finds its job cancelled while it was handing it over (the cancel came between the provider's answer
and ``mark_submitted``) cancels the task here too, with the URLs it has just been given.

A provider cancel is best effort and never un-cancels the job: a refusal or an unreachable provider is logged and
counted (metric ``ProviderCancelFailed``); an unavailable provider is retried by SQS until the message's last receive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from ..errors import ProviderRejected, ProviderUnavailable
from ..providers.base import provider_cancel
from ..services import Services

logger = Logger(child=True)
metrics = Metrics()  # Powertools' metric set is shared per process: the function's @log_metrics flushes these

CancelOutcome = Literal["provider_cancelled", "provider_cancel_failed", "skipped"]


def wants_provider_cancel(svc: Services, provider: str, provider_task_id: str | None) -> bool:
    """True when a job handed to ``provider`` as ``provider_task_id`` can be cancelled there (the adapter has a cancel)."""
    adapter = svc.providers.get(provider)
    return bool(provider_task_id) and adapter is not None and provider_cancel(adapter) is not None


def cancel_at_provider(svc: Services, job_id: str, provider: str, provider_task_id: str,
                       provider_urls: Mapping[str, str], *, final_attempt: bool = True) -> CancelOutcome:
    """Ask ``provider`` to stop ``provider_task_id`` (URLs as the provider gave them). Returns ``provider_cancelled``
    (the provider answered, e.g. ``CANCELLATION_REQUESTED`` or ``ALREADY_COMPLETED``), ``provider_cancel_failed``
    (refused, or unreachable on the ``final_attempt``: logged and counted) or ``skipped`` (no cancel there).
    Raises ``ProviderUnavailable`` before the final attempt, so SQS tries again."""
    adapter = svc.providers.get(provider)
    cancel = provider_cancel(adapter) if adapter is not None else None
    if cancel is None or not provider_task_id:
        return "skipped"
    extra = {"job_id": job_id, "provider": provider, "provider_task_id": provider_task_id}
    try:
        answer = cancel(provider_task_id, provider_urls)
    except ProviderUnavailable as exc:
        if not final_attempt:
            logger.warning("provider cancel failed; will retry", extra=extra | {"code": exc.code})
            raise
        return _failed(extra, exc.message)
    except ProviderRejected as exc:
        return _failed(extra, exc.message)
    logger.info("task cancelled at the provider", extra=extra | {"provider_answer": answer})
    metrics.add_metric(name="ProviderCancelled", unit=MetricUnit.Count, value=1)
    return "provider_cancelled"


def cancel_job_at_provider(svc: Services, job_id: str, final_attempt: bool = True) -> CancelOutcome:
    """``cancel_at_provider`` for a stored job that is ``cancelled`` (anything else is ``skipped``)."""
    svc.need("store")
    record = svc.store.get(job_id)
    if record.status != "cancelled" or not record.provider_task_id:
        return "skipped"
    return cancel_at_provider(svc, job_id, record.provider, record.provider_task_id, record.provider_urls,
                              final_attempt=final_attempt)


def _failed(extra: dict, message: str) -> CancelOutcome:
    logger.warning("provider cancel failed; the job stays cancelled", extra=extra | {"error": message})
    metrics.add_metric(name="ProviderCancelFailed", unit=MetricUnit.Count, value=1)
    return "provider_cancel_failed"
