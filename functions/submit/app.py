"""Submit function: SQS consumer that hands each queued job to its provider with a callback URL.

Partial batch failures: a job whose provider is unavailable (429, 5xx, timeout) is reported as
a batch item failure and retried by SQS; after ``maxReceiveCount`` it lands in the submit DLQ.
Powertools idempotency (keyed by job id) keeps a redelivered message from submitting twice.
"""

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from seedream import jobs
from seedream.models import SubmitMessage
from seedream.runtime import build_services

logger = Logger(service="submit")
metrics = Metrics(service="submit")
processor = BatchProcessor(event_type=EventType.SQS)
svc = build_services()
idempotency = IdempotencyConfig(expires_after_seconds=3600)
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])


@idempotent_function(data_keyword_argument="job_id", persistence_store=persistence, config=idempotency)
def submit_once(job_id: str) -> str:
    return jobs.submit_job(svc, job_id)


def record_handler(record: SQSRecord) -> str:
    message = jobs.parse_message(record.body, SubmitMessage)
    outcome = submit_once(job_id=message.job_id)
    metrics.add_metric(name=f"Submit_{outcome}", unit=MetricUnit.Count, value=1)
    return outcome


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    idempotency.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
