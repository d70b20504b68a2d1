"""Webhook function: ``POST /v1/webhooks/{provider}/{job_id}?token=…`` (public route).

Authenticates (provider signature and timestamp, then the token inside one conditional update),
records, enqueues for ingest, answers in milliseconds: 202 accepted, 200 duplicate or ignored,
401 (nothing changes) for a callback that fails authentication, 400 for a body it cannot read.

One route, so the event is read through Powertools' ``APIGatewayProxyEventV2`` data class rather
than the event handler's resolver, whose import (~25 ms) the webhook's cold start cannot afford.
"""

import base64
import json

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2, event_source

from seedream.errors import JobError
from seedream.usecases.callbacks import record_callback
from seedream.wiring import webhook_services

logger = Logger()
metrics = Metrics()
svc = webhook_services()
STATUS = {"accepted": 202, "duplicate": 200, "ignored": 200}


def raw_body(event: APIGatewayProxyEventV2) -> bytes:
    """The callback body exactly as sent: signatures are computed over these bytes."""
    if not event.body:
        return b""
    return base64.b64decode(event.body) if event.is_base64_encoded else event.body.encode("utf-8")


def answer(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def callback(event: APIGatewayProxyEventV2) -> dict:
    params = event.path_parameters or {}
    if event.request_context.http.method != "POST" or not params.get("provider") or not params.get("job_id"):
        return answer(404, {"error": {"code": "route_not_found", "message": "no such route", "details": None}})
    provider = params["provider"]
    token = (event.query_string_parameters or {}).get("token")
    try:
        outcome = record_callback(svc, provider, params["job_id"], token, event.headers or {}, raw_body(event))
    except JobError as exc:
        if exc.http_status < 500:
            metrics.add_metric(name="CallbacksRejected", unit=MetricUnit.Count, value=1)
            logger.warning("callback rejected", extra={"code": exc.code, "provider": provider})
        else:
            metrics.add_metric(name="CallbackErrors", unit=MetricUnit.Count, value=1)
            logger.exception("callback failed", extra={"code": exc.code, "provider": provider})
        return answer(exc.http_status, exc.to_body())
    metrics.add_metadata(key="provider", value=provider)
    metrics.add_metric(name="CallbacksAccepted" if outcome.status == "accepted" else "CallbacksIgnored",
                       unit=MetricUnit.Count, value=1)
    return answer(STATUS[outcome.status], {"status": outcome.status} | ({"reason": outcome.reason} if outcome.reason else {}))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@event_source(data_class=APIGatewayProxyEventV2)
def lambda_handler(event: APIGatewayProxyEventV2, context) -> dict:
    return callback(event)
