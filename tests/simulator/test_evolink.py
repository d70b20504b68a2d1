"""evolink as the simulator speaks it: generations, the task object, unsigned callbacks, sizes, models."""

from __future__ import annotations

import json

from .helpers import EVO_KEY, bearer, download_series, evo_submit, tag


def test_evolink_roundtrip(sim, images, receiver, client):
    name = tag("evo")
    r = evo_submit(client, sim, cb=receiver.url(name), image_urls=[images["photo"]])
    assert r.status_code == 200, r.text
    task = r.json()
    assert task["id"].startswith("task-unified-") and len(task["id"].rsplit("-", 1)[1]) == 8
    assert task["object"] == "image.generation.task" and task["status"] == "pending" and task["progress"] == 0
    assert task["type"] == "image" and task["usage"]["billing_rule"] == "per_call"
    assert task["task_info"] == {"can_cancel": True, "estimated_time": 45}

    (call,) = receiver.wait(name)
    assert not any(h.startswith(("webhook-", "x-atlascloud")) for h in call["headers"])
    event = json.loads(call["body"])
    current = client.get(f"{sim.base_url}/v1/tasks/{task['id']}", headers=bearer(EVO_KEY)).json()
    assert event == current
    assert event["status"] == "completed" and event["progress"] == 100 and event["error"] is None
    download_series(client, event["results"], (1024, 768))


def test_evolink_validation_and_models(sim, images, client):
    r = evo_submit(client, sim, key="nope")
    assert r.status_code == 401 and set(r.json()["error"]) == {"code", "message", "type"}
    for overrides in ({"n": 6, "image_urls": [images["photo"]] * 10}, {"n": 0}, {"prompt": ""},
                      {"callback_url": "http://example.com/cb"}, {"size": "huge"}, {"model": "gpt-image-1"},
                      {"prompt_priority": "slow"}, {"callback_url": "https://10.0.0.1/cb"}, {"quality": "8K"}):
        r = evo_submit(client, sim, **overrides)
        assert r.status_code == 400, overrides
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error" and err["message"], overrides
    assert evo_submit(client, sim, model="gpt-image-1").json()["error"]["code"] == "model_not_found"
    assert evo_submit(client, sim, model="doubao-seedream-5.0-lite", n=1).status_code == 200
    sim.evolink_models = {"seedream-5-lite-custom"}
    try:
        assert evo_submit(client, sim, model="doubao-seedream-5.0-lite", n=1).status_code == 400
        assert evo_submit(client, sim, model="seedream-5-lite-custom", n=1).status_code == 200
    finally:
        sim.evolink_models = {"doubao-seedream-5.0-lite"}
    r = client.get(f"{sim.base_url}/v1/tasks/task-unified-0-missing0", headers=bearer(EVO_KEY))
    assert r.status_code == 404 and r.json()["error"]["code"] == "task_not_found"


def test_evolink_ratio_and_tier_sizes(sim, images, client):
    r = evo_submit(client, sim, n=1, size="16:9", quality="1K", image_urls=[images["second"]])
    task = sim.wait_for_task(r.json()["id"])
    assert task["width"] > task["height"] and abs(task["width"] / task["height"] - 16 / 9) < 0.05
    assert task["width"] % 16 == 0 and task["height"] % 16 == 0
    task = sim.wait_for_task(evo_submit(client, sim, n=1, size="2k").json()["id"])
    assert (task["width"], task["height"]) == (2048, 2048)
