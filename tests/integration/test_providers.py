"""Every seed provider × model through the whole local stack, and each provider's callback security.

Signatures in these tests are made independently of the code under test, by
``tests.support.signing``: WaveSpeed's ``v3`` HMAC from the documented recipe, Atlas Cloud's
Ed25519 with a key generated in the test (and published by the simulator's JWKS), Replicate's Standard Webhooks
``v1`` HMAC from its recipe; evolink signs nothing, so its token and its task API are tested.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from tests.support.signing import AtlasSigner, replicate_headers, wavespeed_headers

from .conftest import (
    deliveries,
    event_for,
    item,
    output_versions,
    wait_ingest_settled,
    wait_jwks_refetch_allowed,
    wait_status,
)

PROVIDERS = ["wavespeed", "atlascloud", "evolink", "replicate"]
HOSTS = [*PROVIDERS, "fal"]
"""Every provider of the matrix; fal's callback security, cancel and limits are in ``test_fal.py``."""
MODELS = ["seedream-v4", "seedream-v4.5", "seedream-v5.0-lite"]
NOT_SERVED = {("replicate", "seedream-v5.0-lite")}
"""Provider × model pairs a provider does not serve: refused at the door (``test_replicate.py``)."""
SYNCHRONOUS = ["modelark"]
"""Hosts without a callback (the generate function streams their generation): in the matrix, not in the callback tests."""
MATRIX = [(provider, model) for provider in HOSTS + SYNCHRONOUS for model in MODELS
          if (provider, model) not in NOT_SERVED]


SIZES = {"seedream-v4": "1024*1024", "seedream-v4.5": "1920*1920", "seedream-v5.0-lite": "1920*1920"}
"""The smallest square each model takes (v4: 921,600 pixels; v4.5 and v5.0-lite: 3,686,400)."""


def body_for(source_image, provider, model="seedream-v4", max_images=2, **change):
    return {"provider": provider, "model": model, "images": [source_image], "max_images": max_images,
            "size": SIZES[model], "prompt": f"Generate a series of {max_images} images of this astronaut, new light "
                                          f"in each of the {max_images} panels"} | change


