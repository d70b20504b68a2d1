"""The API's OpenAPI 3.1 document, generated from its own pydantic models (``openapi.json`` at the
repository root is this, committed; a test keeps them equal; ``GET /v1/openapi.json`` serves it).

``python -m seedream.openapi > openapi.json`` writes it again after a change.
"""

from __future__ import annotations

import functools
import json
import sys

from pydantic import BaseModel, Field

from .models import JobStatus
from .models.keys import ApiKeyList, ApiKeyView, CreatedKey
from .models.requests import SIZE_RE, JobRequest, WebhookEvent
from .models.views import DryRun, JobView, ModelList, WebhookJob

REF = "#/components/schemas/{model}"
PROVIDERS = ["wavespeed", "atlascloud", "evolink", "replicate", "fal", "modelark"]
EXAMPLE_REQUEST = {"provider": "auto", "model": "seedream-v4.5", "prompt": "Generate a series of 4 images of this "
                   "astronaut: on the moon, in a forest, underwater, in a city at night",
                   "images": ["https://images.example.com/astronaut.png"], "max_images": 4, "size": "2048*2048",
                   "metadata": {"order": "42"}}
ERROR_CODES = {
    400: "invalid_json (not JSON, not UTF-8, or nested deeper than 16 levels), invalid_request (not an object, "
         "or a bad query parameter: limit, status, dry_run), invalid_cursor, invalid_idempotency_key",
    401: "token_invalid, signature_missing, signature_invalid, timestamp_out_of_range, key_unknown, "
         "signature_unverifiable (webhook only; nothing changes)",
    404: "job_not_found (also any job of another caller), key_not_found (also any key of another caller), "
         "route_not_found",
    409: "job_finished (cancel), idempotency_key_in_progress; webhook_not_set, webhook_no_message, "
         "webhook_deliveries_full (redeliver)",
    413: "body_too_large (over 256 KiB)",
    422: "invalid_request (a field breaks a rule), provider_limit_exceeded (no provider takes the job: one details "
         "entry per broken rule, with the providers it holds at and taken_by, the models and providers that keep it), "
         "provider_not_enabled (the job names a provider this deployment does not enable), idempotency_key_reused",
    503: "queue_unavailable (nothing was stored; retry)",
}


class ErrorBody(BaseModel):
    """An error: its ``code`` (``ERROR_CODES`` per status), a message a person can act on, and per-field details."""

    code: str
    message: str
    details: list[dict] | dict | None = Field(default=None, description="At most 20 entries of at most 1 KB each")


class Error(BaseModel):
    """Every 4xx/5xx the function answers: ``{"error": {...}}``."""

    error: ErrorBody


class GatewayMessage(BaseModel):
    """API Gateway's own answer, sent before the function runs: {"message":"Forbidden"} (403) to a request without a
    valid SigV4 signature, or whose API key the authorizer refused; {"message":"Unauthorized"} (401) to a key API
    request without an Authorization header. HTTP APIs have no gateway responses: these bodies cannot be changed."""

    message: str


class Accepted(BaseModel):
    """``POST /v1/jobs``'s 202: the job as stored, its first provider and price, and ``links`` to follow it."""

    job_id: str
    status: JobStatus
    provider: str
    model: str
    created_at: str
    estimated_cost_usd: float | None = Field(default=None, description="USD at provider if it makes all max_images")
    links: dict[str, str]


class JobsPage(BaseModel):
    """``GET /v1/jobs``'s answer: a page of the caller's jobs, newest first."""

    jobs: list[JobView]
    next_cursor: str | None = Field(description="Pass back as ``cursor`` for the next page; null: no more")


class Redelivery(BaseModel):
    """What ``POST /v1/jobs/{job_id}/webhooks/redeliver`` queued: the job's latest message, once more."""

    job_id: str
    webhook_id: str = Field(description="The message's webhook-id, the same as on its earlier attempts")
    type: WebhookEvent
    attempt: int = Field(description="This attempt's number among the message's attempts (from 1)")


class WebhookSigningKey(BaseModel):
    """The deployment's webhook signing key (Standard Webhooks: ``whsec_`` + base64); verify deliveries with it."""

    key: str = Field(pattern="^whsec_[A-Za-z0-9+/]+={0,2}$")


class WebhookPayload(BaseModel):
    """The body of every webhook message (Standard Webhooks: ``type``, ``timestamp``, ``data``). Headers:
    ``webhook-id`` (the same on every attempt of one message: deduplicate on it), ``webhook-timestamp`` (Unix
    seconds) and ``webhook-signature`` (``v1,<base64>``, space-separated, one per signing key)."""

    type: WebhookEvent
    timestamp: str = Field(description="When the job made the move, ISO 8601 UTC")
    data: WebhookJob


