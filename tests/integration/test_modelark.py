"""ModelArk on the whole local stack: a cut stream, a lost generation, a cancel while streaming, a refused image, a
429 before the stream. Each ends with its status, exactly one terminal event and S3 = the recorded outputs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from seedream.clock import iso
from seedream.providers.modelark import ModelArk
from seedream.store import JobStore

from .conftest import item, stored_keys, wait_until
from .test_doors import ASTRONAUT, document, request, requested, upload
from .test_every_job_ends import body, create, ended
from .test_faults import MAX_OUTPUT_BYTES


def modelark(source_image, **change):
    return body(source_image, "modelark", **change)


def test_a_stream_cut_mid_way_fails_the_job_and_deletes_the_images_it_stored(stack, client, source_image):
    stack.simulator.set_faults(stream_cut_after=2)
    job_id = create(client, modelark(source_image, max_images=3))
    done = ended(stack, job_id, "failed", "provider_stream_cut")
    assert done["outputs"] == [] and stored_keys(stack, job_id) == []
    versions = stack.session.client("s3").list_object_versions(Bucket=stack.name("JobsBucket"),
                                                               Prefix=f"outputs/{job_id}/")
    assert len({v["Key"] for v in versions.get("Versions", [])}) == 2  # two images were stored, then deleted


def test_a_refused_image_leaves_the_others_and_the_job_is_billed_for_what_was_made(stack, client, source_image):
    stack.simulator.set_faults(content_filtered=[1])
    job_id = create(client, modelark(source_image, max_images=3))
    done = ended(stack, job_id, "succeeded")
    assert len(done["outputs"]) == 2 and done["callback"]["via"] == "stream"
    price = stack.functions["IngestFunction"].module.svc.providers["modelark"].limits("seedream-v4").price_usd
    assert done["estimated_cost_usd"] == round(2 * price, 6)


def test_a_cancel_while_streaming_closes_the_stream_and_keeps_nothing(stack, client, source_image):
    stack.simulator.set_faults(generation_seconds=6.0)  # 2 s an image
    job_id = create(client, modelark(source_image, max_images=3))
    wait_until(lambda: len(stored_keys(stack, job_id)) >= 1, 30)
    cancelled = client.request("POST", f"/v1/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    done = ended(stack, job_id, "cancelled")
    assert done["outputs"] == [] and stored_keys(stack, job_id) == []
    assert done.get("callback") is None and item(stack, job_id)["generation_started_at"]  # no completion was recorded


def test_a_lost_generation_ends_through_the_sweep(stack, client, source_image, monkeypatch):
    """The invocation dies after claiming the generation (an error escapes the use case; its lease, shortened to 1 s
    here, stands for the invocation's end): the redelivered message does not generate again, and the sweep, with no
    task API to read, ends the job ``provider_stream_lost``. Patched on the classes: every instance of the function."""
    real_claim = JobStore.start_generation

    def dies(self, request, image_urls):
        raise RuntimeError("the invocation died")
        yield  # a generator, like the real stream

    def short_lease(self, job_id, owner, until, started_at):
        return real_claim(self, job_id, owner, iso(datetime.now(UTC) + timedelta(seconds=1)), started_at)

    monkeypatch.setattr(ModelArk, "stream", dies)
    monkeypatch.setattr(JobStore, "start_generation", short_lease)
    submits = len(stack.simulator.submits)
    job_id = create(client, modelark(source_image))
    done = ended(stack, job_id, "failed", "provider_stream_lost")
    assert "no task API" in done["error"]["message"] and done["generation_started_at"]
    assert len(stack.simulator.submits) == submits  # nothing reached ModelArk, and nothing twice


@pytest.mark.parametrize("status", [429, 503])
def test_a_generation_refused_for_now_is_tried_again(stack, client, source_image, status):
    stack.simulator.set_faults(submit_errors=[status], retry_after_seconds=1)
    job_id = create(client, modelark(source_image))
    done = ended(stack, job_id, "succeeded")
    assert len(done["outputs"]) == 2
    assert [s["status"] for s in stack.simulator.submits[-2:]] == [status, 200]


def test_an_oversized_streamed_image_fails_the_job_and_leaves_nothing(stack, client, source_image):
    # the second image streams past MAX_OUTPUT_BYTES without a Content-Length: its upload is aborted mid-way
    stack.simulator.set_faults(outputs="oversized", oversized_bytes=MAX_OUTPUT_BYTES + 8 * 1024 * 1024,
                               oversized_announced=False, outputs_from=1)
    job_id = create(client, modelark(source_image))
    done = ended(stack, job_id, "failed", "output_too_large")
    assert done["outputs"] == [] and stored_keys(stack, job_id) == []


@pytest.mark.parametrize("door", ["s3", "eventbridge"])
def test_a_door_job_the_generate_function_fails_is_answered_at_its_door(stack, source_image, door):
    stack.simulator.set_faults(stream_cut_after=0)
    if door == "s3":
        name = f"ark-cut-{uuid.uuid4().hex[:6]}"
        upload(stack, name, request("modelark", images=["a.png"]), {"a.png": ASTRONAUT})
        result = wait_until(lambda: document(stack, f"results/{name}.json"), 90)
        assert result["status"] == "failed" and result["error"]["code"] == "provider_stream_cut"
    else:
        token = f"token-{uuid.uuid4()}"
        requested(stack, request("modelark", images=[source_image], task_token=token))
        answer = stack.task_answers.wait(token, timeout=90)
        assert answer is not None and answer["outcome"] == "failure" and answer["error"] == "provider_stream_cut"
