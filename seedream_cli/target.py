"""Which stack a command talks to: the local stack (default), any API URL, or a deployed stack by name.

- **local** (no ``--api-url``/``--stack``, or an API URL on a loopback host): ``http://127.0.0.1:$API_PORT``
  (3000); the local stack's dummy credentials (``local``), its region, its moto endpoint
  (``AWS_ENDPOINT_URL``, else ``http://127.0.0.1:$MOTO_PORT``, 5050) for S3 and SQS, its bucket and its
  events tap queue. Nothing needs exporting.
- **``--api-url URL``** (or ``SEEDREAM_API_URL``): the default credential chain; the region from
  an ``execute-api`` host name, else ``--region``/``AWS_REGION``. Local files need ``--bucket``.
- **``--stack NAME``**: the stack's outputs from CloudFormation (``ApiUrl``, ``BucketName``, ``EventBusName``; all of
  them in ``Target.outputs``), with the default credential chain. boto3 honours ``AWS_ENDPOINT_URL``: with the
  variables ``make up`` prints exported, ``--stack seedream-local`` is the local stack's CloudFormation stack in moto.

``seedream doctor`` reads a stack's outputs whatever the target (:func:`resolve_stack`): ``--stack NAME``, or by
default the local stack's own CloudFormation stack (:data:`LOCAL_STACK`, at the local moto endpoint with the
dummy credentials: nothing needs exporting).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from ipaddress import ip_address
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from .client import ApiClient, unreachable
from .errors import CliError

LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "aws_session_token": "local"}
"""The local stack's dummy credentials (its gateway does not verify signatures; the key id names the caller)."""
LOCAL_BUCKET = "seedream-local-jobsbucket"
"""``LocalStack.name("JobsBucket")`` (``tests/cli`` checks they agree)."""
LOCAL_EVENTS_QUEUE = "seedream-local-events-tap"
"""``local.stack.EVENTS_TAP_QUEUE``: the local stack copies every bus event to it."""
LOCAL_STACK = "seedream-local"
"""``local.template.STACK_NAME``: the CloudFormation stack in moto that holds the local stack's outputs."""
EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def local_api_url(environ: Mapping[str, str] = os.environ) -> str:
    return f"http://127.0.0.1:{_port(environ, 'API_PORT', 3000)}"


def local_key_api_url(environ: Mapping[str, str] = os.environ) -> str:
    """The local stack's key API (``KeyApi``: the job routes for ``Authorization: Bearer sk_…``)."""
    return f"http://127.0.0.1:{_port(environ, 'KEY_API_PORT', 3001)}"


