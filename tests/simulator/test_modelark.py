"""ModelArk as the simulator speaks it: synchronous JSON, the SSE stream, per-image content-filter refusals, the
internal error that stops the rest, a stream cut after N images, and the 429/5xx faults."""

from __future__ import annotations

import json

import httpx
import pytest

from .helpers import bearer, download_series

KEY = "ark-test-key"
PATH = "/api/v3/images/generations"


def body(images: list[str], **changes) -> dict:
    return {"model": "seedream-4-5-251128", "prompt": "a series", "image": images, "size": "2560x1440",
            "sequential_image_generation": "auto", "sequential_image_generation_options": {"max_images": 3},
            "response_format": "url", "watermark": False} | changes


def events(client: httpx.Client, sim, payload: dict) -> list[tuple[str | None, object]]:
    """The SSE events of a streamed generation, as ``(event, data)`` (data parsed unless ``[DONE]``)."""
    found, name, data = [], None, []
    with client.stream("POST", sim.base_url + PATH, json=payload | {"stream": True}, headers=bearer(KEY)) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        for line in reply.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif not line and data:
                text = "\n".join(data)
                found.append((name, text if text == "[DONE]" else json.loads(text)))
                name, data = None, []
    return found


def test_a_stream_sends_one_event_per_image_then_the_usage_and_done(sim, images, client):
    got = events(client, sim, body([images["photo"]]))
    assert [name for name, _ in got] == ["image_generation.partial_succeeded"] * 3 + ["image_generation.completed", None]
    assert [data["image_index"] for _, data in got[:3]] == [0, 1, 2]
    assert got[3][1]["usage"] == {"generated_images": 3, "output_tokens": 3 * 2560 * 1440 // 256,
                                  "total_tokens": 3 * 2560 * 1440 // 256}
    assert got[4][1] == "[DONE]"
    download_series(client, [data["url"] for _, data in got[:3]], (2560, 1440))


def test_the_synchronous_answer_holds_every_image_and_a_refused_one_leaves_the_others(sim, images, client):
    sim.set_faults(content_filtered=[1])
    reply = client.post(sim.base_url + PATH, json=body([images["photo"]]), headers=bearer(KEY))
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert "url" in data[0] and "url" in data[2]
    assert data[1] == {"error": {"code": "OutputImageSensitiveContentDetected",
                                 "message": "The generated image may contain sensitive information."}}
    assert reply.json()["usage"]["generated_images"] == 2


def test_a_refused_image_in_a_stream_is_a_partial_failed_event(sim, images, client):
    sim.set_faults(content_filtered=[0])
    got = events(client, sim, body([images["photo"]]))
    assert got[0][0] == "image_generation.partial_failed" and got[0][1]["error"]["code"]
    assert got[-2][1]["usage"]["generated_images"] == 2


def test_an_internal_error_stops_the_rest_with_an_error_event(sim, images, client):
    sim.set_faults(task_result="failed")
    got = events(client, sim, body([images["photo"]]))
    assert [name for name, _ in got] == ["image_generation.partial_succeeded", "error"]


@pytest.mark.parametrize("after", [0, 2])
def test_a_stream_cut_after_n_images_drops_the_connection(sim, images, client, after):
    sim.set_faults(stream_cut_after=after)  # after the 200 and its headers, even with no image
    with pytest.raises(httpx.RemoteProtocolError):
        events(client, sim, body([images["photo"]], sequential_image_generation_options={"max_images": 4}))


@pytest.mark.parametrize("status", [429, 500])
def test_the_submit_faults_answer_before_any_stream(sim, images, client, status):
    sim.set_faults(submit_errors=[status], retry_after_seconds=3)
    reply = client.post(sim.base_url + PATH, json=body([images["photo"]], stream=True), headers=bearer(KEY))
    assert reply.status_code == status and reply.json()["error"]["code"]
    assert (reply.headers.get("retry-after") == "3") == (status == 429)


@pytest.mark.parametrize(("change", "status"), [({"size": "1500x1500"}, 400), ({"model": "seedream-9"}, 404),
                                                ({"size": "1K"}, 400), ({"image": ["u"] * 15}, 400)])
def test_bad_requests_are_refused(sim, client, change, status):
    reply = client.post(sim.base_url + PATH, json=body(["http://127.0.0.1:1/x.png"]) | change, headers=bearer(KEY))
    assert reply.status_code == status, reply.text


def test_the_key_is_checked(sim, client):
    assert client.post(sim.base_url + PATH, json=body([]), headers=bearer("nope")).status_code == 401
