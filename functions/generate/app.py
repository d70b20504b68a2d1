"""Generate function: SQS consumer of the ModelArk queue that runs one job at a synchronous provider per invocation.

BytePlus ModelArk has no callback: this function holds the streamed (SSE) connection for the generation time,
stores each image as it arrives and puts the completion on the ingest queue (``seedream.usecases.generate``).
The job is leased to the invocation until its timeout, so the sweep waits while it works; a message redelivered
after a lost invocation finds the generation claimed and is dropped (never generated, nor billed, twice): the sweep
ends that job (``provider_stream_lost``). Every outcome is handled in the use case, so a record fails (and is
retried by SQS) only on an unexpected error.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from seedream.models.messages import GenerateMessage
from seedream.usecases.generate import generate
from seedream.wiring import generate_services


class GenerateRecord(SqsRecordModel):
    body: Json[GenerateMessage]


logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, model=GenerateRecord)
svc = generate_services()


def record_handler(record: GenerateRecord, lambda_context=None) -> str:
    # leased until the invocation ends for certain (Lambda stops it at its timeout)
    lease_seconds = lambda_context.get_remaining_time_in_millis() / 1000 + 5 if lambda_context else 900.0
    outcome = generate(svc, record.body, lease_seconds=lease_seconds,
                       owner=f"{getattr(lambda_context, 'aws_request_id', 'generate')}:{record.messageId}")
    metrics.add_metric(name=f"Generate_{outcome}", unit=MetricUnit.Count, value=1)
    return outcome


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
