"""Ingest function: SQS consumer that streams a finished job's outputs into S3 and announces the result.

Messages are parsed by Powertools' batch processor into ``IngestRecord``. Transient download
trouble is a batch item failure (retried); the job stays open with no outputs shown, and a retry
keeps the outputs already stored and verified. On the last receive (``INGEST_MAX_RECEIVES``, the
queue's ``maxReceiveCount``) the job is ended ``failed``/``ingest_failed`` with nothing left in S3;
the message still goes to the ingest DLQ. The job is leased to the invocation while it works, until the
invocation's own timeout (``seedream.lifecycle``).
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from seedream.errors import OutputUnavailable, ProviderUnavailable
from seedream.models.messages import IngestMessage
from seedream.usecases.ingest import ingest
from seedream.wiring import ingest_services


class IngestRecord(SqsRecordModel):
    body: Json[IngestMessage]


logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, model=IngestRecord)
svc = ingest_services()


def record_handler(record: IngestRecord, lambda_context=None) -> str:
    # the last receive before SQS moves the message to the DLQ: a transient failure now ends the job
    final = int(record.attributes.ApproximateReceiveCount) >= svc.settings.ingest_max_receives
    # the job is leased to this invocation until it ends for certain (Lambda stops it at its timeout)
    # (Powertools passes the invocation's context to a record handler that names ``lambda_context``)
    lease_seconds = lambda_context.get_remaining_time_in_millis() / 1000 + 5 if lambda_context else 300.0
    try:
        outcome = ingest(svc, record.body, final_attempt=final, lease_seconds=lease_seconds,
                         lease_owner=f"{getattr(lambda_context, 'aws_request_id', 'ingest')}:{record.messageId}")
    except (OutputUnavailable, ProviderUnavailable):
        metrics.add_metric(name="IngestFailedLastTry" if final else "IngestRetried", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name=f"Ingest_{outcome}", unit=MetricUnit.Count, value=1)
    return outcome


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
