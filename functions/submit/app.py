"""Submit function: SQS consumer that hands each queued job to its provider with a callback URL.

Messages are parsed by Powertools' batch processor into ``SubmitRecord`` (a malformed body is a
batch item failure). A job whose providers are unavailable (5xx, timeout) is a batch item failure too, retried by SQS;
after ``maxReceiveCount`` it lands in the submit DLQ. A job every provider answered 429 is queued
again with a delay by the use case (``Submit_throttled``): waiting uses no receive. Powertools
idempotency (keyed by the message body: job id and throttle count) keeps a redelivered message from
submitting twice. A ``provider_cancel`` message (the api's, for a cancelled job at a provider that documents a
cancel: fal.ai) cancels the task at the provider instead (``Submit_provider_cancelled`` / ``_provider_cancel_failed``).
"""

import dataclasses

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from seedream.errors import ProviderUnavailable
from seedream.models.messages import SubmitMessage
from seedream.usecases.submit import submit
from seedream.wiring import submit_services


class SubmitRecord(SqsRecordModel):
    body: Json[SubmitMessage]


logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, model=SubmitRecord)
svc = submit_services()


@svc.idempotency.once("message", expires_after_seconds=3600)
def submit_once(message: dict, final_attempt: bool = False) -> str:
    return submit(svc, SubmitMessage(**message), final_attempt=final_attempt)


def record_handler(record: SubmitRecord) -> str:
    # the last receive before SQS moves the message to the DLQ: a job that fails now ends as submit_failed
    final = int(record.attributes.ApproximateReceiveCount) >= svc.settings.submit_max_receives
    try:
        # keyed by the whole body: a redelivered message is the same key; a job queued again after 429s
        # (``throttles`` + 1) is a new one
        outcome = submit_once(message=dataclasses.asdict(record.body), final_attempt=final)
    except ProviderUnavailable:
        metrics.add_metric(name="SubmitFailedLastTry" if final else "SubmitRetried", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name=f"Submit_{outcome}", unit=MetricUnit.Count, value=1)
    return outcome


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    svc.idempotency.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
