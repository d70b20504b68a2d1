"""Settings and wiring: a function with a missing or malformed variable fails at init, naming it."""

from __future__ import annotations

import pytest

from seedream.settings import PROVIDERS, ConfigError, Settings
from seedream.wiring import (
    api_services,
    build_services,
    ingest_services,
    intake_services,
    reconcile_services,
    submit_services,
    webhook_services,
)


def test_typed_values_are_parsed_once_and_defaults_are_the_deployed_ones():
    settings = Settings.from_env({"JOBS_TABLE": "jobs", "MAX_OUTPUT_BYTES": "1024", "ALLOW_LOOPBACK_HTTP": "true",
                                  "OUTPUT_HOST_ALLOWLIST": "cdn.example.com, .wavespeed.ai",
                                  "PROVIDER_PREFERENCE": "seedream-v4=evolink,wavespeed",
                                  "WAVESPEED_BASE_URL": "http://127.0.0.1:9/", "PUBLIC_BASE_URL": "https://x.test/"})
    assert settings.jobs_table == "jobs" and settings.max_output_bytes == 1024 and settings.allow_loopback_http
    assert settings.output_host_allowlist == ("cdn.example.com", ".wavespeed.ai")
    assert settings.provider_preference == {"seedream-v4": ("evolink", "wavespeed")}
    assert settings.provider_base_urls == {"wavespeed": "http://127.0.0.1:9"} and settings.public_base_url == "https://x.test"
    assert settings.presign_seconds == 3600 and settings.event_source == "seedream.jobs"
    assert settings.enabled_providers == PROVIDERS  # every host unless ENABLED_PROVIDERS narrows it
    assert Settings.from_env({"ENABLED_PROVIDERS": " Evolink,wavespeed "}).enabled_providers == ("evolink", "wavespeed")


@pytest.mark.parametrize("variable, value, says", [
    ("MAX_OUTPUT_BYTES", "lots", "MAX_OUTPUT_BYTES must be a whole number"),
    ("PROVIDER_TIMEOUT_SECONDS", "-1", "PROVIDER_TIMEOUT_SECONDS must not be negative"),
    ("ALLOW_LOOPBACK_HTTP", "maybe", "ALLOW_LOOPBACK_HTTP must be true or false"),
    ("PROVIDER_PREFERENCE", "seedream-v4=nosuchhost", "PROVIDER_PREFERENCE names unknown providers ['nosuchhost']"),
    ("PROVIDER_PREFERENCE", "evolink", "PROVIDER_PREFERENCE must look like"),
    ("ENABLED_PROVIDERS", "wavespeed,nobody", "ENABLED_PROVIDERS names unknown providers ['nobody']"),
])
def test_a_malformed_variable_is_an_error_that_names_it(variable, value, says):
    with pytest.raises(ConfigError, match=says.replace("[", r"\[").replace("]", r"\]")):
        Settings.from_env({variable: value})


@pytest.mark.parametrize("builder, missing", [
    (api_services, "JOBS_TABLE, SUBMIT_QUEUE_URL, BUCKET, IDEMPOTENCY_TABLE"),
    (webhook_services, "JOBS_TABLE, INGEST_QUEUE_URL, PROVIDER_SECRET_ARN"),
    (ingest_services, "JOBS_TABLE, BUCKET, PROVIDER_SECRET_ARN"),
    (reconcile_services, "JOBS_TABLE, INGEST_QUEUE_URL, PROVIDER_SECRET_ARN, BUCKET"),
    (intake_services, "JOBS_TABLE, SUBMIT_QUEUE_URL, BUCKET, IDEMPOTENCY_TABLE"),
])
def test_each_function_names_every_variable_it_lacks_at_init(builder, missing):
    with pytest.raises(ConfigError) as caught:
        builder(Settings.from_env({}))
    assert all(name in str(caught.value) for name in missing.split(", "))


def test_submit_needs_the_public_base_url_providers_call_back():
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        submit_services(Settings(jobs_table="t", bucket="b", provider_secret_id="s"))


def test_unknown_parts_and_overrides_are_refused():
    with pytest.raises(ValueError, match="unknown parts"):
        build_services(Settings(), ["everything"])
    with pytest.raises(ValueError, match=r"unknown overrides \['store_'\]"):
        build_services(Settings(jobs_table="t"), ["store"], overrides={"store_": object()})


def test_an_override_is_used_where_the_part_would_be_built_and_needs_none_of_its_variables():
    states, replies = object(), object()
    svc = build_services(Settings(bucket="b"), ["store", "replies", "blobs"],
                         overrides={"store": "the test's store", "stepfunctions": states})
    assert svc.store == "the test's store" and svc.replies.states is states  # no JOBS_TABLE needed
    assert svc.blobs.bucket == "b" and build_services(Settings(), ["replies"], overrides={"replies": replies}).replies \
        is replies


def test_overridden_settings_are_the_ones_every_part_is_built_with():
    svc = build_services(Settings(), ["blobs"], overrides={"settings": Settings(bucket="other")})
    assert svc.settings.bucket == svc.blobs.bucket == "other"


def test_a_function_imported_under_defaults_builds_with_them(aws):
    from seedream.wiring import defaults, live_services

    with defaults(overrides={"store": "given"}):
        assert live_services(Settings(connections_table="c")).store == "given"
    with pytest.raises(ConfigError, match="JOBS_TABLE"):  # outside the block: built from the settings again
        live_services(Settings(connections_table="c"))


def test_the_last_receive_the_functions_count_is_their_queues_max_receive_count(aws):
    _, resources = aws
    from local.template import load_template

    template = load_template()["Resources"]
    for function, queue, variable in (("SubmitFunction", "SubmitQueue", "SUBMIT_MAX_RECEIVES"),
                                      ("IngestFunction", "IngestQueue", "INGEST_MAX_RECEIVES"),
                                      ("IntakeFunction", "IntakeQueue", "INTAKE_MAX_RECEIVES")):
        redrive = template[queue]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
        assert int(resources.functions[function].environment[variable]) == int(redrive)
