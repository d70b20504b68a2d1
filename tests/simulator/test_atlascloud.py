"""Atlas Cloud as the simulator speaks it: generateImage, prediction, Ed25519 callbacks, JWKS rotation."""

from __future__ import annotations

import json

from .helpers import ATLAS_KEY, atlas_submit, bearer, download_series, tag, verify_atlas


def test_atlas_roundtrip(sim, images, receiver, client):
    name = tag("atlas")
    r = atlas_submit(client, sim, cb=receiver.url(name), images=[images["photo"], images["second"]])
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["status"] == "processing" and data["outputs"] == []
    assert data["model"] == "bytedance/seedream-v4/edit-sequential"

    (call,) = receiver.wait(name)
    headers = call["headers"]
    assert headers["x-atlascloud-webhook-event"] == "image.task.terminal"
    assert headers["x-atlascloud-webhook-id"]
    verify_atlas(client, sim.base_url, headers, call["body"])
    event = json.loads(call["body"])
    assert event["session_id"] == data["id"] and event["event_type"] == "image.task.terminal"
    assert event["status"] == "OK" and event["error"] is None and isinstance(event["created_at"], int)
    assert event["created_at"] > 1_000_000_000_000  # milliseconds
    assert event["payload"]["status"] == "completed" and len(event["payload"]["outputs"]) == 2

    pred = client.get(f"{sim.base_url}/api/v1/model/prediction/{data['id']}", headers=bearer(ATLAS_KEY)).json()
    assert pred["code"] == 200 and pred["data"]["status"] == "completed"
    assert pred["data"]["outputs"] == event["payload"]["outputs"]
    assert pred["data"]["metrics"]["predict_time"] >= 0.1
    download_series(client, event["payload"]["outputs"], (1024, 1536))

    assert atlas_submit(client, sim, key="nope").status_code == 401
    assert atlas_submit(client, sim, {"model": "bytedance/other"}).status_code == 400


def test_atlas_key_rotation_and_failure(sim, images, receiver, client):
    old_kid = sim.atlas_kid
    before = sim.jwks_fetches
    r = client.get(f"{sim.base_url}/api/v1/webhooks/jwks.json")
    assert r.headers["cache-control"] == "public, max-age=300"
    assert sim.jwks_fetches == before + 1
    new_kid = sim.rotate_atlas_key()
    assert new_kid != old_kid and sim.atlas_kid == new_kid
    sim.set_faults(task_result="timeout")
    name = tag("atlasrot")
    assert atlas_submit(client, sim, cb=receiver.url(name), images=[images["photo"]]).status_code == 200
    (call,) = receiver.wait(name)
    assert call["headers"]["x-atlascloud-webhook-key-id"] == new_kid
    verify_atlas(client, sim.base_url, call["headers"], call["body"])
    event = json.loads(call["body"])
    assert event["status"] == "ERROR" and event["payload"]["status"] == "timeout" and event["error"]
    kids = [k["kid"] for k in client.get(f"{sim.base_url}/api/v1/webhooks/jwks.json").json()["keys"]]
    assert kids[0] == new_kid and old_kid in kids
    pred = client.get(f"{sim.base_url}/api/v1/model/prediction/{event['session_id']}", headers=bearer(ATLAS_KEY))
    assert pred.json()["data"]["status"] == "failed"  # a timeout reads as failed on the GET


def test_atlas_unknown_prediction_and_auth(sim, client):
    r = client.get(f"{sim.base_url}/api/v1/model/prediction/nope", headers=bearer(ATLAS_KEY))
    assert r.status_code == 404 and r.json() == {"code": 404, "message": "prediction not found"}
    r = client.get(f"{sim.base_url}/api/v1/model/prediction/nope", headers=bearer("wrong"))
    assert r.status_code == 401 and r.json() == {"code": 401, "message": "Unauthorized"}


def test_atlas_signature_can_move_to_the_bare_header(sim, images, receiver, client):
    sim.set_faults(atlas_signature_header="bare")
    name = tag("atlasbare")
    assert atlas_submit(client, sim, cb=receiver.url(name), images=[images["photo"]]).status_code == 200
    sim.reset_faults()  # captured at submit: this task's callback still uses the bare header
    (call,) = receiver.wait(name)
    assert "x-atlascloud-webhook-signature-ed25519" not in call["headers"]
    verify_atlas(client, sim.base_url, call["headers"], call["body"], "x-atlascloud-webhook-signature")
