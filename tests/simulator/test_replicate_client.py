"""Replicate's official Python client (``replicate`` on PyPI, pinned in requirements-dev.txt) against the simulator:
it creates a prediction of ``bytedance/seedream-4`` with a webhook, reads and waits for it, gets the outputs, fetches
the webhook signing secret, and its own webhook validator accepts the callback the simulator signed — so the
simulator answers as Replicate's own client expects. Test-only: the client is never in the layer."""

from __future__ import annotations

import json

import pytest
import replicate
from replicate.webhook import InvalidSignatureError, WebhookSigningSecret

from .helpers import download_series, tag


@pytest.fixture
def official(sim):
    return replicate.Client(api_token=sim.keys["replicate"]["api_key"], base_url=sim.base_url)


def test_the_official_client_runs_a_prediction_and_validates_its_webhook(sim, official, images, receiver, client):
    name = tag("rep-client")
    prediction = official.predictions.create(
        model="bytedance/seedream-4", webhook=receiver.url(name), webhook_events_filter=["completed"],
        input={"prompt": "Generate a series of 2 images of the astronaut", "image_input": [images["photo"]],
               "size": "custom", "width": 1024, "height": 1536, "sequential_image_generation": "auto", "max_images": 2})
    assert prediction.status == "starting" and prediction.model == "bytedance/seedream-4"
    prediction.wait()  # polls GET /v1/predictions/{id}
    assert prediction.status == "succeeded" and len(prediction.output) == 2
    again = official.predictions.get(prediction.id)
    assert again.output == prediction.output and again.completed_at
    assert [image.size for image in download_series(client, prediction.output, (1024, 1536))] == [(1024, 1536)] * 2

    secret = official.webhooks.default.secret()
    assert secret.key == sim.keys["replicate"]["webhook_secret"]
    (call,) = receiver.wait(name)
    body = call["body"].decode()
    official.webhooks.validate(headers=call["headers"], body=body, secret=secret, tolerance=300)
    assert json.loads(body)["id"] == prediction.id
    with pytest.raises(InvalidSignatureError):
        official.webhooks.validate(headers=call["headers"], body=body.replace("succeeded", "failed"), secret=secret)
    with pytest.raises(InvalidSignatureError):
        other = WebhookSigningSecret(key="whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB")
        official.webhooks.validate(headers=call["headers"], body=body, secret=other)


def test_the_official_client_sees_a_failed_prediction_as_failed(sim, official):
    sim.set_faults(task_result="failed")
    prediction = official.predictions.create(model="bytedance/seedream-4.5", input={
        "prompt": "Generate a series of 2 images", "size": "2K", "sequential_image_generation": "auto", "max_images": 2})
    prediction.wait()
    assert prediction.status == "failed" and "simulated generation failure" in prediction.error
