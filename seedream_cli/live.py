"""Live job events for the command line, from the stack's WebSocket API (no polling, no shared queue).

The API's URL is the stack's ``WebSocketUrl`` output (``wss://{api-id}.execute-api.{region}.amazonaws.com/{stage}``;
the local stack's is ``ws://127.0.0.1:<port>/v1``, read from its CloudFormation stack in moto), or
``SEEDREAM_WEBSOCKET_URL`` for a target given by ``--api-url``. ``$connect`` is IAM-authorised: the upgrade request
is signed with SigV4 for ``execute-api`` (``client.sign``, botocore's signer; AWS docs, "Control access to WebSocket
APIs with IAM authorization"), so the connection belongs to the same caller as the HTTP API's requests.

Messages (``seedream.usecases.live``): the CLI sends ``{"action": "subscribe", "job_id": …}`` or ``{"action":
"subscribe", "all_jobs": true}`` and receives ``{"type": "subscribed", …}`` (for one job with its ``current`` state),
``{"type": "event", "detail-type", "detail", …}`` and ``{"type": "error", "error": {"code", "message"}}``.

API Gateway closes a connection after 10 idle minutes or 2 hours; a closed connection is opened again and the
subscription made again (its answer carries the job's current state, so nothing that happened meanwhile is lost).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from urllib.parse import urlsplit, urlunsplit

from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException
from websockets.sync.client import ClientConnection, connect

from .client import sign
from .errors import CliError
from .target import LOCAL_STACK, Target

URL_VARIABLE = "SEEDREAM_WEBSOCKET_URL"
OPEN_TIMEOUT_SECONDS = 10.0
ANSWER_TIMEOUT_SECONDS = 30.0
"""How long the API has to answer a subscription (the live function's timeout is 10 s)."""
REOPENS = 5
"""Times in a row a closed connection is opened again before the command gives up."""
TERMINAL_TYPES = frozenset({"Job Succeeded", "Job Failed", "Job Cancelled"})
RANK = {"queued": 0, "submitted": 1, "succeeded": 2, "failed": 2, "cancelled": 2}
"""A job's statuses in lifecycle order: an event that arrives late (EventBridge and SQS keep no order) never moves a
job back."""


def websocket_url_of(target: Target) -> str | None:
    """The target's WebSocket API URL, or None when it has none (a stack deployed before live events)."""
    if target.outputs:
        return target.outputs.get("WebSocketUrl")
    if target.local:
        with target.aws_errors(f"reading the outputs of the local stack's {LOCAL_STACK}"):
            try:
                stacks = target.aws("cloudformation").describe_stacks(StackName=LOCAL_STACK)["Stacks"]
            except ClientError as exc:
                if "does not exist" in str(exc):
                    return None
                raise
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}.get("WebSocketUrl")
    return os.environ.get(URL_VARIABLE) or None


def no_websocket(target: Target) -> str:
    """The one line for a target without a WebSocket API."""
    where = target.describe()
    how = f"set {URL_VARIABLE} to its WebSocketUrl" if not (target.local or target.stack) else \
        "deploy the stack again for live events"
    return f"{where} has no WebSocket API (no WebSocketUrl output: deployed before live events; {how})"