def _errors(*statuses: int) -> dict:
    return {str(s): {"description": ERROR_CODES[s], "content": {"application/json": {"schema": {"$ref": REF.format(
        model="Error")}}}} for s in statuses}


FORBIDDEN = {"403": {"description": "API Gateway: the request carries no SigV4 signature, or one that is not valid "
                                    "(ApiUrl); the API key is unknown, malformed or revoked (KeyApiUrl)",
                     "content": {"application/json": {"schema": {"$ref": REF.format(model="GatewayMessage")}}}}}
UNAUTHORIZED = {"401": {"description": "API Gateway (KeyApiUrl only): no Authorization header",
                        "content": {"application/json": {"schema": {"$ref": REF.format(model="GatewayMessage")}}}}}


def _json(model: str, description: str, links: dict | None = None, headers: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}}}
    if headers:
        response["headers"] = headers
    if links:
        response["links"] = links
    return response


def _job_links(job_id: str, *operations: str) -> dict:
    """OpenAPI links from a response that names a job (``job_id``: a JSON pointer into the body) to the job's
    routes: what a client does next, and what a stateful tester (schemathesis) chains."""
    return {operation: {"operationId": operation, "parameters": {"job_id": f"$response.body#{job_id}"}}
            for operation in operations or ("getJob", "cancelJob")}


LOCATION = {"Location": {"description": "The job's URL path, /v1/jobs/{job_id}", "schema": {"type": "string"}}}


def _door_rules(request: dict) -> None:
    """The shape rules the door checks in validators rather than in constraints, so pydantic's schema leaves them
    out: a provider name, ``size`` as ``W*H``, metadata keys only of the pattern. (What no schema can say stays
    in the descriptions: which source URLs, each provider's limits.)"""
    fields = request["properties"]
    fields["provider"]["enum"] = ["auto", *PROVIDERS]
    fields["size"]["pattern"] = SIZE_RE.pattern
    fields["metadata"]["additionalProperties"] = False
    request["examples"] = [EXAMPLE_REQUEST]


