"""API function: ``POST /v1/jobs`` (``Idempotency-Key``, ``?dry_run=true``), ``GET /v1/jobs``, ``GET /v1/jobs/{job_id}``,
``POST /v1/jobs/{job_id}/cancel``, ``POST /v1/jobs/{job_id}/webhooks/redeliver``, ``GET /v1/webhooks/default/secret``,
``GET /v1/models``, ``GET /v1/openapi.json`` on two HTTP APIs:
``HttpApi`` (IAM, SigV4) and ``KeyApi`` (API keys, ``Authorization: Bearer sk_…``, checked by the authorizer
function); and, on ``HttpApi`` only, ``POST /v1/keys``, ``GET /v1/keys``, ``DELETE /v1/keys/{key_id}`` (an IAM caller's API keys).

A dry run checks an ``Idempotency-Key``'s form but neither reads nor writes its record: the key stays unused.

A job belongs to the IAM caller that created it (directly or with one of its API keys); to anyone else it is 404.
Any unexpected error is a 500 with a plain body (the stack trace goes to the log only).
"""

import base64

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from seedream.errors import JobError
from seedream.payloads import read_json
from seedream.usecases.accept import accept
from seedream.usecases.cancel import cancel
from seedream.usecases.create_key import create_key
from seedream.usecases.deliver import redeliver
from seedream.usecases.dry_run import dry_run, dry_run_flag
from seedream.usecases.list_keys import list_keys
from seedream.usecases.listing import list_jobs
from seedream.usecases.model_list import model_list
from seedream.usecases.read import job_view, view
from seedream.usecases.revoke_key import revoke_key
from seedream.wiring import api_services

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver()
svc = api_services()


def _json(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def _authorizer() -> dict:
    return app.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}


def iam_caller() -> str | None:
    """The IAM caller's ARN (``requestContext.authorizer.iam.userArn``: a SigV4 request to ``HttpApi``)."""
    return (_authorizer().get("iam") or {}).get("userArn")


def caller() -> str | None:
    """Who the request acts as: the IAM caller's ARN, or the ARN an API key acts as (the key authorizer's
    ``requestContext.authorizer.lambda.owner``, on ``KeyApi``). Jobs are scoped to it either way."""
    return iam_caller() or (_authorizer().get("lambda") or {}).get("owner")


def accepted(request: dict) -> dict:
    """Accept ``request["body"]`` for ``request["caller"]``; the 202 document."""
    job = accept(svc, request["body"], owner=request["caller"] or None)
    return {"job_id": job.job_id, "status": job.status, "provider": job.provider, "model": job.model,
            "created_at": job.created_at, "estimated_cost_usd": job.estimated_cost_usd,
            "links": {"self": f"/v1/jobs/{job.job_id}"}}


@app.post("/v1/jobs")
def create_job() -> Response:
    event = app.current_event
    raw = base64.b64decode(event.body or "") if event.is_base64_encoded else event.body
    body = read_json(raw)
    key = (event.headers or {}).get("idempotency-key")
    if dry_run_flag((event.query_string_parameters or {}).get("dry_run")):
        if key is not None:
            from seedream.idempotency import check_key

            check_key(key)
        metrics.add_metric(name="DryRuns", unit=MetricUnit.Count, value=1)
        return _json(200, dry_run(svc, body).model_dump(mode="json"))
    if key is None:
        document, replayed = accepted({"caller": caller(), "body": body}), False
    else:
        from seedream.idempotency import accept_with_key

        document, replayed = accept_with_key(svc.idempotency, accepted, caller(), key, body, app.lambda_context)
    metrics.add_metric(name="JobsReplayed" if replayed else "JobsAccepted", unit=MetricUnit.Count, value=1)
    return _json(200 if replayed else 202, document, headers={"Location": document["links"]["self"]})


@app.get("/v1/jobs")
def list_my_jobs() -> Response:
    query = app.current_event.query_string_parameters or {}
    page = list_jobs(svc, caller(), query.get("status"), query.get("limit"), query.get("cursor"))
    metrics.add_metric(name="JobListings", unit=MetricUnit.Count, value=1)
    return _json(200, {"jobs": [job.model_dump(mode="json") for job in page.jobs], "next_cursor": page.next_cursor})


@app.get("/v1/models")
def list_models() -> Response:
    return _json(200, model_list(svc).model_dump(mode="json"))


@app.get("/v1/openapi.json")
def openapi_document() -> Response:
    from seedream import openapi  # its models are built only for this rarely called route, not at cold start

    return _json(200, openapi.document())


@app.get("/v1/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    metrics.add_metric(name="JobReads", unit=MetricUnit.Count, value=1)
    return _json(200, job_view(svc, job_id, caller()).model_dump(mode="json"))


@app.post("/v1/jobs/<job_id>/cancel")
def cancel_job(job_id: str) -> Response:
    cancelled = cancel(svc, job_id, caller())
    metrics.add_metric(name="JobsCancelled", unit=MetricUnit.Count, value=1)
    return _json(200, view(svc, cancelled).model_dump(mode="json"))


@app.post("/v1/jobs/<job_id>/webhooks/redeliver")
def redeliver_webhook(job_id: str) -> Response:
    queued = redeliver(svc, job_id, caller())
    metrics.add_metric(name="WebhooksRedelivered", unit=MetricUnit.Count, value=1)
    return _json(202, queued)


@app.get("/v1/webhooks/default/secret")
def webhook_secret() -> Response:
    """The deployment's webhook signing key, as Replicate answers it: ``{"key": "whsec_…"}``."""
    return _json(200, {"key": svc.webhook_secret.current()}, headers={"Cache-Control": "no-store"})


@app.post("/v1/keys")
def create_api_key() -> Response:
    created = create_key(svc, iam_caller())
    metrics.add_metric(name="KeysCreated", unit=MetricUnit.Count, value=1)
    return _json(201, created.model_dump(mode="json"))


@app.get("/v1/keys")
def list_api_keys() -> Response:
    return _json(200, list_keys(svc, iam_caller()).model_dump(mode="json"))


@app.delete("/v1/keys/<key_id>")
def revoke_api_key(key_id: str) -> Response:
    revoked = revoke_key(svc, key_id, iam_caller())
    metrics.add_metric(name="KeysRevoked", unit=MetricUnit.Count, value=1)
    return _json(200, revoked.model_dump(mode="json"))


@app.exception_handler(JobError)
def job_error(exc: JobError) -> Response:
    if exc.http_status >= 500:
        metrics.add_metric(name="ApiErrors", unit=MetricUnit.Count, value=1)
        logger.exception("request failed", extra={"code": exc.code})
    elif app.current_event.http_method == "POST" and app.current_event.path == "/v1/jobs" \
            and (app.current_event.query_string_parameters or {}).get("dry_run") != "true":
        metrics.add_metric(name="JobsRejected", unit=MetricUnit.Count, value=1)
    return _json(exc.http_status, exc.to_body())


@app.not_found
def not_found(_exc) -> Response:
    return _json(404, {"error": {"code": "route_not_found", "message": "no such route", "details": None}})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