class LiveEvents:
    """A signed connection to the WebSocket API at ``url`` (``ws://`` or ``wss://``); ``open()`` before use, or use it
    as a context manager. Every failure is one :class:`CliError` line."""

    def __init__(self, target: Target, url: str):
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise CliError(f"{url!r} is not a WebSocket URL (ws:// or wss://)")
        self.target, self.url = target, url
        self._http_url = urlunsplit(("https" if parts.scheme == "wss" else "http", *parts[1:]))
        self._connection: ClientConnection | None = None
        self._closing = contextlib.ExitStack()
        self._pending: list[dict] = []

    def __enter__(self) -> LiveEvents:
        return self if self._connection is not None else self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> LiveEvents:
        credentials = self.target.session.get_credentials()
        if credentials is None:
            raise CliError("no AWS credentials to sign the WebSocket connection with (the default chain found none)")
        headers = sign(credentials, self.target.region, "GET", self._http_url)
        try:
            self._connection = self._closing.enter_context(connect(
                self.url, additional_headers=headers, open_timeout=OPEN_TIMEOUT_SECONDS,
                proxy=None if self.target.local else True))
        except InvalidStatus as exc:
            status = exc.response.status_code
            hint = " (are the credentials allowed execute-api:Invoke on it?)" if status == 403 else ""
            raise CliError(f"{self.url} refused the connection: HTTP {status}{hint}") from None
        except (OSError, TimeoutError) as exc:
            if self.target.local:
                raise CliError(f"cannot reach {self.url}: is the stack up? (make up)") from None
            raise CliError(f"cannot reach {self.url}: {exc}") from None
        except (InvalidURI, WebSocketException) as exc:
            raise CliError(f"{self.url}: {exc}") from None
        self._pending = []
        return self

    def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._closing.close()

    def reopen(self) -> None:
        self.close()
        self.open()

    def _receive(self, timeout: float | None) -> dict | None:
        """The next message as a dict, or None when ``timeout`` seconds passed. Raises ``ConnectionClosed``."""
        try:
            raw = self._connection.recv(timeout=timeout)
        except TimeoutError:
            return None
        try:
            message = json.loads(raw)
        except ValueError:
            raise CliError(f"{self.url} sent a message that is not JSON: {str(raw)[:200]}") from None
        if not isinstance(message, dict):
            raise CliError(f"{self.url} sent a message that is not a JSON object: {str(raw)[:200]}")
        return message

    def subscribe(self, job_id: str | None = None) -> dict:
        """Subscribe to ``job_id``'s events, or to every job of the caller (None); the API's answer (for one job its
        ``current`` state). Events that arrive before the answer are kept for :meth:`next_event`. Raises
        :class:`CliError` for a refusal (``job_not_found``…) and ``ConnectionClosed``."""
        request = {"action": "subscribe", "job_id": job_id} if job_id else {"action": "subscribe", "all_jobs": True}
        self._connection.send(json.dumps(request))
        deadline = time.monotonic() + ANSWER_TIMEOUT_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            message = self._receive(left)
            if message is None:
                break
            if message.get("type") == "event":
                self._pending.append(message)
            elif message.get("type") == "subscribed":
                return message
            elif message.get("type") == "error":
                error = message.get("error") or {}
                raise CliError(f"{error.get('code', 'error')}: {error.get('message', '')}".rstrip(": "))
            else:  # API Gateway's own answers ({"message": "Forbidden" | "Internal server error", ...})
                raise CliError(f"{self.url} answered the subscription: {message.get('message') or message}")
        raise CliError(f"{self.url} did not answer the subscription within {ANSWER_TIMEOUT_SECONDS:g} s")

    def next_event(self, timeout: float | None) -> dict | None:
        """The next lifecycle event (``{"type": "event", "detail-type", "detail", …}``), or None after ``timeout``
        seconds (None: wait as long as it takes). Raises ``ConnectionClosed``."""
        if self._pending:
            return self._pending.pop(0)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            message = self._receive(left)
            if message is None:
                return None
            if message.get("type") == "event":
                return message


def advanced(job: dict, event: dict) -> dict | None:
    """``job`` moved on by a lifecycle ``event`` of it (its status, provider, outputs or error, and the stage's time),
    or None when the event says nothing new (an earlier or the same status)."""
    detail = event.get("detail") or {}
    status = detail.get("status")
    if RANK.get(status, -1) <= RANK.get(job.get("status"), -1):
        return None
    moved = {**job, "status": status}
    for key in ("provider", "model", "error"):
        if detail.get(key) is not None:
            moved[key] = detail[key]
    if detail.get("outputs"):
        moved["outputs"] = [{"s3_uri": uri} for uri in detail["outputs"]]
    stamp = {"queued": "created_at", "submitted": "submitted_at", "cancelled": "cancelled_at"}.get(status, "completed_at")
    if detail.get("at"):
        moved[stamp] = detail["at"]
    return moved


__all__ = ["ConnectionClosed", "LiveEvents", "advanced", "no_websocket", "websocket_url_of"]
