"""Delivery function: SQS consumer of the webhook queue, which sends each job's lifecycle to its ``webhook``
as signed Standard Webhooks messages (``seedream.usecases.deliver``).

The queue holds two kinds of body, parsed by Powertools' batch processor into ``DeliveryRecord``: a lifecycle
event (``Job Queued`` … ``Job Cancelled``) as the EventBridge rule's SQS target delivers it, and an attempt the
function queued itself (a retry, a long wait's next hop, or a redelivery: ``DeliveryMessage``). A receiver that
fails is not a batch item failure: the attempt is recorded and the next one queued with its delay. Only our own
trouble (DynamoDB, SQS, the secret) fails the item, which SQS retries and then moves to the webhook DLQ.

Metrics (service ``delivery``): ``WebhooksDelivered``, ``WebhooksFailed`` (an attempt failed, another is queued),
``WebhooksExhausted`` (the last attempt failed: alarmed), ``WebhooksGone`` (410), ``WebhooksForbidden`` (a
destination that is no public address), and ``Delivery_<outcome>`` for the rest.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from seedream.models.events import BusEvent
from seedream.models.messages import DeliveryMessage
from seedream.usecases.deliver import on_delivery, on_lifecycle_event
from seedream.wiring import delivery_services


class DeliveryRecord(SqsRecordModel):
    body: Json[BusEvent | DeliveryMessage]


METRICS = {"delivered": "WebhooksDelivered", "failed": "WebhooksFailed", "exhausted": "WebhooksExhausted",
           "gone": "WebhooksGone", "forbidden": "WebhooksForbidden"}

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, model=DeliveryRecord)
svc = delivery_services()


def record_handler(record: DeliveryRecord) -> str:
    body = record.body  # a lifecycle event from the bus, or an attempt this function queued
    outcome = on_lifecycle_event(svc, body.detail_type, body.detail) if isinstance(body, BusEvent) \
        else on_delivery(svc, body)
    metrics.add_metric(name=METRICS.get(outcome, f"Delivery_{outcome}"), unit=MetricUnit.Count, value=1)
    return outcome


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
