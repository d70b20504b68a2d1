"""The tools a user reaches for, through the api handler: listing, Idempotency-Key, the OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from local.runtime import LocalFunction
from seedream import openapi

from .usecase_helpers import BODY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api(aws, provider_http, monkeypatch):
    session, resources = aws
    spec = resources.functions["ApiFunction"]
    for key, value in spec.environment.items():
        monkeypatch.setenv(key, value)
    return LocalFunction(spec, wiring={"session": session, "http_transport": httpx.MockTransport(provider_http)})


def call(api, method: str, path: str, body: object = None, *, caller: str = "alice", headers: dict | None = None,
         query: dict | None = None) -> tuple[int, dict]:
    sample = json.loads((ROOT / "events" / "api-create-job.json").read_text())
    sample.update(routeKey=f"{method} {path}", rawPath=path, body=None if body is None else json.dumps(body),
                  queryStringParameters=query, headers={"content-type": "application/json", **(headers or {})})
    sample["requestContext"]["http"].update(method=method, path=path)
    sample["requestContext"]["authorizer"]["iam"]["userArn"] = f"arn:aws:iam::123456789012:user/{caller}"
    answer = api.invoke(sample)
    return answer["statusCode"], json.loads(answer["body"])


def test_listing_is_per_caller_newest_first_with_a_status_filter_and_an_opaque_cursor(api):
    mine = [call(api, "POST", "/v1/jobs", BODY)[1]["job_id"] for _ in range(5)]
    call(api, "POST", "/v1/jobs", BODY, caller="bob")
    status, page = call(api, "GET", "/v1/jobs", query={"limit": "2"})
    assert status == 200 and [j["job_id"] for j in page["jobs"]] == mine[::-1][:2] and page["next_cursor"]
    seen = [j["job_id"] for j in page["jobs"]]
    while page["next_cursor"]:
        page = call(api, "GET", "/v1/jobs", query={"limit": "2", "cursor": page["next_cursor"]})[1]
        seen += [j["job_id"] for j in page["jobs"]]
    assert seen == mine[::-1]
    assert call(api, "GET", "/v1/jobs", query={"status": "queued"})[1]["jobs"][0]["status"] == "queued"
    assert call(api, "GET", "/v1/jobs", query={"status": "succeeded"})[1] == {"jobs": [], "next_cursor": None}
    bobs = call(api, "GET", "/v1/jobs", caller="bob")[1]["jobs"]
    assert len(bobs) == 1 and bobs[0]["job_id"] not in mine


@pytest.mark.parametrize("query, code", [({"limit": "0"}, "invalid_request"), ({"limit": "101"}, "invalid_request"),
                                         ({"limit": "x"}, "invalid_request"), ({"status": "done"}, "invalid_request"),
                                         ({"cursor": "nonsense"}, "invalid_cursor"),
                                         # schemathesis: an empty limit was taken as 20 (the document says integer),
                                         # and int() takes more than digits
                                         ({"limit": ""}, "invalid_request"), ({"limit": " 5"}, "invalid_request"),
                                         ({"limit": "+5"}, "invalid_request"), ({"limit": "1_0"}, "invalid_request"),
                                         ({"limit": "\uff15"}, "invalid_request"), ({"limit": "9" * 5000}, "invalid_request"),
                                         ({"status": ""}, "invalid_request")])
def test_bad_listing_parameters_are_400(api, query, code):
    status, body = call(api, "GET", "/v1/jobs", query=query)
    assert (status, body["error"]["code"]) == (400, code)


def test_another_callers_cursor_is_refused(api):
    for _ in range(2):
        call(api, "POST", "/v1/jobs", BODY)
    cursor = call(api, "GET", "/v1/jobs", query={"limit": "1"})[1]["next_cursor"]
    status, body = call(api, "GET", "/v1/jobs", caller="bob", query={"cursor": cursor})
    assert (status, body["error"]["code"]) == (400, "invalid_cursor")


def test_the_same_idempotency_key_returns_the_same_job_and_another_body_is_refused(api, aws):
    session, resources = aws
    first = call(api, "POST", "/v1/jobs", BODY, headers={"idempotency-key": "order-42"})
    again = call(api, "POST", "/v1/jobs", BODY, headers={"idempotency-key": "order-42"})
    assert first[0] == 202 and again[0] == 200 and again[1]["job_id"] == first[1]["job_id"]
    other = call(api, "POST", "/v1/jobs", BODY | {"max_images": 3}, headers={"idempotency-key": "order-42"})
    assert other[0] == 422 and other[1]["error"]["code"] == "idempotency_key_reused"
    bobs = call(api, "POST", "/v1/jobs", BODY, caller="bob", headers={"idempotency-key": "order-42"})
    assert bobs[0] == 202 and bobs[1]["job_id"] != first[1]["job_id"]  # keys are per caller
    table = resources.names["JobsTable"]
    assert session.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"] == 2
    bad = call(api, "POST", "/v1/jobs", BODY, headers={"idempotency-key": "has space"})
    assert bad[0] == 400 and bad[1]["error"]["code"] == "invalid_idempotency_key"


def test_a_refused_request_leaves_its_idempotency_key_unused(api):
    refused = call(api, "POST", "/v1/jobs", BODY | {"max_images": 99}, headers={"idempotency-key": "k1"})
    assert refused[0] == 422
    assert call(api, "POST", "/v1/jobs", BODY, headers={"idempotency-key": "k1"})[0] == 202


def test_the_committed_openapi_document_is_what_the_code_generates_and_is_served(api):
    committed = json.loads((ROOT / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(openapi.document()))  # `python -m seedream.openapi > openapi.json`
    status, served = call(api, "GET", "/v1/openapi.json")
    assert status == 200 and served == committed
    assert committed["openapi"] == "3.1.0" and set(committed["paths"]) == {
        "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/cancel", "/v1/models", "/v1/openapi.json",
        "/v1/keys", "/v1/keys/{key_id}", "/v1/webhooks/{provider}/{job_id}", "/v1/jobs/{job_id}/webhooks/redeliver",
        "/v1/webhooks/default/secret"}
    request = committed["components"]["schemas"]["JobRequest"]
    assert request["properties"]["max_images"]["maximum"] == 15 and "model" in request["required"]


def test_the_document_says_which_routes_take_an_api_key_as_the_template_routes_them():
    from local.template import http_routes, load_template

    template = load_template()
    routes = [r for res in template["Resources"].values() if res["Type"] == "AWS::Serverless::Function"
              for r in http_routes(template, res["Properties"])]
    on_key_api = {(r.method.lower(), r.path) for r in routes if r.api == "KeyApi"}
    documented = {(method, path): [next(iter(s)) for s in op["security"]]
                  for path, operations in openapi.document()["paths"].items() for method, op in operations.items()}
    assert set(documented) == {(r.method.lower(), r.path) for r in routes if r.api == "HttpApi"}
    for route, schemes in documented.items():
        assert ("apiKey" in schemes) == (route in on_key_api), route
    assert documented[("post", "/v1/keys")] == ["sigv4"] and documented[("post", "/v1/jobs")] == ["sigv4", "apiKey"]


def test_the_document_links_a_created_job_to_its_routes_and_states_the_gateways_403():
    """What schemathesis's stateful phase chains (tests/integration/test_openapi_fuzz.py), and the answer API
    Gateway gives an unsigned request before any function runs (schemathesis: an undocumented 403)."""
    document = openapi.document()
    created = document["paths"]["/v1/jobs"]["post"]["responses"]["202"]
    assert {name: link["operationId"] for name, link in created["links"].items()} == {
        "getJob": "getJob", "cancelJob": "cancelJob"}
    assert created["links"]["getJob"]["parameters"] == {"job_id": "$response.body#/job_id"}
    assert "Location" in created["headers"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            forbidden = operation["responses"].get("403")
            assert bool(forbidden) == bool(operation["security"]), (method, path)


@pytest.mark.parametrize("size", ["\uff12\uff10\uff14\uff18*\uff12\uff10\uff14\uff18", "\u0662\u0660\u0664\u0668*2048"])
def test_size_is_ascii_digits_as_the_document_says(api, size):
    """The document's ``size`` pattern is the door's, read as JSON Schema reads it (``[0-9]``): Python's ``\\d``
    took fullwidth and Arabic-Indic digits, and WaveSpeed and Atlas Cloud would have been sent them as the size."""
    assert openapi.document()["components"]["schemas"]["JobRequest"]["properties"]["size"]["pattern"] == \
        "^([0-9]{2,5})\\*([0-9]{2,5})$"
    status, body = call(api, "POST", "/v1/jobs", BODY | {"size": size})
    assert (status, body["error"]["code"]) == (422, "invalid_request")


def test_a_dry_run_answers_the_order_and_the_cost_and_creates_nothing(api, aws):
    session, resources = aws
    status, answer = call(api, "POST", "/v1/jobs", BODY | {"provider": "auto", "model": "seedream-v4"},
                          query={"dry_run": "true"}, headers={"idempotency-key": "dry-1"})
    # seedream-v4 × 2: Atlas Cloud per run ($0.027) < evolink 2 × $0.0222 < WaveSpeed 2 × $0.027 < fal = Replicate 2 × $0.03
    assert status == 200 and answer == {
        "dry_run": True, "provider": "atlascloud", "provider_order": ["atlascloud", "evolink", "wavespeed", "fal", "replicate"],
        "model": "seedream-v4", "max_images": 2, "size": "1728*2304", "estimated_cost_usd": 0.027,
        "estimates": [{"provider": "atlascloud", "estimated_cost_usd": 0.027},
                      {"provider": "evolink", "estimated_cost_usd": 0.0444},
                      {"provider": "wavespeed", "estimated_cost_usd": 0.054},
                      {"provider": "fal", "estimated_cost_usd": 0.06},
                      {"provider": "replicate", "estimated_cost_usd": 0.06}], "missing_images": []}
    dynamodb, sqs = session.client("dynamodb"), session.client("sqs")
    for table in ("JobsTable", "IdempotencyTable"):
        assert dynamodb.scan(TableName=resources.names[table], Select="COUNT")["Count"] == 0, table
    for queue in (resources.queue_urls["SubmitQueue"], resources.tap_url):  # no message to submit, no event
        assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0), queue
    # the key was not consumed: the real request with another body is the key's first use
    real = call(api, "POST", "/v1/jobs", BODY | {"max_images": 3}, headers={"idempotency-key": "dry-1"})
    assert real[0] == 202 and real[1]["provider"] == "wavespeed"
    job = call(api, "GET", f"/v1/jobs/{real[1]['job_id']}")[1]
    assert job["estimated_cost_usd"] == 0.12  # WaveSpeed v4.5: 3 × $0.04, from the moment it is accepted


def test_a_dry_run_refuses_as_a_real_request_does_and_lists_sources_not_uploaded_yet(api, aws):
    session, resources = aws
    bucket = resources.names["JobsBucket"]
    refused = call(api, "POST", "/v1/jobs", BODY | {"size": "1024*1024"}, query={"dry_run": "true"})
    real = call(api, "POST", "/v1/jobs", BODY | {"size": "1024*1024"})
    assert refused == real and refused[0] == 422 and refused[1]["error"]["code"] == "provider_limit_exceeded"
    assert call(api, "POST", "/v1/jobs", BODY, query={"dry_run": "maybe"})[1]["error"]["code"] == "invalid_request"
    bad_key = call(api, "POST", "/v1/jobs", BODY, query={"dry_run": "true"}, headers={"idempotency-key": "a b"})
    assert (bad_key[0], bad_key[1]["error"]["code"]) == (400, "invalid_idempotency_key")
    elsewhere = call(api, "POST", "/v1/jobs", BODY | {"images": ["s3://another-bucket/inputs/a.png"]},
                     query={"dry_run": "true"})
    assert elsewhere[0] == 422 and "not in this stack's bucket" in elsewhere[1]["error"]["message"]
    missing = f"s3://{bucket}/inputs/0123/cup.png"
    status, answer = call(api, "POST", "/v1/jobs", BODY | {"images": [missing]}, query={"dry_run": "true"})
    assert status == 200 and answer["missing_images"] == [missing] and answer["provider_order"] == ["wavespeed"]
    assert call(api, "POST", "/v1/jobs", BODY | {"images": [missing]})[0] == 422  # a real one needs the object
    session.client("s3").put_object(Bucket=bucket, Key="inputs/0123/cup.png", Body=b"png")
    assert call(api, "POST", "/v1/jobs", BODY | {"images": [missing]}, query={"dry_run": "true"})[1]["missing_images"] == []


def test_the_models_route_lists_every_model_at_every_provider_from_the_doors_tables(api):
    status, answer = call(api, "GET", "/v1/models")
    assert status == 200
    offers = {(m["model"], m["provider"]): m for m in answer["models"]}
    assert len(offers) == 17 and len(answer["models"]) == 17  # Replicate serves no seedream-v5.0-lite
    assert ("seedream-v5.0-lite", "replicate") not in offers
    assert offers[("seedream-v4", "replicate")]["price_basis"] == "per_image_produced"
    assert offers[("seedream-v4.5", "wavespeed")] == {
        "model": "seedream-v4.5", "provider": "wavespeed", "provider_model": "seedream-v4.5", "max_input_images": 10,
        "max_outputs": 15, "max_references_plus_outputs": 15, "min_side": 1024, "max_side": 4096,
        "min_pixels": 3_686_400, "max_pixels": 16_777_216, "max_aspect_ratio": 16.0, "sizes": [],
        "max_prompt_chars": 4000, "accepts_seed": False, "price_usd": 0.04, "price_basis": "per_image_requested",
        "price_documented": True}
    assert offers[("seedream-v4.5", "atlascloud")]["price_basis"] == "per_run"
    assert offers[("seedream-v4", "atlascloud")]["max_outputs"] == 14
    assert offers[("seedream-v4", "atlascloud")]["price_documented"] is True
    assert offers[("seedream-v5.0-lite", "wavespeed")]["price_documented"] is False  # WAVESPEED_V5_LITE_PRICE_USD
    assert offers[("seedream-v4", "evolink")]["max_input_images"] == 14
    assert offers[("seedream-v4", "evolink")]["min_pixels"] == 921_600
    assert (offers[("seedream-v4", "fal")]["provider_model"] == "fal-ai/bytedance/seedream/v4/edit") and \
        (offers[("seedream-v4", "fal")]["max_outputs"], offers[("seedream-v4", "fal")]["price_usd"],
         offers[("seedream-v4", "fal")]["price_basis"]) == (6, 0.03, "per_image_produced")
    ark = offers[("seedream-v4.5", "modelark")]
    assert (ark["provider_model"], ark["price_usd"], ark["price_basis"], ark["price_documented"]) == (
        "seedream-4-5-251128", 0.04, "per_image_produced", True)  # billed per generated image
    # what the list says is what the door holds a request to: evolink takes 12 sources, WaveSpeed does not (and auto
    # does not try modelark, out of its default order)
    twelve = BODY | {"model": "seedream-v4", "size": "1024*1024", "images": ["https://images.test/c.jpg"] * 12}
    assert call(api, "POST", "/v1/jobs", twelve | {"provider": "evolink"}, query={"dry_run": "true"})[0] == 200
    assert call(api, "POST", "/v1/jobs", twelve, query={"dry_run": "true"})[0] == 422