@pytest.mark.parametrize(("provider", "model"), MATRIX)
def test_every_provider_and_model_runs_end_to_end(stack, client, source_image, provider, model):
    response = client.create_job(body_for(source_image, provider, model))
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "succeeded", done.get("error")
    assert done["provider"] == provider and len(done["outputs"]) == 2
    s3 = stack.session.client("s3")
    for output in done["outputs"]:
        bucket, key = output["s3_uri"][5:].split("/", 1)
        image = Image.open(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        assert image.size == tuple(int(side) for side in SIZES[model].split("*"))
    assert done["estimated_cost_usd"] > 0
    sent = stack.simulator.submits[-1]
    if provider == "wavespeed":
        assert sent["path"] == f"/api/v3/bytedance/{model}/edit-sequential" and "webhook" in sent["query"]
    elif provider == "atlascloud":
        assert sent["json"]["model"] == f"bytedance/{model}/edit-sequential" and sent["json"]["webhook_url"]
    elif provider == "replicate":
        name = {"seedream-v4": "seedream-4", "seedream-v4.5": "seedream-4.5"}[model]
        assert sent["path"] == f"/v1/models/bytedance/{name}/predictions"
        assert sent["json"]["webhook_events_filter"] == ["completed"] and sent["json"]["webhook"]
        assert sent["json"]["input"]["max_images"] == 2 and sent["json"]["input"]["sequential_image_generation"] == "auto"
    elif provider == "fal":
        endpoint = {"seedream-v4": "v4", "seedream-v4.5": "v4.5", "seedream-v5.0-lite": "v5/lite"}[model]
        assert sent["path"] == f"/fal-ai/bytedance/seedream/{endpoint}/edit" and sent["query"]["fal_webhook"]
        assert (sent["json"]["num_images"], sent["json"]["max_images"]) == (1, 2)
        assert item(stack, job_id)["provider_urls"]["cancel_url"].endswith(f"/requests/{done['provider_task_id']}/cancel")
    elif provider == "modelark":
        assert sent["json"]["stream"] is True and sent["json"]["watermark"] is False and sent["json"]["image"]
        assert sent["json"]["sequential_image_generation_options"] == {"max_images": 2}
        assert done["estimated_cost_usd"] == round(2 * stack.functions["IngestFunction"].module.svc.providers[
            "modelark"].limits(model).price_usd, 6)  # usage.generated_images × the unit price
    else:
        assert sent["json"]["n"] == 2 and sent["json"]["image_urls"] and sent["json"]["callback_url"]
    assert event_for(stack, job_id)["detail-type"] == "Job Succeeded"


# -- forging callbacks ---------------------------------------------------------------------------
def waiting_job(stack, client, source_image, provider):
    """A submitted job whose provider finished but whose own callback was lost: (job_id, task, callback URL, token)."""
    stack.simulator.set_faults(callback="lost")
    job_id = client.create_job(body_for(source_image, provider, max_images=1)).json()["job_id"]
    submitted = wait_status(stack, job_id, "submitted")
    task = stack.simulator.wait_for_task(submitted["provider_task_id"])
    url = urlsplit(task["callback_url"])
    return job_id, task, f"{stack.api_url}{url.path}", parse_qs(url.query)["token"][0]


class Callbacks:
    """Builds each provider's callback (body + headers) for a finished simulator task."""

    def __init__(self, stack, provider, task):
        self.stack, self.provider, self.task = stack, provider, task
        self.atlas: AtlasSigner | None = None

    def body(self) -> bytes:
        t = self.task
        if self.provider == "wavespeed":
            return json.dumps({"id": t["id"], "model": t["api_model"], "status": "completed", "outputs": t["outputs"],
                               "has_nsfw_contents": [False] * len(t["outputs"]), "error": "", "urls": {"get": ""},
                               "created_at": "2026-11-21T00:00:00Z"}).encode()
        if self.provider == "replicate":
            return json.dumps({"id": t["id"], "model": t["api_model"], "version": "hidden", "status": "succeeded",
                               "output": t["outputs"], "error": None, "logs": "",
                               "completed_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}).encode()
        if self.provider == "atlascloud":
            return json.dumps({"session_id": t["id"], "event_type": "image.task.terminal", "status": "OK",
                               "created_at": int(time.time() * 1000),
                               "payload": {"model": t["api_model"], "status": "completed", "outputs": t["outputs"]},
                               "error": None}).encode()
        return json.dumps({"id": t["id"], "object": "image.generation.task", "status": "completed",
                           "results": t["outputs"], "progress": 100}).encode()

    def headers(self, body: bytes, timestamp: int | None = None, *, secret: str | None = None,
                signer: AtlasSigner | None = None) -> dict:
        """Signed headers (timestamp defaults to now); ``secret``/``signer`` replace the trusted ones."""
        if self.provider == "wavespeed":
            secret = secret or self.stack.keys["wavespeed"]["webhook_secret"]
            return wavespeed_headers(secret, body, webhook_id="wh-forge", timestamp=timestamp)
        if self.provider == "atlascloud":
            return (signer or self.atlas).headers(body, timestamp=timestamp, webhook_id="wh-forge")
        if self.provider == "replicate":
            secret = secret or self.stack.simulator.keys["replicate"]["webhook_secret"]
            return replicate_headers(secret, body, webhook_id="wh-forge", timestamp=timestamp)
        return {}

    def trust_test_key(self) -> None:
        """Atlas: the provider starts signing with a key made here (published in its JWKS), and the
        webhook is allowed to refetch the JWKS when that key's kid first arrives."""
        self.atlas = AtlasSigner()
        self.stack.simulator.rotate_atlas_key(self.atlas.key, kid=self.atlas.kid)
        wait_jwks_refetch_allowed(self.stack)


def post(url, token, body, headers):
    return httpx.post(url, params={"token": token} if token is not None else None, content=body,
                      headers={"content-type": "application/json", **headers})


def forgeries(provider: str, callbacks: Callbacks, token: str, body: bytes):
    """(label, token, body, headers, expected error code) for each way a callback can be forged at ``provider``.

    Timestamps are taken when each forgery is made (the generator runs while earlier ones are sent)
    and sit 30 s beyond the 300 s tolerance."""
    yield "wrong token", "A" * 43, body, callbacks.headers(body), "token_invalid"
    yield "no token", None, body, callbacks.headers(body), "token_invalid"
    if provider == "evolink":
        return  # evolink signs nothing: the token is the authentication
    altered = body.replace(b'"completed"', b'"failed"').replace(b'"succeeded"', b'"failed"')
    assert altered != body
    yield "body altered after signing", token, altered, callbacks.headers(body), "signature_invalid"
    yield "stale timestamp", token, body, callbacks.headers(body, int(time.time()) - 330), "timestamp_out_of_range"
    yield "future timestamp", token, body, callbacks.headers(body, int(time.time()) + 330), "timestamp_out_of_range"
    unsigned = {k: v for k, v in callbacks.headers(body).items()
                if k.lower() not in ("webhook-signature", "x-atlascloud-webhook-signature-ed25519")}
    yield "no signature", token, body, unsigned, "signature_missing"
    if provider == "wavespeed":
        yield "bad signature", token, body, callbacks.headers(body, secret="whsec_not-the-secret"), "signature_invalid"
    elif provider == "replicate":
        other = "whsec_bm90LXRoZS1zZWNyZXQtb2YtdGhpcy1hY2NvdW50"  # a well-formed secret of another account
        yield "bad signature", token, body, callbacks.headers(body, secret=other), "signature_invalid"
    else:
        impostor, stranger = AtlasSigner(callbacks.atlas.kid), AtlasSigner("kid-nobody-published")
        yield "bad signature", token, body, callbacks.headers(body, signer=impostor), "signature_invalid"
        yield "unknown key id", token, body, callbacks.headers(body, signer=stranger), "key_unknown"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_forged_callbacks_get_401_and_change_nothing_then_a_valid_one_succeeds(stack, client, source_image, provider):
    job_id, task, url, token = waiting_job(stack, client, source_image, provider)
    callbacks = Callbacks(stack, provider, task)
    if provider == "atlascloud":
        callbacks.trust_test_key()
    body = callbacks.body()
    before = item(stack, job_id)
    labels = []
    for label, forged_token, forged_body, headers, code in forgeries(provider, callbacks, token, body):
        answer = post(url, forged_token, forged_body, headers)
        assert answer.status_code == 401, (label, answer.text)
        assert answer.json()["error"]["code"] == code, (label, answer.text)  # refused for the stated reason
        assert item(stack, job_id) == before, label
        labels.append(label)
    assert len(labels) == {"wavespeed": 7, "atlascloud": 8, "evolink": 2, "replicate": 7}[provider]

    valid = post(url, token, body, callbacks.headers(body))
    assert valid.status_code == 202, valid.text
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "succeeded" and len(done["outputs"]) == 1


def test_evolink_outputs_come_from_its_task_api_not_from_the_callback_body(stack, client, source_image):
    job_id, task, url, token = waiting_job(stack, client, source_image, "evolink")
    reads_before = stack.simulator.tasks[task["id"]]["status_reads"]
    forged = json.dumps({"id": task["id"], "status": "completed",
                         "results": [f"{stack.simulator.base_url}/outputs/someone-else/0.png"]}).encode()
    assert post(url, token, forged, {}).status_code == 202
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "succeeded"
    real = httpx.get(task["outputs"][0]).content
    assert done["outputs"][0]["sha256"] == hashlib.sha256(real).hexdigest()
    assert stack.simulator.tasks[task["id"]]["status_reads"] == reads_before + 1  # ingest read GET /v1/tasks/{id}


def test_atlas_key_rotation_refetches_the_jwks_once(stack, client, source_image):
    sim = stack.simulator  # counts the JWKS requests it answers
    job_id = client.create_job(body_for(source_image, "atlascloud", max_images=1)).json()["job_id"]
    assert wait_status(stack, job_id, "succeeded", "failed")["status"] == "succeeded"
    fetches = sim.jwks_fetches
    wait_jwks_refetch_allowed(stack)  # else the new kid would be refused until the rate limit allows a refetch
    stack.simulator.rotate_atlas_key()
    job_id = client.create_job(body_for(source_image, "atlascloud", max_images=1)).json()["job_id"]
    assert wait_status(stack, job_id, "succeeded", "failed")["status"] == "succeeded"
    assert sim.jwks_fetches == fetches + 1
    job_id = client.create_job(body_for(source_image, "atlascloud", max_images=1)).json()["job_id"]
    assert wait_status(stack, job_id, "succeeded", "failed")["status"] == "succeeded"
    assert sim.jwks_fetches == fetches + 1  # cached: never fetched per callback


def test_an_atlas_signature_in_the_bare_header_is_verified_end_to_end(stack, client, source_image):
    stack.simulator.set_faults(atlas_signature_header="bare")
    job_id = client.create_job(body_for(source_image, "atlascloud", max_images=1)).json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "succeeded", done.get("error")
    [delivery] = deliveries(stack, done["provider_task_id"], acknowledged=True)
    sent = {name.lower() for name in delivery["headers"]}
    assert "x-atlascloud-webhook-signature" in sent and "x-atlascloud-webhook-signature-ed25519" not in sent
    assert event_for(stack, job_id)["detail-type"] == "Job Succeeded"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_callback_repeated_three_times_stores_the_outputs_once(stack, client, source_image, provider):
    stack.simulator.set_faults(callback="duplicate")
    job_id = client.create_job(body_for(source_image, provider)).json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "succeeded"
    task_id = done["provider_task_id"]
    # all three deliveries answered, and any ingest they queued has run: a second one would show in S3 now
    wait_ingest_settled(stack, task_id, callbacks=3)
    assert all(200 <= (c["status"] or 0) < 300 for c in deliveries(stack, task_id))
    assert output_versions(stack, job_id) == {f"outputs/{job_id}/{i:02d}.png": 1 for i in range(2)}
    assert event_for(stack, job_id)["detail-type"] == "Job Succeeded"


@pytest.mark.parametrize("provider, result, message", [
    ("wavespeed", "failed", "wavespeed reported failed"),
    ("wavespeed", "timeout", "wavespeed reported timeout"),
    ("wavespeed", "nsfw", "as NSFW"),
    ("atlascloud", "failed", "atlascloud reported failed"),
    ("atlascloud", "nsfw", "as NSFW"),
    ("atlascloud", "timeout", "atlascloud reported timeout"),
    ("evolink", "failed", "evolink reported failed"),
    ("replicate", "failed", "replicate reported failed: simulated generation failure"),
    ("replicate", "nsfw", "flagged as sensitive"),
    ("fal", "failed", "fal reported error: Invalid status code: 500 (simulated generation failure)"),
])
def test_a_provider_failure_after_submission_fails_the_job_and_announces_it(stack, client, source_image,
                                                                           provider, result, message):
    stack.simulator.set_faults(task_result=result)
    job_id = client.create_job(body_for(source_image, provider)).json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "failed" and done["error"]["code"] == "provider_error"
    assert message in done["error"]["message"] and done["outputs"] == []
    event = event_for(stack, job_id)
    assert event["detail-type"] == "Job Failed" and event["detail"]["error"]["code"] == "provider_error"


def test_auto_picks_the_cheapest_provider_and_fails_over_on_429_and_5xx(stack, client, source_image):
    # seedream-v4.5, 2 images: Atlas Cloud $0.036/run < evolink = fal = WaveSpeed 2 × $0.04 (name order)
    # < Replicate 2 × $0.045
    stack.simulator.set_faults(submit_errors=[503, 429])
    response = client.create_job(body_for(source_image, "auto", "seedream-v4.5"))
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "succeeded" and done["provider"] == "fal"
    assert done["provider_order"] == ["atlascloud", "evolink", "fal", "wavespeed", "replicate"]
    assert [(a["provider"], a["outcome"]) for a in done["attempts"]] == [
        ("atlascloud", "provider_unavailable"), ("evolink", "provider_unavailable"), ("fal", "submitted")]
    assert done["request"]["provider"] == "auto"


def test_omitting_the_provider_means_auto(stack, client, source_image):
    body = body_for(source_image, "auto", "seedream-v4", max_images=1)
    body.pop("provider")
    job_id = client.create_job(body).json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "succeeded" and done["provider_order"][0] == done["provider"]


def test_provider_limits_are_checked_before_any_provider_call(stack, client, source_image):
    submits = len(stack.simulator.submits)
    too_many = client.create_job(body_for(source_image, "evolink", images=[source_image] * 10, max_images=6))
    assert too_many.status_code == 422
    error = too_many.json()["error"]
    assert error["code"] == "provider_limit_exceeded"
    assert error["details"][0]["limit"] == "references_plus_outputs"
    assert len(stack.simulator.submits) == submits
