"""Push function: SQS consumer of the live queue, which sends each lifecycle event to the WebSocket connections
subscribed to its job or to its owner's jobs (``seedream.usecases.live.push``), through the WebSocket API's management
API (``PostToConnection``). A connection answered 410 is removed; any other failure fails the item, which SQS retries
and then moves to the live DLQ.

Metrics (service ``push``): ``EventsPushed`` (messages sent), ``ConnectionsGone`` (410s).
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from seedream.models.events import BusEvent
from seedream.usecases.live import push
from seedream.wiring import push_services


class LiveRecord(SqsRecordModel):
    body: Json[BusEvent]


logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, model=LiveRecord)
svc = push_services()


def record_handler(record: LiveRecord) -> dict[str, int]:
    counts = push(svc, record.body)
    metrics.add_metric(name="EventsPushed", unit=MetricUnit.Count, value=counts["sent"])
    metrics.add_metric(name="ConnectionsGone", unit=MetricUnit.Count, value=counts["gone"])
    return counts


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
