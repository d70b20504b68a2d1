"""Ingest function: SQS consumer that streams a finished job's outputs into S3 and announces the result.

Transient download trouble is a batch item failure (retried, then the ingest DLQ); the job
stays ``submitted`` with no outputs recorded until an attempt stores them all.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from seedream import jobs
from seedream.models import IngestMessage
from seedream.runtime import build_services

logger = Logger(service="ingest")
metrics = Metrics(service="ingest")
processor = BatchProcessor(event_type=EventType.SQS)
svc = build_services()


def record_handler(record: SQSRecord) -> str:
    message = jobs.parse_message(record.body, IngestMessage)
    outcome = jobs.ingest(svc, message)
    metrics.add_metric(name=f"Ingest_{outcome}", unit=MetricUnit.Count, value=1)
    return outcome


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
