"""Intake function: SQS consumer of the intake queue — the S3 door (``requests/<name>.json`` uploads) and the
EventBridge door (``Job Requested``), both accepted like ``POST /v1/jobs`` (``seedream.usecases.intake``).

Each record's body is an EventBridge event (the rules' SQS target). A body that is no EventBridge event
is a batch item failure (retried, then the intake DLQ and its alarm); an event that asks nothing of this
stack is dropped (``Intake_ignored``). Powertools idempotency, keyed by the request (bucket/key/version
or event id), answers a redelivered request with what the first delivery did; the job's id is derived
from the same key, so even past that window a request makes one job. Metrics: ``Intake_<outcome>``.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel

from seedream.usecases.intake import Arrival, intake, read_arrival
from seedream.wiring import intake_services

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, model=SqsRecordModel)
svc = intake_services()


@svc.idempotency.once("request_key", expires_after_seconds=24 * 3600)  # EventBridge retries a delivery for 24 h
def intake_once(request_key: str, arrival: Arrival, final_attempt: bool = False) -> dict:
    return intake(svc, arrival, final_attempt=final_attempt).as_dict()


def record_handler(record: SqsRecordModel) -> str:
    arrival = read_arrival(svc.settings, record.body)
    if arrival is None:
        metrics.add_metric(name="Intake_ignored", unit=MetricUnit.Count, value=1)
        return "ignored"
    # the last receive before SQS moves the message to the DLQ: a request that still cannot be accepted is refused
    final = int(record.attributes.ApproximateReceiveCount) >= svc.settings.intake_max_receives
    result = intake_once(request_key=arrival.key, arrival=arrival, final_attempt=final)
    metrics.add_metric(name=f"Intake_{result['outcome']}", unit=MetricUnit.Count, value=1)
    logger.info("request taken in", extra={"door": arrival.door, **result})
    return result["outcome"]


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    svc.idempotency.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
