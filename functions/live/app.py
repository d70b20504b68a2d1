"""Live function: the WebSocket API's ``$connect`` (IAM-authorised), ``$disconnect`` and ``subscribe`` routes
(``seedream.usecases.live``).

The event is API Gateway's WebSocket Lambda proxy event (AWS docs, "WebSocket API Lambda proxy integration"):
``requestContext.routeKey``, ``connectionId``, ``connectedAt`` (epoch ms) and, on an IAM-authorised ``$connect``,
``identity.userArn`` (the caller, the owner of its jobs as in the HTTP API); ``body`` is the client's message.
``$connect`` answers 200 (connection accepted) or 403; ``subscribe`` answers 200 with the reply in ``body``, which the
route's ``$default`` route response sends back to the client.

Metrics (service ``live``): ``Connections``, ``Disconnections``, ``Subscriptions``, ``SubscriptionsRefused``.
"""

import json

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from seedream.errors import JobError
from seedream.usecases.live import connect, disconnect, subscribe
from seedream.wiring import live_services

logger = Logger()
metrics = Metrics()
svc = live_services()


def on_connect(event: dict) -> dict:
    context = event["requestContext"]
    try:
        connect(svc, context["connectionId"], (context.get("identity") or {}).get("userArn"),
                int(context["connectedAt"]))
    except JobError as exc:
        return {"statusCode": exc.http_status, "body": json.dumps(exc.to_body())}
    metrics.add_metric(name="Connections", unit=MetricUnit.Count, value=1)
    return {"statusCode": 200}


def on_disconnect(event: dict) -> dict:
    disconnect(svc, event["requestContext"]["connectionId"])
    metrics.add_metric(name="Disconnections", unit=MetricUnit.Count, value=1)
    return {"statusCode": 200}


def on_subscribe(event: dict) -> dict:
    reply = subscribe(svc, event["requestContext"]["connectionId"], event.get("body"))
    metrics.add_metric(name="Subscriptions" if reply["type"] == "subscribed" else "SubscriptionsRefused",
                       unit=MetricUnit.Count, value=1)
    return {"statusCode": 200, "body": json.dumps(reply, separators=(",", ":"))}


ROUTES = {"$connect": on_connect, "$disconnect": on_disconnect, "subscribe": on_subscribe}


@logger.inject_lambda_context(correlation_id_path="requestContext.connectionId")
@metrics.log_metrics
def lambda_handler(event, context):
    return ROUTES[event["requestContext"]["routeKey"]](event)
