"""Fault switches: callbacks (duplicate, retries, lost, late, out_of_order), task results (hang),
outputs (not_image, flaky, oversized, slow, unavailable), a share of submits answered 429, and their validation.

Nothing here sleeps a fixed time to show that something did not happen: it waits for the task's
background thread to end (after which the simulator sends nothing more) or for another condition."""

from __future__ import annotations

import io
import json
import time

import httpx
import pytest
from PIL import Image, UnidentifiedImageError

from local.simulator import FAULT_DEFAULTS

from .helpers import (
    atlas_submit,
    evo_submit,
    read_status,
    reported_status,
    submit_small,
    tag,
    verify_wavespeed,
    wait_job_done,
    wait_until,
    ws_submit,
)

PROVIDERS = ["wavespeed", "atlascloud", "evolink"]


# -- callbacks ----------------------------------------------------------------------------------

def test_duplicate_callback_delivers_three_identical(sim, receiver, client):
    sim.set_faults(callback="duplicate")
    name = tag("dup")
    r = evo_submit(client, sim, cb=receiver.url(name), n=1, size="1K")
    assert r.status_code == 200
    receiver.wait(name, 3)
    wait_job_done(r.json()["id"])
    calls = receiver.received(name)
    assert len(calls) == 3 and len({c["body"] for c in calls}) == 1


def test_duplicate_wavespeed_keeps_signature(sim, images, receiver, client):
    sim.set_faults(callback="duplicate")
    name = tag("dupws")
    r = ws_submit(client, sim, [images["photo"]], receiver.url(name), max_images=1, size="1024*1024")
    assert r.status_code == 200
    calls = receiver.wait(name, 3)
    assert len({c["headers"]["webhook-id"] for c in calls}) == 1
    for c in calls:
        verify_wavespeed(c["headers"], c["body"])


def test_callback_retries_until_2xx(sim, receiver, client):
    name = tag("retry")
    receiver.fail_next = 2
    assert evo_submit(client, sim, cb=receiver.url(name), n=1, size="1K").status_code == 200
    calls = receiver.wait(name, 3)
    assert [c["answered"] for c in calls] == [500, 500, 200]
    task_id = json.loads(calls[0]["body"])["id"]
    log = wait_until(lambda: (got := [c for c in sim.callbacks if c["task_id"] == task_id]) and len(got) >= 3 and got)
    assert [c["status"] for c in log] == [500, 500, 200] and [c["attempt"] for c in log] == [0, 1, 2]


def test_lost_callback_still_completes(sim, receiver, client):
    sim.set_faults(callback="lost")
    name = tag("lost")
    task_id = evo_submit(client, sim, cb=receiver.url(name), n=1, size="1K").json()["id"]
    assert sim.wait_for_task(task_id)["status"] == "completed"
    wait_job_done(task_id)
    assert receiver.received(name) == [] and not [c for c in sim.callbacks if c["task_id"] == task_id]


def test_late_callback_and_slow_output(sim, receiver, client):
    sim.set_faults(outputs="slow", slow_chunk_delay=0.01, callback="late", late_seconds=0.3)
    name = tag("slow")
    submitted = time.monotonic()
    r = evo_submit(client, sim, cb=receiver.url(name), n=1, size="1K")
    (call,) = receiver.wait(name)
    assert time.monotonic() - submitted >= 0.4  # 0.1 s generation + 0.3 s late
    with client.stream("GET", json.loads(call["body"])["results"][0]) as resp:
        chunks = list(resp.iter_raw())
    data = b"".join(chunks)
    assert len(data) == int(resp.headers["content-length"]) and "transfer-encoding" not in resp.headers
    assert Image.open(io.BytesIO(data)).size == (1024, 1024)
    assert r.json()["id"] == json.loads(call["body"])["id"]


def test_out_of_order_repeats_terminal_for_evolink(sim, receiver, client):
    sim.set_faults(callback="out_of_order", late_seconds=0.05)
    name = tag("oooevo")
    evo_submit(client, sim, cb=receiver.url(name), n=1, size="1K")
    first, second = receiver.wait(name, 2)
    assert first["body"] == second["body"] and json.loads(first["body"])["status"] == "completed"


