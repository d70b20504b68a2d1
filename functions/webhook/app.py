"""Webhook function: ``POST /v1/webhooks/{provider}/{job_id}?token=…`` (public route).

Authenticates (token, provider signature, timestamp), records, enqueues for ingest, answers in
milliseconds. A rejected callback gets 401 and changes nothing.
"""

import base64

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from seedream import jobs
from seedream.errors import JobError
from seedream.runtime import build_services

logger = Logger(service="webhook")
metrics = Metrics(service="webhook")
app = APIGatewayHttpResolver()
svc = build_services()


def raw_body(event) -> bytes:
    """The callback body exactly as sent: signatures are computed over these bytes."""
    if not event.body:
        return b""
    return base64.b64decode(event.body) if event.is_base64_encoded else event.body.encode("utf-8")


@app.post("/v1/webhooks/<provider>/<job_id>")
def callback(provider: str, job_id: str) -> Response:
    event = app.current_event
    token = (event.query_string_parameters or {}).get("token")
    status, body = jobs.record_callback(svc, provider, job_id, token, event.headers or {}, raw_body(event))
    metrics.add_metadata(key="provider", value=provider)
    metrics.add_metric(name="CallbacksAccepted" if status == 202 else "CallbacksIgnored", unit=MetricUnit.Count, value=1)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


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
