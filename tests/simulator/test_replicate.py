"""Replicate as the simulator speaks it: predictions created, read and signed (Standard Webhooks, checked with the
independent recipe in ``tests.support.signing``), the webhook secret, input validation, the outputs' hour, the
duplicate and out-of-order deliveries, and the fault switches every provider has."""

from __future__ import annotations

import json

import pytest

from tests.support.signing import replicate_signature
from tests.support.waits import wait_until

from .helpers import bearer, download_series, tag, wait_job_done


def key(sim) -> str:
    return sim.keys["replicate"]["api_key"]


def rep_submit(client, sim, cb=None, model="seedream-4", key_=None, events=("completed",), **input_):
    body = {"input": {"prompt": "Generate a series of 2 images", "image_input": [], "size": "1K",
                      "aspect_ratio": "1:1", "sequential_image_generation": "auto", "max_images": 2} | input_}
    if cb:
        body |= {"webhook": cb, "webhook_events_filter": list(events)}
    return client.post(f"{sim.base_url}/v1/models/bytedance/{model}/predictions", json=body,
                       headers=bearer(key_ or key(sim)))


def verify(sim, call: dict) -> None:
    """The callback's Standard Webhooks signature, recomputed from the documented recipe."""
    headers = call["headers"]
    expected = replicate_signature(sim.keys["replicate"]["webhook_secret"], headers["webhook-id"],
                                   headers["webhook-timestamp"], call["body"])
    assert expected in headers["webhook-signature"].split()


def test_a_prediction_is_created_called_back_signed_and_read(sim, images, receiver, client):
    name = tag("rep")
    r = rep_submit(client, sim, receiver.url(name), model="seedream-4.5", image_input=[images["photo"]],
                   size="custom", width=1536, height=2560)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "starting" and created["output"] is None and created["model"] == "bytedance/seedream-4.5"
    assert len(created["id"]) == 26 and created["urls"]["get"] == f"{sim.base_url}/v1/predictions/{created['id']}"
    (call,) = receiver.wait(name)
    verify(sim, call)
    event = json.loads(call["body"])
    assert event["id"] == created["id"] and event["status"] == "succeeded" and len(event["output"]) == 2
    assert event["completed_at"].endswith("Z") and event["error"] is None
    assert event["input"]["sequential_image_generation"] == "auto"
    outputs = download_series(client, event["output"], (1536, 2560))
    assert len(outputs) == 2
    read = client.get(created["urls"]["get"], headers=bearer(key(sim))).json()
    assert read["status"] == "succeeded" and read["output"] == event["output"]
    assert sim.tasks[created["id"]]["status_reads"] == 1


def test_the_secret_endpoint_needs_the_token(sim, client):
    url = f"{sim.base_url}/v1/webhooks/default/secret"
    assert client.get(url, headers=bearer(key(sim))).json() == {"key": sim.keys["replicate"]["webhook_secret"]}
    refused = client.get(url, headers=bearer("r8_wrong"))
    assert refused.status_code == 401 and refused.json()["status"] == 401 and refused.json()["detail"]


@pytest.mark.parametrize(("model", "change", "words"), [
    ("seedream-4.5", {"size": "1K"}, "is not one of"),  # 4.5 has no 1K
    ("seedream-4", {"size": "custom", "width": 512, "height": 2048}, "1024..4096"),
    ("seedream-4", {"image_input": ["https://img.test/a.png"] * 11}, "at most 10"),
    ("seedream-4", {"max_images": 16}, "1..15"),
    ("seedream-4", {"image_input": ["https://img.test/a.png"] * 5, "max_images": 11}, "cannot exceed 15"),
    ("seedream-4", {"prompt": ""}, "prompt is required"),
])
def test_invalid_input_is_a_422_in_replicates_problem_shape(sim, client, model, change, words):
    r = rep_submit(client, sim, model=model, **change)
    assert r.status_code == 422 and words in r.json()["detail"] and r.json()["status"] == 422


