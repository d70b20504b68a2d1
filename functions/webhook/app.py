"""Webhook function: ``POST /v1/webhooks/{provider}/{job_id}?token=…`` (public route).

Authenticates (provider signature and timestamp, then the token inside one conditional update),
records, enqueues for ingest, answers in milliseconds: 202 accepted, 200 duplicate or ignored,
401 (nothing changes) for a callback that fails authentication.
"""

import base64

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from seedream.errors import JobError
from seedream.usecases.callbacks import record_callback
from seedream.wiring import webhook_services

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver()
svc = webhook_services()
STATUS = {"accepted": 202, "duplicate": 200, "ignored": 200}


def raw_body(event) -> bytes:
    """The callback body exactly as sent: signatures are computed over these bytes."""
    if not event.body:
        return b""
    return base64.b64decode(event.body) if event.is_base64_encoded else event.body.encode("utf-8")


@app.post("/v1/webhooks/<provider>/<job_id>")
def callback(provider: str, job_id: str) -> Response:
    event = app.current_event
    token = (event.query_string_parameters or {}).get("token")
    outcome = record_callback(svc, provider, job_id, token, event.headers or {}, raw_body(event))
    metrics.add_metadata(key="provider", value=provider)
    metrics.add_metric(name="CallbacksAccepted" if outcome.status == "accepted" else "CallbacksIgnored",
                       unit=MetricUnit.Count, value=1)
    body = {"status": outcome.status} | ({"reason": outcome.reason} if outcome.reason else {})
    return Response(status_code=STATUS[outcome.status], content_type=content_types.APPLICATION_JSON, body=body)


@app.exception_handler(JobError)
def job_error(exc: JobError) -> Response:
    if exc.http_status < 500:
        metrics.add_metric(name="CallbacksRejected", unit=MetricUnit.Count, value=1)
        logger.warning("callback rejected", extra={"code": exc.code})
    else:
        metrics.add_metric(name="CallbackErrors", unit=MetricUnit.Count, value=1)
        logger.exception("callback failed", extra={"code": exc.code})
    return Response(status_code=exc.http_status, content_type=content_types.APPLICATION_JSON, body=exc.to_body())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