# -- task results -------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_hang_never_finishes_and_sends_no_callback(sim, receiver, client, provider):
    sim.set_faults(task_result="hang")
    hung = tag(f"hang-{provider}")
    task_id = submit_small(client, sim, provider, receiver.url(hung))
    sim.reset_faults()
    # a normal task submitted afterwards, with the same generation time, finishes and calls back ...
    done = tag(f"after-hang-{provider}")
    submit_small(client, sim, provider, receiver.url(done))
    receiver.wait(done)
    wait_job_done(task_id)
    # ... while the hung one still reads "processing", and its job has ended without a callback
    assert reported_status(read_status(client, sim, provider, task_id)) == "processing"
    assert sim.tasks[task_id]["status"] == "processing" and sim.tasks[task_id]["completed_at"] is None
    assert receiver.received(hung) == [] and not [c for c in sim.callbacks if c["task_id"] == task_id]
    with pytest.raises(TimeoutError):
        sim.wait_for_task(task_id, timeout=0.2)
    r = client.get(f"{sim.base_url}/outputs/{task_id}/0.png")
    assert r.status_code == 404


def test_hang_in_wavespeed_sync_mode_answers_processing(sim, images, client):
    sim.set_faults(task_result="hang")
    r = ws_submit(client, sim, [images["photo"]], max_images=1, size="1024*1024", enable_sync_mode=True)
    assert r.status_code == 200 and r.json()["data"]["status"] == "processing"
    assert r.json()["data"]["outputs"] == []


# -- outputs ------------------------------------------------------------------------------------

def test_not_image_output(sim, receiver, client):
    sim.set_faults(outputs="not_image")
    name = tag("notimg")
    assert evo_submit(client, sim, cb=receiver.url(name), n=1, size="1K").status_code == 200
    (call,) = receiver.wait(name)
    r = client.get(json.loads(call["body"])["results"][0])
    assert r.status_code == 200 and not r.content.startswith(b"\x89PNG")
    assert r.headers["content-type"] == FAULT_DEFAULTS["not_image_content_type"]
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(r.content))


def test_flaky_output(sim, receiver, client):
    sim.set_faults(outputs="flaky")
    name = tag("flaky")
    assert evo_submit(client, sim, cb=receiver.url(name), n=1, size="1K").status_code == 200
    (call,) = receiver.wait(name)
    url = json.loads(call["body"])["results"][0]
    assert client.head(url).status_code == 200  # HEAD does not use up the failure
    assert client.get(url).status_code == 500
    second = client.get(url)
    assert second.status_code == 200 and Image.open(io.BytesIO(second.content)).size == (1024, 1024)


def test_oversized_output_streams(sim, receiver, client):
    sim.set_faults(outputs="oversized", oversized_bytes=3 * 1024 * 1024)
    name = tag("big")
    assert evo_submit(client, sim, cb=receiver.url(name), n=1, size="1K").status_code == 200
    (call,) = receiver.wait(name)
    url = json.loads(call["body"])["results"][0]
    with client.stream("GET", url) as r:
        assert r.status_code == 200 and int(r.headers["content-length"]) == 3 * 1024 * 1024
        first = next(r.iter_bytes())
        assert first.startswith(b"\x89PNG\r\n\x1a\n")
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(3 * 1024 * 1024) and head.content == b""


def test_an_unannounced_oversized_output_from_the_second_on_has_no_length(sim, receiver, client):
    sim.set_faults(outputs="oversized", oversized_bytes=3 * 1024 * 1024, oversized_announced=False, outputs_from=1)
    name = tag("big-second")
    assert evo_submit(client, sim, cb=receiver.url(name), n=2, size="1K").status_code == 200
    (call,) = receiver.wait(name)
    first, second = json.loads(call["body"])["results"]
    assert Image.open(io.BytesIO(client.get(first).content)).size == (1024, 1024)  # before outputs_from: normal
    with client.stream("GET", second) as r:
        assert r.status_code == 200 and "content-length" not in r.headers
        assert sum(len(chunk) for chunk in r.iter_bytes()) == 3 * 1024 * 1024


def test_unavailable_outputs_answer_503(sim, receiver, client):
    sim.set_faults(outputs="unavailable")
    name = tag("unavail")
    task_id = evo_submit(client, sim, cb=receiver.url(name), n=1, size="1K").json()["id"]
    (call,) = receiver.wait(name)
    (url,) = json.loads(call["body"])["results"]
    assert sim.tasks[task_id]["status"] == "completed"
    sim.reset_faults()  # captured at submit: this task's outputs stay unavailable
    for _ in range(2):
        assert client.get(url).status_code == 503
    assert client.head(url).status_code == 503
    assert client.get(f"{sim.base_url}/outputs/{task_id}/7.png").status_code == 503  # even one that does not exist


