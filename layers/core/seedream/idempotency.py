"""Powertools' idempotency utility on the stack's idempotency table (``Idempotency``, built by ``seedream.wiring``),
and ``Idempotency-Key`` on ``POST /v1/jobs`` through it.

The key (1–255 printable ASCII characters) is scoped to the caller and kept 24 hours in the
idempotency table (``IDEMPOTENCY_TABLE``): the same key with the same body returns the same job —
``replayed`` is True after the first time (the API answers 200 instead of 202); the same key with
another body raises ``InvalidRequest`` 422 ``idempotency_key_reused``; a duplicate arriving while the
first is still being accepted raises 409 ``idempotency_key_in_progress`` (retry); concurrent duplicates
create one job. A request that is refused leaves the key unused. Powertools (and boto3, which it
imports) is loaded on the first request that carries a key, not at the api's cold start.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import InvalidRequest, JobError

KEEP_SECONDS = 24 * 3600
F = TypeVar("F", bound=Callable[..., Any])


class Idempotency:
    """Powertools idempotency records in DynamoDB table ``table`` (``IDEMPOTENCY_TABLE``) through ``dynamodb``
    (a botocore client; ``wiring`` shares the function's).

    ``once(...)`` makes an ``idempotent_function`` decorator with its own ``DynamoDBPersistenceLayer`` and
    ``IdempotencyConfig`` (Powertools configures a persistence layer once, with the first config it meets: one
    each). Powertools, and boto3 which it imports, are loaded on the first ``once``, not when this is built."""

    def __init__(self, table: str, dynamodb):
        self.table, self.dynamodb = table, dynamodb
        self._configs: list = []

    def once(self, data_keyword_argument: str, **config) -> Callable[[F], F]:
        """``idempotent_function(data_keyword_argument=...)`` keyed by that argument, with
        ``IdempotencyConfig(**config)`` (e.g. ``expires_after_seconds``: how long a result is replayed)."""
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        made = IdempotencyConfig(**config)
        self._configs.append(made)
        persistence = DynamoDBPersistenceLayer(table_name=self.table, boto3_client=self.dynamodb)
        return idempotent_function(data_keyword_argument=data_keyword_argument, persistence_store=persistence,
                                   config=made)

    def register_lambda_context(self, context) -> None:
        """Bound each in-progress record by the invocation's remaining time (call once per invocation)."""
        for config in self._configs:
            config.register_lambda_context(context)


def check_key(key: str) -> str:
    """The key if it is 1–255 printable ASCII characters; raises ``InvalidRequest`` (400) otherwise."""
    if not 1 <= len(key) <= 255 or not all(" " < c <= "~" for c in key):
        raise InvalidRequest("Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
                             code="invalid_idempotency_key", http_status=400,
                             details=[{"field": "Idempotency-Key", "message": "1..255 printable characters"}])
    return key


def _replayed(response: dict, _record) -> dict:
    return {**response, "replayed": True}


@functools.cache
def _once(idempotency: Idempotency, accept: Callable[[dict], dict]):
    @idempotency.once("request", event_key_jmespath="[caller, key]", payload_validation_jmespath="body",
                      expires_after_seconds=KEEP_SECONDS, response_hook=_replayed)
    def accept_once(request: dict) -> dict:
        return {**accept(request), "replayed": False}

    return accept_once


def accept_with_key(idempotency: Idempotency, accept: Callable[[dict], dict], caller: str | None, key: str,
                    body: object, lambda_context=None) -> tuple[dict, bool]:
    """``accept({"caller", "key", "body"})`` at most once per ``(caller, key)``; returns its result and
    whether it was a replay. ``lambda_context`` bounds an in-progress record by the invocation's remaining
    time. Raises what ``accept`` raises, or ``InvalidRequest`` 422 / ``JobError`` 409 as above."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    accept_once = _once(idempotency, accept)
    if lambda_context is not None:  # an in-progress record expires with the invocation's remaining time
        idempotency.register_lambda_context(lambda_context)
    try:
        result = accept_once(request={"caller": caller or "", "key": check_key(key), "body": body})
    except IdempotencyValidationError:
        raise InvalidRequest("this Idempotency-Key was used with another body; use a new key for a new job",
                             code="idempotency_key_reused") from None
    except IdempotencyAlreadyInProgressError:
        raise JobError("a request with this Idempotency-Key is still being accepted; retry in a moment",
                       code="idempotency_key_in_progress", http_status=409) from None
    replay = bool(result.pop("replayed", False))
    return result, replay