def test_unknown_models_wrong_tokens_and_unknown_predictions_are_refused(sim, client):
    assert rep_submit(client, sim, model="seedream-5-lite").status_code == 404
    assert rep_submit(client, sim, key_="r8_wrong").status_code == 401
    assert client.get(f"{sim.base_url}/v1/predictions/nosuchprediction", headers=bearer(key(sim))).status_code == 404


def test_sequential_generation_disabled_makes_one_image_and_named_sizes_are_square(sim, client):
    r = rep_submit(client, sim, sequential_image_generation="disabled", size="2K", max_images=3)
    task = sim.wait_for_task(r.json()["id"])
    assert (task["count"], task["width"], task["height"]) == (1, 2048, 2048)


def test_no_webhook_is_sent_when_the_filter_leaves_out_completed(sim, receiver, client):
    name = tag("rep-start-only")
    task_id = rep_submit(client, sim, receiver.url(name), events=("start",)).json()["id"]
    sim.wait_for_task(task_id)
    wait_job_done(task_id)
    assert receiver.received(name) == []


def test_out_of_order_sends_completed_twice_then_a_late_processing_event(sim, receiver, client):
    sim.set_faults(callback="out_of_order")
    name = tag("rep-ooo")
    rep_submit(client, sim, receiver.url(name))
    first, again, late = receiver.wait(name, 3)
    for call in (first, again, late):
        verify(sim, call)
    assert first["body"] == again["body"] and first["headers"]["webhook-id"] == again["headers"]["webhook-id"]
    assert json.loads(first["body"])["status"] == "succeeded"
    assert json.loads(late["body"])["status"] == "processing" and json.loads(late["body"])["output"] is None
    assert late["headers"]["webhook-id"] != first["headers"]["webhook-id"]


def test_duplicate_deliveries_keep_one_webhook_id(sim, receiver, client):
    sim.set_faults(callback="duplicate")
    name = tag("rep-dup")
    rep_submit(client, sim, receiver.url(name))
    calls = receiver.wait(name, 3)
    assert len({c["headers"]["webhook-id"] for c in calls}) == 1 and len({c["body"] for c in calls}) == 1


def test_outputs_are_deleted_after_their_lifetime(sim, receiver, client):
    sim.replicate_output_seconds = 0.3
    try:
        name = tag("rep-expiry")
        rep_submit(client, sim, receiver.url(name))
        (call,) = receiver.wait(name)
        url = json.loads(call["body"])["output"][0]
        wait_until(lambda: client.get(url).status_code == 404, timeout=5)
    finally:
        sim.replicate_output_seconds = 3600.0


@pytest.mark.parametrize(("result", "error"), [("failed", "simulated generation failure"),
                                               ("timeout", "simulated generation timeout"),
                                               ("nsfw", "flagged as sensitive")])
def test_failed_tasks_are_failed_predictions_with_an_error(sim, receiver, client, result, error):
    sim.set_faults(task_result=result)
    name = tag(f"rep-{result}")
    rep_submit(client, sim, receiver.url(name))
    (call,) = receiver.wait(name)
    event = json.loads(call["body"])
    assert event["status"] == "failed" and error in event["error"] and event["output"] is None


def test_hang_reads_processing_and_sends_nothing(sim, receiver, client):
    sim.set_faults(task_result="hang")
    name = tag("rep-hang")
    task_id = rep_submit(client, sim, receiver.url(name)).json()["id"]
    wait_until(lambda: client.get(f"{sim.base_url}/v1/predictions/{task_id}", headers=bearer(key(sim)))
               .json()["status"] == "processing")
    wait_job_done(task_id)
    assert receiver.received(name) == []


def test_a_429_share_and_queued_errors_answer_in_replicates_shape(sim, client):
    sim.set_faults(submit_429_share=1.0, retry_after_seconds=2)
    r = rep_submit(client, sim)
    assert r.status_code == 429 and r.headers["retry-after"] == "2" and r.json()["status"] == 429
    sim.set_faults(submit_429_share=0.0, submit_errors=[503])
    assert rep_submit(client, sim).status_code == 503
    assert rep_submit(client, sim).status_code == 201