def test_unavailable_outputs_apply_live(sim, receiver, client):
    name = tag("live")
    task_id = evo_submit(client, sim, cb=receiver.url(name), n=1, size="1K").json()["id"]
    (call,) = receiver.wait(name)
    (url,) = json.loads(call["body"])["results"]
    assert client.get(url).status_code == 200
    sim.set_faults(outputs="unavailable")
    assert client.get(url).status_code == 503 and client.head(url).status_code == 503
    assert client.get(f"{sim.base_url}/outputs/unknown/0.png").status_code == 503  # every output request
    sim.reset_faults()
    r = client.get(url)
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG") and task_id in url


def test_output_streams_end_when_the_simulator_stops():
    from local.simulator import ProviderSimulator

    sim = ProviderSimulator(generation_seconds=0)
    with sim, httpx.Client(timeout=10.0, trust_env=False) as client:
        sim.set_faults(outputs="slow", slow_chunk_delay=5.0)
        task_id = evo_submit(client, sim, key=sim.keys["evolink"]["api_key"], n=1, size="1K").json()["id"]
        sim.wait_for_task(task_id)
        with client.stream("GET", f"{sim.base_url}/outputs/{task_id}/0.png") as r:
            chunks = r.iter_raw()
            assert next(chunks)
            started = time.monotonic()
            sim.stop()
            with pytest.raises(httpx.RemoteProtocolError):
                for _ in chunks:
                    pass
        assert time.monotonic() - started < 4.0  # cut short, not after the 5 s chunk delay


# -- validation -----------------------------------------------------------------------------------

@pytest.mark.parametrize("faults", [{"nope": 1}, {"callback": "weird"}, {"task_result": "stuck"},
                                    {"outputs": "gone"}, {"submit_errors": [200]}, {"submit_errors": "500"},
                                    {"late_seconds": -1}, {"slow_chunk_delay": True}, {"oversized_bytes": 10},
                                    {"generation_seconds": "1"}, {"not_image_content_type": 3},
                                    {"atlas_signature_header": "X-AtlasCloud-Webhook-Signature"},
                                    {"outputs_from": -1}, {"oversized_announced": "no"},
                                    {"submit_429_share": 1.5}, {"submit_429_share": "0.2"},
                                    {"retry_after_seconds": 0.5}, {"retry_after_seconds": -1}, {"seed": "7"}])
def test_invalid_faults_are_refused(sim, faults):
    with pytest.raises(ValueError):
        sim.set_faults(**faults)
    assert sim.faults == FAULT_DEFAULTS


def test_new_fault_values_are_accepted(sim):
    assert sim.set_faults(task_result="hang")["task_result"] == "hang"
    assert sim.set_faults(outputs="unavailable")["outputs"] == "unavailable"
    assert sim.reset_faults() == FAULT_DEFAULTS


# -- a share of submits answered 429 --------------------------------------------------------------

SUBMITS = {"wavespeed": lambda client, sim: ws_submit(client, sim, [], max_images=1, size="1024*1024"),
           "atlascloud": lambda client, sim: atlas_submit(client, sim, {"max_images": 1, "size": "1024*1024"}),
           "evolink": lambda client, sim: evo_submit(client, sim, n=1, size="1K")}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_429_share_answers_in_each_providers_own_429_shape_with_retry_after(sim, client, provider):
    sim.set_faults(submit_429_share=1.0, retry_after_seconds=3)
    r = SUBMITS[provider](client, sim)
    assert r.status_code == 429 and r.reason_phrase == "Too Many Requests" and r.headers["retry-after"] == "3"
    if provider == "evolink":
        assert r.json()["error"] | {"message": ""} == {"code": "rate_limit_exceeded", "message": "",
                                                       "type": "rate_limit_error"}
    else:
        assert r.json()["code"] == 429 and r.json()["message"]
    assert sim.submits[-1]["status"] == 429 and sim.submits[-1]["provider"] == provider
    sim.set_faults(submit_429_share=0.0)
    assert SUBMITS[provider](client, sim).status_code == 200


def test_the_429_share_is_drawn_per_submit_and_a_seed_repeats_the_draws(sim, client):
    def statuses() -> list[int]:
        return [SUBMITS[PROVIDERS[i % 3]](client, sim).status_code for i in range(30)]

    sim.set_faults(submit_429_share=0.5, seed=7, generation_seconds=0)
    first = statuses()
    sim.set_faults(seed=7)
    assert statuses() == first
    assert set(first) == {200, 429} and 5 <= first.count(429) <= 25
    sim.set_faults(submit_errors=[503], seed=7)  # queued errors come first; the share draws for the rest
    assert SUBMITS["wavespeed"](client, sim).status_code == 503
    assert [SUBMITS[PROVIDERS[i % 3]](client, sim).status_code for i in range(5)] == first[:5]