def local_endpoint_url(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{_port(environ, 'MOTO_PORT', 5050)}"


def _port(environ: Mapping[str, str], variable: str, default: int) -> int:
    value = environ.get(variable) or str(default)
    if not value.isdigit():
        raise CliError(f"{variable}={value!r} is not a port number")
    return int(value)


@dataclass
class Target:
    api_url: str
    session: boto3.session.Session
    region: str
    local: bool
    endpoint_url: str | None = None
    """The AWS endpoint for S3 and SQS (the local stack's moto), or None for AWS itself."""
    bucket: str | None = None
    bus: str | None = None
    stack: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    """The stack's CloudFormation outputs (``--stack``; empty for an API URL)."""

    def aws(self, service: str):
        return self.session.client(service, region_name=self.region, endpoint_url=self.endpoint_url)

    @cached_property
    def api(self) -> ApiClient:
        return ApiClient(self.api_url, self.session, self.region, local=self.local)

    @property
    def key_api_url(self) -> str | None:
        """Where API keys are used: the stack's ``KeyApiUrl`` output (``--stack``), the local stack's key API
        (``KEY_API_PORT``, default 3001), or None for an ``--api-url`` of a deployed API (its key API has another URL)."""
        if self.outputs.get("KeyApiUrl"):
            return self.outputs["KeyApiUrl"].rstrip("/")
        return local_key_api_url() if self.local else None

    def describe(self) -> str:
        return f"the local stack at {self.api_url}" if self.local else (
            f"stack {self.stack} ({self.api_url})" if self.stack else f"the API at {self.api_url}")

    @contextmanager
    def aws_errors(self, doing: str) -> Iterator[None]:
        """botocore's exceptions while ``doing`` something, as one line."""
        try:
            yield
        except EndpointConnectionError as exc:
            raise unreachable(self.endpoint_url or exc.kwargs.get("endpoint_url", "AWS"), self.local, exc) from None
        except NoCredentialsError:
            raise CliError(f"{doing}: no AWS credentials (the default chain found none)") from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise CliError(f"{doing}: {error.get('Code', 'error')}: {error.get('Message', exc)}") from None
        except BotoCoreError as exc:
            raise CliError(f"{doing}: {exc}") from None


def resolve(api_url: str | None, stack: str | None, region: str | None, bucket: str | None,
            region_given: bool = False) -> Target:
    """``region`` from ``--region`` or the environment; ``region_given``: on the command line (it then wins
    over the region in an ``execute-api`` host name)."""
    if api_url and stack:
        raise CliError("give --api-url or --stack, not both")
    if stack:
        return _from_stack(stack, region, bucket)
    url = (api_url or local_api_url()).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"--api-url {url!r} is not an http(s) URL")
    if is_loopback(parts.hostname):
        session = boto3.session.Session(**LOCAL_CREDENTIALS, region_name=LOCAL_REGION)
        return Target(url, session, LOCAL_REGION, True, local_endpoint_url(), bucket or LOCAL_BUCKET)
    match = EXECUTE_API_HOST.match(parts.hostname)
    if match and not region_given:
        region = match.group(1)  # the API's own region: the only one its signature can name
    session = boto3.session.Session(region_name=region)
    if not session.region_name:
        raise CliError(f"no region to sign requests to {url} with: pass --region or set AWS_REGION")
    return Target(url, session, session.region_name, False, bucket=bucket)


def resolve_stack(api_url: str | None, stack: str | None, region: str | None, bucket: str | None) -> Target:
    """A target whose stack outputs are read (``doctor``): ``--stack NAME``, else the local stack's own
    CloudFormation stack (:data:`LOCAL_STACK` at the local moto endpoint, with the dummy credentials)."""
    if api_url and stack:
        raise CliError("give --api-url or --stack, not both")
    if stack:
        return _from_stack(stack, region, bucket)
    if api_url and not is_loopback(urlsplit(api_url).hostname):
        raise CliError("this command reads a stack's outputs: give --stack NAME (--api-url names an API, not a stack)")
    session = boto3.session.Session(**LOCAL_CREDENTIALS, region_name=LOCAL_REGION)
    return _from_stack(LOCAL_STACK, LOCAL_REGION, bucket, session=session, endpoint_url=local_endpoint_url())


def _from_stack(name: str, region: str | None, bucket: str | None, *, session: boto3.session.Session | None = None,
                endpoint_url: str | None = None) -> Target:
    """``session``/``endpoint_url`` given: the local stack's (``local`` then holds); else the default chain."""
    session = session or boto3.session.Session(region_name=region)
    if not session.region_name:
        raise CliError(f"no region to find stack {name} in: pass --region or set AWS_REGION")
    target = Target("", session, session.region_name, endpoint_url is not None, endpoint_url, stack=name)
    with target.aws_errors(f"describing stack {name}"):
        try:
            stacks = target.aws("cloudformation").describe_stacks(StackName=name)["Stacks"]
        except NoRegionError:
            raise CliError(f"no region to find stack {name} in: pass --region or set AWS_REGION") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if "ApiUrl" not in outputs:
        raise CliError(f"stack {name} in {session.region_name} has no ApiUrl output (is it a seedream jobs stack?)")
    target.outputs = outputs
    target.api_url = outputs["ApiUrl"].rstrip("/")
    target.bucket = bucket or outputs.get("BucketName")
    target.bus = outputs.get("EventBusName")
    return target
