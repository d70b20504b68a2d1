"""Faults on the whole local stack: retried downloads, bad outputs, late callbacks, and the DLQ."""

from __future__ import annotations

from seedream.settings import Settings

from .conftest import event_for, item, output_versions, queue_gone, wait_ingest_settled, wait_status

MAX_OUTPUT_BYTES = Settings().max_output_bytes
"""The deployed limit on one output (``MAX_OUTPUT_BYTES``, 64 MiB; the local stack keeps it)."""


def body(source_image, provider="wavespeed", **change):
    return {"provider": provider, "model": "seedream-v4", "images": [source_image], "max_images": 2,
            "size": "1024*1024", "prompt": "Generate a series of 2 images of this astronaut"} | change


def test_a_flaky_output_download_is_retried_and_the_job_still_succeeds(stack, client, source_image):
    stack.simulator.set_faults(outputs="flaky")  # first GET of each output answers 500
    job_id = client.create_job(body(source_image)).json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "succeeded" and len(done["outputs"]) == 2


def test_an_output_that_is_not_an_image_fails_the_job_and_stores_nothing(stack, client, source_image):
    stack.simulator.set_faults(outputs="not_image", not_image_content_type="image/png")  # the header lies
    job_id = client.create_job(body(source_image)).json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "failed" and done["error"]["code"] == "output_not_image"
    assert output_versions(stack, job_id) == {}
    assert event_for(stack, job_id)["detail-type"] == "Job Failed"


def test_an_oversized_output_fails_the_job_with_output_too_large(stack, client, source_image):
    # past the deployed MAX_OUTPUT_BYTES (64 MiB), announced by Content-Length: refused before it is read. (Not a
    # patched limit: ingest runs several instances at once and a patch reaches only the first.)
    stack.simulator.set_faults(outputs="oversized", oversized_bytes=MAX_OUTPUT_BYTES + 8 * 1024 * 1024)
    job_id = client.create_job(body(source_image)).json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "failed" and done["error"]["code"] == "output_too_large"
    assert output_versions(stack, job_id) == {}


def test_a_late_callback_and_an_out_of_order_one_do_not_move_the_job_backwards(stack, client, source_image):
    stack.simulator.set_faults(callback="out_of_order", late_seconds=0.5)  # completed, then a signed "processing"
    job_id = client.create_job(body(source_image)).json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    # both callbacks answered, and anything they queued has been ingested
    wait_ingest_settled(stack, task_id=done["provider_task_id"], callbacks=2)
    after = item(stack, job_id)
    assert after["status"] == "succeeded" and after["outputs"] == done["outputs"]
    assert output_versions(stack, job_id) == {f"outputs/{job_id}/{i:02d}.png": 1 for i in range(2)}


def test_a_job_that_cannot_be_queued_answers_503_keeps_nothing_and_a_retry_is_taken(stack, client, source_image):
    table = stack.session.resource("dynamodb").Table(stack.name("JobsTable"))
    with queue_gone(stack, "SubmitQueue"):
        before = table.scan(Select="COUNT", ConsistentRead=True)["Count"]
        refused = client.create_job(body(source_image))
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "queue_unavailable"
        assert table.scan(Select="COUNT", ConsistentRead=True)["Count"] == before  # the stored job was removed again
    retried = client.create_job(body(source_image))
    assert retried.status_code == 202
    assert wait_status(stack, retried.json()["job_id"], "succeeded", "failed")["status"] == "succeeded"


def test_an_oversized_output_without_a_length_fails_the_job_and_leaves_nothing_in_s3(stack, client, source_image):
    # the second output is streamed with no Content-Length, past the deployed 64 MiB: only counting stops it, once its
    # multipart upload (8 MiB parts) is under way and the first output is stored; both are cleaned up
    stack.simulator.set_faults(outputs="oversized", oversized_bytes=MAX_OUTPUT_BYTES + 8 * 1024 * 1024,
                               oversized_announced=False, outputs_from=1)
    job_id = client.create_job(body(source_image)).json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "failed" and done["error"]["code"] == "output_too_large"
    # the move to failed comes first (so a running ingest sees it), then the deletion, then the event: a caller told
    # by the event finds nothing left
    assert event_for(stack, job_id)["detail-type"] == "Job Failed"
    s3, bucket = stack.session.client("s3"), stack.name("JobsBucket")
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"outputs/{job_id}/").get("KeyCount") == 0
    assert output_versions(stack, job_id) == {f"outputs/{job_id}/00.png": 1}  # written once, then deleted
    assert s3.list_multipart_uploads(Bucket=bucket, Prefix=f"outputs/{job_id}/").get("Uploads", []) == []
