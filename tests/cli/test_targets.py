"""Which stack a command talks to: the local stack's defaults, an execute-api URL's region, ``--stack NAME``."""

from __future__ import annotations

import json

import pytest

from local.stack import EVENTS_TAP_QUEUE
from local.template import REGION
from seedream_cli.errors import CliError
from seedream_cli.target import (
    LOCAL_BUCKET,
    LOCAL_EVENTS_QUEUE,
    LOCAL_REGION,
    local_api_url,
    local_endpoint_url,
    resolve,
)

from .conftest import PROMPT, final_json, one_line_error

pytestmark = pytest.mark.integration


def test_the_clis_local_names_are_the_local_stacks(stack):
    assert (stack.name("JobsBucket"), EVENTS_TAP_QUEUE, REGION) == (LOCAL_BUCKET, LOCAL_EVENTS_QUEUE, LOCAL_REGION)


def test_local_urls_follow_the_make_up_port_variables():
    assert local_api_url({}) == "http://127.0.0.1:3000"
    assert local_api_url({"API_PORT": "4000"}) == "http://127.0.0.1:4000"
    assert local_endpoint_url({}) == "http://127.0.0.1:5050"
    assert local_endpoint_url({"MOTO_PORT": "6000"}) == "http://127.0.0.1:6000"
    assert local_endpoint_url({"MOTO_PORT": "6000", "AWS_ENDPOINT_URL": "http://127.0.0.1:7000"}) == "http://127.0.0.1:7000"
    with pytest.raises(CliError, match="API_PORT='x' is not a port number"):
        local_api_url({"API_PORT": "x"})


def test_a_loopback_api_is_the_local_stack_with_its_dummy_credentials():
    target = resolve("http://localhost:3999", None, "eu-west-1", None)
    assert target.local and target.region == LOCAL_REGION and target.bucket == LOCAL_BUCKET
    assert target.session.get_credentials().access_key == "local"


def test_an_execute_api_url_signs_for_its_own_region_unless_region_is_given():
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com"
    assert resolve(url, None, "us-east-1", None).region == "eu-west-1"  # AWS_REGION does not override the URL
    assert resolve(url, None, "eu-central-1", None, region_given=True).region == "eu-central-1"
    assert not resolve(url, None, None, None).local


def test_stack_reads_the_deployed_stacks_outputs(seedream, stack, source):
    """``--stack NAME`` against CloudFormation (here moto: the test process's AWS endpoint) whose outputs name
    the local stack's API, bucket and bus."""
    template = {"Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"ApiUrl": {"Value": stack.api_url}, "BucketName": {"Value": stack.name("JobsBucket")},
                            "EventBusName": {"Value": stack.name("JobsBus")}}}
    stack.session.client("cloudformation").create_stack(StackName="seedream-cli-test", TemplateBody=json.dumps(template))

    submitted = seedream("--stack", "seedream-cli-test", "submit", source, "--prompt", PROMPT, "--count", "1",
                         target=False)
    assert submitted.exit_code == 0, submitted.output
    job_id = submitted.stdout.strip()
    assert f"follow it with: seedream --stack seedream-cli-test wait {job_id}" in submitted.stderr
    assert final_json(seedream("--stack", "seedream-cli-test", "get", job_id, target=False))["job_id"] == job_id

    events = seedream("--stack", "seedream-cli-test", "events", target=False)
    assert events.exit_code == 2
    assert f"on its bus ({stack.name('JobsBus')})" in events.stderr


def test_a_missing_stack_is_one_line(seedream):
    line = one_line_error(seedream("--stack", "no-such-stack", "get", "x", target=False))
    assert line.startswith("seedream: error: describing stack no-such-stack: ValidationError: ")