@functools.cache
def document() -> dict:
    """The OpenAPI 3.1 document of the HTTP API."""
    schemas: dict = {}
    for model in (JobRequest, JobView, Accepted, JobsPage, DryRun, ModelList, Error, GatewayMessage, Redelivery,
                  WebhookSigningKey, WebhookPayload, ApiKeyView, CreatedKey, ApiKeyList):
        schema = model.model_json_schema(ref_template=REF, mode="validation" if model is JobRequest else "serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    _door_rules(schemas["JobRequest"])
    iam_only = [{"sigv4": []}]
    iam = [{"sigv4": []}, {"apiKey": []}]
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    key_id = {"name": "key_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{16}$"}}
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "Seedream jobs", "version": "1",
                 "description": "ByteDance Seedream edit-sequential image jobs on AWS serverless. The job routes are "
                                "served twice, with the same paths: at the stack's ApiUrl with SigV4 (IAM, service "
                                "execute-api), and at its KeyApiUrl with an API key (Authorization: Bearer sk_…). "
                                "A job belongs to the IAM caller that created it, directly or with one of its keys. "
                                "/v1/keys (make, list, revoke keys) is at ApiUrl only, for IAM callers."},
        "components": {"schemas": schemas, "securitySchemes": {
            "sigv4": {"type": "apiKey", "name": "Authorization", "in": "header",
                      "x-amazon-apigateway-authtype": "awsSigv4",
                      "description": "AWS Signature Version 4 (service execute-api), at the stack's ApiUrl"},
            "apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "sk_<key_id>_<secret>",
                       "description": "An API key from POST /v1/keys (seedream keys create), at the stack's KeyApiUrl; "
                                      "checked by a Lambda authorizer whose answer API Gateway caches 300 s"}}},
        "paths": {
            "/v1/jobs": {
                "post": {"operationId": "createJob", "security": iam, "summary": "Create a job",
                         "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                         "description": "1-255 printable characters, per caller, kept 24 h (a dry "
                                                        "run checks its form only and leaves it unused)",
                                         "schema": {"type": "string", "minLength": 1, "maxLength": 255}},
                                        {"name": "dry_run", "in": "query", "required": False,
                                         "description": "true: check the request as a real one and answer 200 with "
                                                        "the provider order and the estimated cost; nothing is created",
                                         "schema": {"type": "string", "enum": ["true", "false"]}}],
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "$ref": REF.format(model="JobRequest")}}}},
                         "responses": {"202": _json("Accepted", "Accepted: the job is queued", _job_links("/job_id"),
                                                    LOCATION),
                                       "200": {"description": "The job this Idempotency-Key created before (with "
                                                              "Location), or, with dry_run=true, the dry run's answer",
                                               "content": {"application/json": {"schema": {"anyOf": [
                                                   {"$ref": REF.format(model="Accepted")},
                                                   {"$ref": REF.format(model="DryRun")}]}}},
                                               "headers": LOCATION},
                                       **_errors(400, 409, 413, 422, 503)}},
                "get": {"operationId": "listJobs", "security": iam, "summary": "The caller's jobs, newest first",
                        "parameters": [
                            {"name": "status", "in": "query", "required": False,
                             "schema": {"type": "string", "enum": list(JobStatus.__args__)}},
                            {"name": "limit", "in": "query", "required": False,
                             "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
                            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}}],
                        "responses": {"200": _json("JobsPage", "A page of jobs", {"nextPage": {
                            "operationId": "listJobs", "parameters": {"cursor": "$response.body#/next_cursor"}}}),
                                      **_errors(400)}},
            },
            "/v1/jobs/{job_id}": {"get": {"operationId": "getJob", "security": iam, "parameters": [job_id],
                                          "summary": "A job, with presigned output URLs",
                                          "responses": {"200": _json("JobView", "The job", _job_links("/job_id", "cancelJob")),
                                                        **_errors(404)}}},
            "/v1/jobs/{job_id}/cancel": {"post": {
                "operationId": "cancelJob", "security": iam, "parameters": [job_id], "summary": "Cancel an open job",
                "responses": {"200": _json("JobView", "The job, cancelled", _job_links("/job_id", "getJob")),
                              **_errors(404, 409)}}},
            "/v1/models": {"get": {"operationId": "listModels", "security": iam,
                                   "summary": "Every model at every provider: limits, price and its basis",
                                   "responses": {"200": _json("ModelList", "The models")}}},
            "/v1/jobs/{job_id}/webhooks/redeliver": {"post": {
                "operationId": "redeliverWebhook", "security": iam, "parameters": [job_id],
                "summary": "Send the job's latest webhook message again (a new attempt, the same webhook-id)",
                "responses": {"202": _json("Redelivery", "Queued for the delivery function"), **_errors(404, 409)}}},
            "/v1/webhooks/default/secret": {"get": {
                "operationId": "webhookSecret", "security": iam,
                "summary": "The signing key that verifies this deployment's webhook messages",
                "responses": {"200": _json("WebhookSigningKey", "The current key")}}},
            "/v1/openapi.json": {"get": {"operationId": "openapi", "security": iam, "summary": "This document",
                                         "responses": {"200": {"description": "OpenAPI 3.1",
                                                               "content": {"application/json": {}}}}}},
            "/v1/keys": {
                "post": {"operationId": "createKey", "security": iam_only, "summary": "Make an API key acting as you "
                         "(the key is in this answer only; its SHA-256 is stored)",
                         "responses": {"201": _json("CreatedKey", "The key, shown this once")}},
                "get": {"operationId": "listKeys", "security": iam_only, "summary": "Your API keys, newest first "
                        "(never a key)", "responses": {"200": _json("ApiKeyList", "The keys")}},
            },
            "/v1/keys/{key_id}": {"delete": {
                "operationId": "revokeKey", "security": iam_only, "parameters": [key_id],
                "summary": "Revoke one of your API keys (a cached authorizer answer may let it through up to 300 s)",
                "responses": {"200": _json("ApiKeyView", "The key, revoked"), **_errors(404)}}},
            "/v1/webhooks/{provider}/{job_id}": {"post": {
                "operationId": "providerCallback", "security": [], "summary": "A provider's completion callback "
                "(public; authenticated by the per-hand-off token and the provider's signature)",
                "parameters": [{"name": "provider", "in": "path", "required": True,
                                "schema": {"type": "string", "enum": PROVIDERS}},
                               job_id, {"name": "token", "in": "query", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"202": {"description": "accepted"}, "200": {"description": "duplicate or ignored"},
                              **_errors(400, 401)}}},
        },
    }
    doc["webhooks"] = {"jobEvent": {"post": {
        "summary": "A job made a move its webhook_events name (sent to the request's webhook)",
        "description": "Standard Webhooks (https://www.standardwebhooks.com). Only a 2xx is success; a 3xx is a "
                       "failure and never followed; 410 stops the job's messages; Retry-After on 429 or 503 is "
                       "honoured. Retried at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (with jitter).",
        "parameters": [{"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                       for name in ("webhook-id", "webhook-timestamp", "webhook-signature")],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "$ref": REF.format(model="WebhookPayload")}}}},
        "responses": {"2XX": {"description": "Delivered"}}}}}
    for operations in doc["paths"].values():
        for operation in operations.values():
            if operation["security"]:
                operation["responses"].update(FORBIDDEN)
            if {"apiKey": []} in operation["security"]:
                operation["responses"].update(UNAUTHORIZED)
    return doc


if __name__ == "__main__":
    json.dump(document(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
