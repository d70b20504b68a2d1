"""The main job on the whole local stack: HTTP submit → provider callback → S3 + DynamoDB + EventBridge."""

from __future__ import annotations

import hashlib
import io

import httpx
from PIL import Image

from .conftest import event_for, item, wait_status

PROMPT = "Generate a series of 3 images (Panels 1-3) of this astronaut, same face and suit, new light per panel"


def job_body(source_image, **change):
    return {"provider": "wavespeed", "model": "seedream-v4.5", "prompt": PROMPT, "images": [source_image],
            "max_images": 3, "size": "1728*2304", "metadata": {"campaign": "spring"}} | change


def test_a_job_goes_queued_submitted_succeeded_with_outputs_in_s3_and_an_event(stack, client, source_image):
    stack.simulator.set_faults(generation_seconds=1.0)
    submit_pump = stack.pump("SubmitFunction")
    submit_pump.pause()
    try:
        response = client.create_job(job_body(source_image))
        assert response.status_code == 202
        accepted = response.json()
        assert accepted["status"] == "queued" and response.headers["location"] == f"/v1/jobs/{accepted['job_id']}"
        job_id = accepted["job_id"]
        queued = item(stack, job_id)
        assert queued["status"] == "queued" and queued["request"]["images"] == [source_image]
        assert queued["metadata"] == {"campaign": "spring"} and queued["outputs"] == []
    finally:
        submit_pump.resume()

    submitted = wait_status(stack, job_id, "submitted")
    assert submitted["provider"] == "wavespeed" and submitted["provider_task_id"]
    assert "callback_token_sha256" in submitted and submitted["submitted_at"]
    sent = stack.simulator.submits[-1]
    assert sent["path"] == "/api/v3/bytedance/seedream-v4.5/edit-sequential"
    assert "X-Amz-Signature=" in sent["json"]["images"][0]  # s3:// source handed over presigned

    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "succeeded", done.get("error")
    assert [o["index"] for o in done["outputs"]] == [0, 1, 2]
    s3 = stack.session.client("s3")
    bucket = stack.name("JobsBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"outputs/{job_id}/")["Contents"]]
    assert keys == [f"outputs/{job_id}/{i:02d}.png" for i in range(3)]
    for output, key in zip(done["outputs"], keys, strict=True):
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        image = Image.open(io.BytesIO(data))
        image.load()
        assert image.size == (1728, 2304) == (output["width"], output["height"])
        assert output["sha256"] == hashlib.sha256(data).hexdigest() and output["bytes"] == len(data)

    event = event_for(stack, job_id)
    assert event["detail-type"] == "Job Succeeded" and event["source"] == "seedream.jobs"
    assert event["detail"]["outputs"] == [f"s3://{bucket}/{k}" for k in keys]
    assert event["detail"]["metadata"] == {"campaign": "spring"} and event["detail"]["status"] == "succeeded"

    view = client.get_job(job_id)
    assert view["status"] == "succeeded" and view["error"] is None and view["provider_task_id"]
    fetched = httpx.get(view["outputs"][0]["url"])
    assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == view["outputs"][0]["sha256"]


def test_job_routes_need_a_sigv4_signature(stack, client):
    unsigned = client.request("POST", "/v1/jobs", {"model": "seedream-v4"}, signed=False)
    assert unsigned.status_code == 403
    assert client.request("GET", "/v1/jobs/x", signed=False).status_code == 403


def test_invalid_job_gets_a_4xx_with_a_code_and_creates_nothing(stack, client, source_image):
    table = stack.session.resource("dynamodb").Table(stack.name("JobsTable"))
    before = table.scan(Select="COUNT")["Count"]
    response = client.create_job(job_body(source_image, max_images=16, size="300*300"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and "max_images" in error["message"]
    assert {d["field"] for d in error["details"]} == {"max_images"}
    limit = client.create_job(job_body(source_image, size="512*512"))
    assert limit.status_code == 422 and limit.json()["error"]["code"] == "provider_limit_exceeded"
    bad_json = client.http.post(f"{stack.api_url}/v1/jobs", content=b"{nope", headers={"authorization": "AWS4-HMAC-SHA256 x"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    assert table.scan(Select="COUNT")["Count"] == before
    missing = client.request("GET", "/v1/jobs/does-not-exist")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "job_not_found"


def test_a_loopback_http_source_works_end_to_end_on_the_local_stack(stack, client, source_image):
    bucket, key = source_image[5:].split("/", 1)
    url = stack.session.client("s3").generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    assert url.startswith("http://127.0.0.1:")
    response = client.create_job(job_body(source_image, images=[url], max_images=1, size="1920*1920"))
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "succeeded", done.get("error")
    view = client.request("GET", f"/v1/jobs/{job_id}")
    assert view.status_code == 200 and view.json()["request"]["images"] == [url]
