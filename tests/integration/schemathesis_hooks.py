"""schemathesis hooks for the contract fuzz of the local stack (``test_openapi_fuzz.py`` runs ``schemathesis run``
with ``SCHEMATHESIS_HOOKS=tests.integration.schemathesis_hooks``).

- Every request is signed with SigV4 (service ``execute-api``), as a real client of the IAM routes signs it: a
  ``requests`` auth that signs the prepared request (method, URL with its query, headers, body bytes). The access
  key id (``FUZZ_ACCESS_KEY_ID``) is the caller on the local gateway, so the fuzz's jobs are its own.
- ``createJob``: the schema cannot say which source URLs the door takes (an object in the stack's bucket, a public
  https host), so random strings are refused with 422 and no job would ever be created for the stateful phase to
  chain from. Half of the positive bodies (chosen by a hash of the body, so a case is reproducible) name the
  uploaded example image instead (``FUZZ_SOURCE_IMAGE``). And whatever the mode, a source the door would take
  that is not that image (a generated ``https://`` URL to a public-looking host) is replaced by it: nothing the
  fuzzer makes up is ever fetched (the test also holds the submit queue while it runs).
"""

from __future__ import annotations

import json
import os
import zlib

import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from schemathesis import GenerationMode

from seedream.models.requests import MAX_URL_CHARS, url_problem

REGION = os.environ.get("FUZZ_REGION", "us-east-1")
SOURCE = os.environ.get("FUZZ_SOURCE_IMAGE", "")


class SigV4(requests.auth.AuthBase):
    """Signs a prepared request with AWS Signature Version 4 for API Gateway (``execute-api``)."""

    def __init__(self, credentials: Credentials, region: str):
        self.credentials, self.region = credentials, region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        signed = AWSRequest(method=request.method, url=request.url, data=body,
                            headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"})
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        return request


schemathesis.auth.set_from_requests(SigV4(Credentials(os.environ.get("FUZZ_ACCESS_KEY_ID", "schemathesis"),
                                                      os.environ.get("FUZZ_SECRET_ACCESS_KEY", "local")), REGION))


def _stranger(url: object) -> bool:
    """A source the door would take that is not the uploaded image: it must never reach the simulator. (One over
    ``MAX_URL_CHARS`` is refused anyway, and left alone: a negative case stays negative.)"""
    return (isinstance(url, str) and url != SOURCE and len(url) <= MAX_URL_CHARS and not url.startswith("s3://")
            and url_problem(url, True) is None)


@schemathesis.hook("map_case").apply_to(operation_id="createJob")
def real_sources(context, case):
    body = case.body
    if not (SOURCE and isinstance(body, dict) and isinstance(body.get("images"), list)):
        return case
    positive = case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE
    digest = zlib.crc32(json.dumps(body, sort_keys=True, default=str).encode())
    if positive and digest % 2 == 0:
        body["images"] = [SOURCE] * len(body["images"])
    else:
        body["images"] = [SOURCE if _stranger(url) else url for url in body["images"]]
    return case
