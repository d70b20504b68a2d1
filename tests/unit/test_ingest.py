"""Ingest: what lands in S3, on the job and on the bus — and how a retry resumes instead of starting over."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from PIL import Image

from seedream.errors import OutputUnavailable
from seedream.models.messages import CompletionNotice, IngestMessage, parse
from seedream.store import JobStore
from seedream.usecases.ingest import ingest
from seedream.usecases.read import job_view

from .usecase_helpers import (
    BODY,
    callback,
    ingest_from_queue,
    output_keys,
    png_bytes,
    queue_bodies,
    serve_outputs,
    submitted_job,
    tap_events,
)


def test_ingest_stores_outputs_marks_succeeded_and_announces(svc, provider_http, aws):
    job = submitted_job(svc)
    urls = serve_outputs(provider_http, job.job_id, 2)
    callback(svc, provider_http, job.job_id, outputs=urls)
    assert ingest_from_queue(svc) == ["succeeded"]
    record = svc.store.get(job.job_id)
    assert record.status == "succeeded" and record.error is None and record.stored_outputs == {}
    assert record.estimated_cost_usd == pytest.approx(0.08)  # v4.5: $0.04 × max_images 2
    for i, output in enumerate(record.outputs):
        key = f"outputs/{job.job_id}/{i:02d}.png"
        assert output.s3_uri == f"s3://{svc.settings.bucket}/{key}"
        data = svc.blobs.s3.get_object(Bucket=svc.settings.bucket, Key=key)["Body"].read()
        assert Image.open(io.BytesIO(data)).size == (1728, 2304) == (output.width, output.height)
        assert output.sha256 == hashlib.sha256(data).hexdigest() and output.bytes == len(data)
        assert output.content_type == "image/png"
    [event] = tap_events(aws)
    assert event["detail-type"] == "Job Succeeded" and event["source"] == "seedream.jobs"
    assert event["detail"]["outputs"] == [o.s3_uri for o in record.outputs]
    assert event["detail"]["metadata"] == {"sku": "CUP-1"} and event["detail"]["job_id"] == job.job_id
    view = job_view(svc, job.job_id).model_dump(mode="json")
    assert all("X-Amz-Signature=" in o["url"] for o in view["outputs"])
    assert "callback_token_sha256" not in view and "stored_outputs" not in view and "callback" not in view
    # a late duplicate delivery of the same message changes nothing and announces nothing again
    late = IngestMessage(job_id=job.job_id, notice=CompletionNotice(
        provider="wavespeed", provider_task_id="pred-1", status="failed", provider_status="failed"), received_at="x")
    assert ingest(svc, late) == "skipped"
    assert svc.store.get(job.job_id).status == "succeeded" and tap_events(aws) == []


def test_a_failed_provider_task_becomes_a_failed_job(svc, provider_http, aws):
    job = submitted_job(svc)
    callback(svc, provider_http, job.job_id, status="failed")
    assert ingest_from_queue(svc) == ["failed"]
    record = svc.store.get(job.job_id)
    assert record.error.model_dump() == {"code": "provider_error", "message": "wavespeed reported failed: boom"}
    assert tap_events(aws)[0]["detail-type"] == "Job Failed"


def test_a_retry_keeps_the_outputs_already_stored_and_fetches_only_the_rest(svc, provider_http, aws):
    job = submitted_job(svc, BODY | {"max_images": 3})
    urls = serve_outputs(provider_http, job.job_id, 3)
    provider_http.output_status[f"/{job.job_id}/1.png"] = 503
    callback(svc, provider_http, job.job_id, outputs=urls)
    with pytest.raises(OutputUnavailable):
        ingest_from_queue(svc)
    record = svc.store.get(job.job_id)
    assert record.status == "submitted" and record.outputs == []  # nothing shown while the set is incomplete
    assert sorted(record.stored_outputs) == ["0", "2"]
    assert output_keys(svc, job.job_id) == [f"outputs/{job.job_id}/00.png", f"outputs/{job.job_id}/02.png"]
    assert job_view(svc, job.job_id).outputs == [] and tap_events(aws) == []

    provider_http.output_status.clear()
    fetched_before = dict(provider_http.output_gets)
    assert ingest_from_queue(svc) == ["succeeded"]
    fetched = {path: n - fetched_before.get(path, 0) for path, n in provider_http.output_gets.items()}
    assert fetched == {f"/{job.job_id}/0.png": 0, f"/{job.job_id}/1.png": 1, f"/{job.job_id}/2.png": 0}
    record = svc.store.get(job.job_id)
    assert [o.index for o in record.outputs] == [0, 1, 2] and record.stored_outputs == {}
    assert len(output_keys(svc, job.job_id)) == 3


def test_a_stored_output_whose_object_changed_is_fetched_again(svc, provider_http):
    job = submitted_job(svc)
    urls = serve_outputs(provider_http, job.job_id, 2)
    provider_http.output_status[f"/{job.job_id}/1.png"] = 503
    callback(svc, provider_http, job.job_id, outputs=urls)
    with pytest.raises(OutputUnavailable):
        ingest_from_queue(svc)
    svc.blobs.s3.put_object(Bucket=svc.settings.bucket, Key=f"outputs/{job.job_id}/00.png", Body=b"overwritten")
    provider_http.output_status.clear()
    assert ingest_from_queue(svc) == ["succeeded"]
    data = svc.blobs.s3.get_object(Bucket=svc.settings.bucket, Key=f"outputs/{job.job_id}/00.png")["Body"].read()
    assert hashlib.sha256(data).hexdigest() == svc.store.get(job.job_id).outputs[0].sha256


class CrashingStore(JobStore):
    """The function dies after writing the outputs, before the job update."""

    def mark_succeeded(self, *args, **kwargs):
        raise ConnectionError("the function died here")


def test_a_crash_between_the_s3_writes_and_the_job_update_leaves_exactly_one_set(svc, svc_with, provider_http, aws):
    job = submitted_job(svc)
    urls = serve_outputs(provider_http, job.job_id, 2)
    callback(svc, provider_http, job.job_id, outputs=urls)
    [body] = queue_bodies(svc, svc.settings.ingest_queue_url)
    message = parse(IngestMessage, json.dumps(body))

    with pytest.raises(ConnectionError):
        ingest(svc_with(provider_http, store=CrashingStore(svc.store.dynamodb, svc.store.table)), message)
    assert ingest(svc, message) == "succeeded"
    assert provider_http.output_gets == {f"/{job.job_id}/0.png": 1, f"/{job.job_id}/1.png": 1}
    assert len(output_keys(svc, job.job_id)) == 2
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Succeeded"]


def test_an_output_that_is_not_an_image_fails_the_job_and_leaves_no_objects(svc, provider_http):
    job = submitted_job(svc)
    urls = serve_outputs(provider_http, job.job_id, 2)
    provider_http.outputs[f"/{job.job_id}/1.png"] = b"<html>not an image</html>" * 10
    callback(svc, provider_http, job.job_id, outputs=urls)
    assert ingest_from_queue(svc) == ["failed"]
    record = svc.store.get(job.job_id)
    assert record.error.code == "output_not_image" and record.stored_outputs == {}
    assert output_keys(svc, job.job_id) == []


def test_an_output_url_answering_4xx_fails_the_job_with_its_own_code(svc, provider_http):
    job = submitted_job(svc)
    urls = serve_outputs(provider_http, job.job_id, 1)
    provider_http.output_status[f"/{job.job_id}/0.png"] = 403
    callback(svc, provider_http, job.job_id, outputs=urls)
    assert ingest_from_queue(svc) == ["failed"]
    assert svc.store.get(job.job_id).error.code == "output_gone"


def test_a_callback_that_outruns_submit_still_completes_the_job(svc, svc_with, provider_http):
    """The provider may call back before submit has marked the job submitted."""
    from seedream.usecases.accept import accept
    from seedream.usecases.submit import submit

    from .usecase_helpers import BODY

    job = accept(svc, dict(BODY))

    class LateMark(JobStore):
        """The callback is taken and ingested (through ``svc``) before submit marks the job submitted."""

        def mark_submitted(self, job_id, *args, **kwargs):
            outcome = callback(svc, provider_http, job_id, outputs=serve_outputs(provider_http, job_id, 1))
            assert outcome.status == "accepted" and ingest_from_queue(svc) == ["succeeded"]
            return super().mark_submitted(job_id, *args, **kwargs)

    late = svc_with(provider_http, store=LateMark(svc.store.dynamodb, svc.store.table))
    assert submit(late, job.job_id) == "submitted"
    record = svc.store.get(job.job_id)
    assert record.status == "succeeded" and len(record.outputs) == 1


def test_the_provider_is_held_to_the_request_count_and_a_size_mismatch_is_flagged(svc, provider_http):
    job = submitted_job(svc)  # max_images 2, size 1728*2304
    urls = serve_outputs(provider_http, job.job_id, 3)
    provider_http.outputs[f"/{job.job_id}/1.png"] = png_bytes(64, 64)
    callback(svc, provider_http, job.job_id, outputs=urls)
    assert ingest_from_queue(svc) == ["succeeded"]
    record = svc.store.get(job.job_id)
    assert [o.index for o in record.outputs] == [0, 1] and record.outputs_dropped == 1
    assert [o.size_mismatch for o in record.outputs] == [False, True]
    assert output_keys(svc, job.job_id) == [f"outputs/{job.job_id}/00.png", f"outputs/{job.job_id}/01.png"]
