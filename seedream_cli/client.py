"""SigV4-signed calls to the jobs API (service ``execute-api``): every failure becomes one :class:`CliError` line.

``sign()`` is the one signing routine; ``local/client.py`` (the tests' and benchmarks' client) uses it too.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .errors import ApiError, CliError

TIMEOUT_SECONDS = 30.0


def sign(credentials: Credentials, region: str, method: str, url: str, data: bytes = b"",
         headers: dict[str, str] | None = None) -> dict[str, str]:
    """``headers`` plus the SigV4 ones (``Authorization``, ``X-Amz-Date``, ``X-Amz-Security-Token``) for ``execute-api``."""
    aws_request = AWSRequest(method=method, url=url, data=data, headers=dict(headers or {}))
    SigV4Auth(credentials, "execute-api", region).add_auth(aws_request)
    return dict(aws_request.headers.items())


def unreachable(url: str, local: bool, reason: object = None) -> CliError:
    """The one line for a stack that does not answer."""
    if local:
        return CliError(f"cannot reach {url}: is the stack up? (make up)")
    return CliError(f"cannot reach {url}: {reason}" if reason else f"cannot reach {url}")


class ApiClient:
    """The jobs API at ``api_url``; ``local`` says it is the local stack (changes only the hints in messages)."""

    def __init__(self, api_url: str, session, region: str, *, local: bool = False, http: httpx.Client | None = None):
        self.api_url = api_url.rstrip("/")
        self.session = session
        self.region = region
        self.local = local
        self.http = http or httpx.Client(timeout=TIMEOUT_SECONDS, trust_env=not local)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, body: dict | None = None, params: dict | None = None,
             headers: dict[str, str] | None = None) -> dict:
        """The JSON answer of a 2xx; raises :class:`ApiError` for 4xx/5xx and :class:`CliError` for everything else."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.api_url}{path}" + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else b""
        headers = dict(headers or {})
        if body is not None:
            headers["content-type"] = "application/json"
        credentials = self.session.get_credentials()
        if credentials is None:
            raise CliError("no AWS credentials to sign the request with (the default chain found none: "
                           "environment, AWS_PROFILE, ~/.aws, instance role)")
        signed = sign(credentials, self.region, method, url, data, headers)
        try:
            response = self.http.request(method, url, content=data, headers=signed)
        except httpx.ConnectError as exc:
            raise unreachable(self.api_url, self.local, exc) from None
        except httpx.TimeoutException:
            raise CliError(f"{self.api_url} did not answer within {TIMEOUT_SECONDS:g} s") from None
        except httpx.HTTPError as exc:
            raise CliError(f"{method} {url} failed: {exc}") from None
        return self._answer(response)

    @staticmethod
    def _answer(response: httpx.Response) -> dict:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.is_success:
            if not isinstance(payload, dict):
                raise CliError(f"{response.request.method} {response.request.url} answered "
                               f"HTTP {response.status_code} without a JSON object")
            return payload
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            raise ApiError(response.status_code, error.get("code"), str(error.get("message") or ""), error.get("details"))
        message = payload.get("message") if isinstance(payload, dict) else None
        text = message or response.text.strip()[:200] or response.reason_phrase
        raise ApiError(response.status_code, None, f"{response.request.method} {response.request.url.path}: {text}")

    # -- the routes ------------------------------------------------------------------------
    def create_job(self, body: dict, idempotency_key: str | None = None) -> dict:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.call("POST", "/v1/jobs", body, headers=headers)

    def dry_run(self, body: dict, idempotency_key: str | None = None) -> dict:
        """``POST /v1/jobs?dry_run=true``: the provider order and estimated cost a real request would get; nothing made."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.call("POST", "/v1/jobs", body, params={"dry_run": "true"}, headers=headers)

    def list_models(self) -> dict:
        return self.call("GET", "/v1/models")

    def get_job(self, job_id: str) -> dict:
        return self.call("GET", f"/v1/jobs/{quote(job_id, safe='')}")

    def cancel_job(self, job_id: str) -> dict:
        return self.call("POST", f"/v1/jobs/{quote(job_id, safe='')}/cancel")

    def list_jobs(self, status: str | None = None, limit: int | None = None, cursor: str | None = None) -> dict:
        return self.call("GET", "/v1/jobs", params={"status": status, "limit": limit, "cursor": cursor})

    def webhook_secret(self) -> str:
        """The deployment's webhook signing key, ``whsec_…`` (``GET /v1/webhooks/default/secret``)."""
        return str(self.call("GET", "/v1/webhooks/default/secret")["key"])

    def create_key(self) -> dict:
        """``POST /v1/keys`` (IAM): a new API key; the answer's ``key`` is shown this once."""
        return self.call("POST", "/v1/keys")

    def list_keys(self) -> dict:
        return self.call("GET", "/v1/keys")

    def revoke_key(self, key_id: str) -> dict:
        return self.call("DELETE", f"/v1/keys/{quote(key_id, safe='')}")
