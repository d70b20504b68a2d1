"""WaveSpeed as the simulator speaks it: submit, result, secret, signed callbacks, sync mode."""

from __future__ import annotations

import io
import json

from PIL import Image, ImageOps

from .helpers import (
    EVO_KEY,
    WS_KEY,
    WS_SECRET,
    bearer,
    correlation,
    download_series,
    tag,
    verify_wavespeed,
    ws_submit,
)


def test_wavespeed_roundtrip(sim, images, receiver, client):
    name = tag("ws")
    r = ws_submit(client, sim, [images["photo"]], receiver.url(name), model="seedream-v4.5")
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["code"] == 200 and reply["message"] == "success"
    data = reply["data"]
    assert data["status"] == "created" and data["outputs"] == [] and data["has_nsfw_contents"] == []
    assert data["model"] == "bytedance/seedream-v4.5/edit-sequential"
    assert data["urls"]["get"] == f"{sim.base_url}/api/v3/predictions/{data['id']}/result"
    assert data["error"] == "" and data["timings"] == {"inference": 0} and data["created_at"].endswith("Z")
    assert sim.submits[-1]["query"]["webhook"] == receiver.url(name)

    (call,) = receiver.wait(name)
    verify_wavespeed(call["headers"], call["body"])
    event = json.loads(call["body"])
    assert "code" not in event and "data" not in event  # the prediction object itself
    assert event["id"] == data["id"] and event["status"] == "completed" and event["error"] == ""
    assert len(event["outputs"]) == 3 and event["has_nsfw_contents"] == [False, False, False]
    assert isinstance(event["executionTime"], int) and event["timings"]["inference"] >= 0

    result = client.get(data["urls"]["get"], headers=bearer(WS_KEY)).json()["data"]
    assert result["status"] == "completed" and result["outputs"] == event["outputs"]

    panels = download_series(client, event["outputs"], (1280, 1024))
    source = ImageOps.fit(Image.open(io.BytesIO(images["photo_bytes"])).convert("RGB"), (1280, 1024))
    assert correlation(panels[0], source) > 0.8  # an edit of the photo, not a synthetic picture


def test_wavespeed_secret_auth_and_validation(sim, images, client):
    r = client.get(f"{sim.base_url}/api/v3/webhook/secret", headers=bearer(WS_KEY))
    assert r.json() == {"code": 200, "message": "success", "data": {"secret": WS_SECRET}}
    r = client.get(f"{sim.base_url}/api/v3/webhook/secret", headers=bearer("wrong"))
    assert r.status_code == 401 and r.json() == {"code": 401, "message": "Unauthorized"}

    r = ws_submit(client, sim, [images["photo"]], key="wrong")
    assert r.status_code == 401 and r.json() == {"code": 401, "message": "Unauthorized"}
    for overrides in ({"size": "512*512"}, {"max_images": 16}, {"prompt": ""}, {"size": "2048x2048"},
                      {"images": ["u"] * 11}, {"max_images": True}):
        r = ws_submit(client, sim, [images["photo"]], **overrides)
        assert r.status_code == 400, overrides
        assert r.json()["code"] == 400 and r.json()["message"]
    r = ws_submit(client, sim, [images["photo"]], model="seedream-v9")
    assert r.status_code == 404 and r.json()["code"] == 404
    assert sim.submits[-1]["status"] == 404 and sim.submits[-1]["json"] is None


def test_wavespeed_input_download_failure(sim, images, receiver, client):
    name = tag("wsfail")
    r = ws_submit(client, sim, [images["missing"]], receiver.url(name), max_images=1, size="1024*1024")
    assert r.status_code == 200
    (call,) = receiver.wait(name)
    verify_wavespeed(call["headers"], call["body"])
    event = json.loads(call["body"])
    assert event["status"] == "failed" and event["outputs"] == [] and "404" in event["error"]


def test_wavespeed_nsfw_and_out_of_order(sim, images, receiver, client):
    sim.set_faults(task_result="nsfw", callback="out_of_order")
    name = tag("wsooo")
    r = ws_submit(client, sim, [images["photo"]], receiver.url(name), max_images=2, size="1024*1024")
    assert r.status_code == 200
    first, second = receiver.wait(name, 2)
    for call in (first, second):
        verify_wavespeed(call["headers"], call["body"])
    done, late = json.loads(first["body"]), json.loads(second["body"])
    assert done["status"] == "completed" and done["has_nsfw_contents"] == [True, True]
    assert late["status"] == "processing" and late["id"] == done["id"]
    assert first["headers"]["webhook-id"] != second["headers"]["webhook-id"]


def test_submit_errors_are_consumed_in_order(sim, images, client):
    sim.set_faults(submit_errors=[429, 500])
    r1 = ws_submit(client, sim, [images["photo"]])
    assert r1.status_code == 429 and r1.json()["code"] == 429 and r1.headers["retry-after"] == "1"
    assert r1.reason_phrase == "Too Many Requests"
    r2 = client.post(f"{sim.base_url}/v1/images/generations", headers=bearer(EVO_KEY),
                     json={"model": "doubao-seedream-4.0", "prompt": "p"})
    assert r2.status_code == 500
    assert set(r2.json()["error"]) == {"code", "message", "type"}
    assert sim.faults["submit_errors"] == []
    r3 = ws_submit(client, sim, [images["photo"]], max_images=1, size="1024*1024")
    assert r3.status_code == 200


def test_wavespeed_sync_mode(sim, images, client):
    r = ws_submit(client, sim, [images["photo"]], max_images=1, size="1024*1024", enable_sync_mode=True)
    data = r.json()["data"]
    assert data["status"] == "completed" and len(data["outputs"]) == 1
    download_series(client, data["outputs"], (1024, 1024))


def test_wavespeed_base64_output(sim, images, client):
    r = ws_submit(client, sim, [images["photo"]], max_images=1, size="1024*1024", enable_sync_mode=True,
                  enable_base64_output=True)
    (ref,) = r.json()["data"]["outputs"]
    assert ref.startswith("data:image/png;base64,")
    task = sim.tasks[r.json()["data"]["id"]]
    assert task["outputs"] == [f"{sim.base_url}/outputs/{task['id']}/0.png"]
