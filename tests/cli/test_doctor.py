"""``seedream doctor`` against the local stack: every check holds on a healthy stack; each fault, made and undone by
its test, turns its own line to ✘ with what to do, and the exit status to 1. No key is ever printed."""

from __future__ import annotations

import json

import pytest
from click.testing import Result

from local.stack import ALARM_EMAIL
from local.template import STACK_NAME, load_template
from seedream.settings import PROVIDERS as LAYER_PROVIDERS
from seedream_cli.doctor import OUTPUTS, PROVIDERS
from seedream_cli.target import LOCAL_STACK
from tests.support.waits import wait_until

from .conftest import one_line_error

pytestmark = pytest.mark.integration

CHECKS = ["stack outputs", "provider keys", "WaveSpeed webhook secret", "webhook route", "event bus", "queues",
          "SubmitDLQ", "IngestDLQ", "IntakeDLQ", "WebhookDLQ", "LiveDLQ", "ModelArkDLQ", "webhook signing key",
          "WebSocket API",
          "connections table", "alarm topic", "reconcile schedule"]


def report(stack, result: Result) -> dict[str, str]:
    """Check name → its line (every line of stdout is one check, in order); asserts no secret value was printed."""
    secrets = [value for entry in stack.keys.values() for value in entry.values()]
    assert not [value for value in secrets if value in result.output], "a key was printed"
    assert "Traceback" not in result.output
    lines = result.stdout.splitlines()
    names = [line[2:].split(": ", 1)[0] for line in lines]
    assert names == CHECKS, result.output
    return dict(zip(names, lines, strict=True))


def failing(lines: dict[str, str]) -> list[str]:
    return [name for name, line in lines.items() if not line.startswith("✔ ")]


@pytest.fixture
def provider_secret(stack):
    """``put(document)`` replaces the provider secret's value; the stack's own value is put back afterwards."""
    secrets = stack.session.client("secretsmanager")
    arn = stack.name("ProviderSecret")
    yield lambda document: secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(document))
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(stack.keys))


def test_the_clis_names_are_the_local_stacks_and_the_templates():
    assert LOCAL_STACK == STACK_NAME
    assert PROVIDERS == LAYER_PROVIDERS
    assert set(OUTPUTS) <= set(load_template()["Outputs"])


def test_a_healthy_stack_passes_every_check(seedream, stack):
    result = seedream("doctor")
    assert result.exit_code == 0, result.output
    lines = report(stack, result)
    assert failing(lines) == []
    assert lines["provider keys"] == ("✔ provider keys: wavespeed, atlascloud, evolink, replicate, fal, modelark each "
                                      "have an api_key (all 6 are enabled)")
    assert f"✔ webhook route: an unsigned callback to {stack.api_url}/v1/webhooks/wavespeed/" in lines["webhook route"]
    assert lines["webhook route"].endswith("gets HTTP 401 (signature_missing)")
    assert lines["alarm topic"] == "✔ alarm topic: 1 confirmed subscription (email)"
    assert lines["queues"] == ("✔ queues: SubmitQueue, IngestQueue, IntakeQueue, WebhookQueue, LiveQueue, ModelArkQueue "
                               "exist, each redriving to its DLQ")
    assert lines["webhook signing key"] == "✔ webhook signing key: a 48-byte key"
    websocket = stack.resources.outputs["WebSocketUrl"]
    assert lines["WebSocket API"] == (f"✔ WebSocket API: an unsigned connection to {websocket} gets HTTP 403 "
                                      "($connect takes IAM only)")
    assert lines["connections table"] == (f"✔ connections table: {stack.name('ConnectionsTable')} exists and expires "
                                          "connections (TTL on expires_at)")
    assert lines["reconcile schedule"] == (f"✔ reconcile schedule: rule {STACK_NAME}-ReconcileFunctionSweep is ENABLED "
                                           "(rate(1 minute))")
    assert result.stderr == f"checking stack {STACK_NAME} in us-east-1\nall {len(CHECKS)} checks hold\n"


def test_stack_names_the_local_stack_through_the_exported_endpoint(seedream, stack):
    """``--stack seedream-local`` with the variables ``make up`` prints exported (this process has them: the test
    stack set them) reads the same CloudFormation stack in moto."""
    result = seedream("--stack", STACK_NAME, "doctor", target=False)
    assert result.exit_code == 0, result.output
    assert failing(report(stack, result)) == []


def test_a_missing_provider_key_is_its_line_with_the_command_to_fix_it(seedream, stack, provider_secret):
    document = json.loads(json.dumps(stack.keys))
    document["atlascloud"]["api_key"] = ""
    provider_secret(document)

    result = seedream("doctor")
    assert result.exit_code == 1, result.output
    lines = report(stack, result)
    assert failing(lines) == ["provider keys"]
    assert lines["provider keys"].startswith("✘ provider keys: no api_key for atlascloud ")
    assert f"aws secretsmanager put-secret-value --secret-id {stack.name('ProviderSecret')} " in lines["provider keys"]
    assert result.stderr.endswith(f"{len(CHECKS) - 1} of {len(CHECKS)} checks hold\n")


def test_a_secret_that_is_not_json_is_reported_without_its_content(seedream, stack):
    secrets = stack.session.client("secretsmanager")
    secrets.put_secret_value(SecretId=stack.name("ProviderSecret"), SecretString="api_key=" + stack.keys["evolink"]["api_key"])
    try:
        result = seedream("doctor")
    finally:
        secrets.put_secret_value(SecretId=stack.name("ProviderSecret"), SecretString=json.dumps(stack.keys))
    assert result.exit_code == 1
    lines = report(stack, result)
    assert lines["provider keys"].startswith("✘ provider keys: the provider secret is not a JSON object → ")


def test_an_unset_wavespeed_webhook_secret_holds_when_the_key_can_fetch_it(seedream, stack, provider_secret):
    document = json.loads(json.dumps(stack.keys))
    del document["wavespeed"]["webhook_secret"]
    provider_secret(document)
    lines = report(stack, seedream("doctor"))
    assert lines["WaveSpeed webhook secret"].startswith(
        "✔ WaveSpeed webhook secret: not set; the webhook function fetches it with the WaveSpeed api_key")

    del document["wavespeed"]["api_key"]
    provider_secret(document)
    lines = report(stack, seedream("doctor"))
    assert failing(lines) == ["provider keys", "WaveSpeed webhook secret"]
    assert lines["WaveSpeed webhook secret"].startswith(
        "✘ WaveSpeed webhook secret: not set, and no WaveSpeed api_key to fetch it with → put webhook_secret")


@pytest.mark.parametrize("dlq", ["SubmitDLQ", "IngestDLQ", "IntakeDLQ", "WebhookDLQ", "LiveDLQ", "ModelArkDLQ"])
def test_a_message_in_a_dlq_is_its_line_with_how_to_inspect_and_redrive(seedream, stack, dlq):
    sqs = stack.session.client("sqs")
    url = stack.name(dlq)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"doctor": "test"}))
    try:
        result = seedream("doctor")
    finally:  # take it off again (a purge may be refused within 60 s of another)
        def taken() -> bool:
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            return not any(int(count) for count in counts.values())
        wait_until(taken)
    assert result.exit_code == 1, result.output
    lines = report(stack, result)
    assert failing(lines) == [dlq]
    line = lines[dlq]
    assert line.startswith(f"✘ {dlq}: holds 1 message (")
    assert f"aws sqs receive-message --queue-url {url} " in line
    assert f"aws sqs start-message-move-task --source-arn {stack.resources.attrs[(dlq, 'Arn')]}" in line


def test_an_alarm_topic_without_subscription_says_how_to_subscribe(seedream, stack):
    sns = stack.session.client("sns")
    topic = stack.name("AlarmTopic")
    for subscription in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    try:
        result = seedream("doctor")
    finally:
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=ALARM_EMAIL)
    assert result.exit_code == 1, result.output
    lines = report(stack, result)
    assert failing(lines) == ["alarm topic"]
    assert lines["alarm topic"].startswith("✘ alarm topic: no subscription: alarms reach nobody → set the AlarmEmail "
                                           "parameter")
    assert f"aws sns subscribe --topic-arn {topic} --protocol email" in lines["alarm topic"]


def test_a_disabled_reconcile_schedule_says_how_to_enable_it(seedream, stack):
    events = stack.session.client("events")
    rule = stack.resources.outputs["ReconcileScheduleRuleName"]
    events.disable_rule(Name=rule)
    try:
        result = seedream("doctor")
    finally:
        events.enable_rule(Name=rule)
    assert result.exit_code == 1, result.output
    lines = report(stack, result)
    assert failing(lines) == ["reconcile schedule"]
    assert lines["reconcile schedule"].endswith(f"→ aws events enable-rule --name {rule}")


def test_a_stack_without_the_newer_outputs_says_to_redeploy(seedream, stack):
    """A stack deployed from an older template: the checks that need an output it lacks say so."""
    cloudformation = stack.session.client("cloudformation")
    outputs = {key: value for key, value in stack.resources.outputs.items()
               if key not in ("SubmitQueueUrl", "ReconcileScheduleRuleName")}
    template = {"Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
    cloudformation.create_stack(StackName="seedream-doctor-older", TemplateBody=json.dumps(template))
    try:
        result = seedream("--stack", "seedream-doctor-older", "doctor", target=False)
    finally:
        cloudformation.delete_stack(StackName="seedream-doctor-older")
    assert result.exit_code == 1, result.output
    lines = report(stack, result)
    assert failing(lines) == ["stack outputs", "queues", "reconcile schedule"]
    assert lines["stack outputs"] == (f"✘ stack outputs: 2 of {len(OUTPUTS)} missing: SubmitQueueUrl, "
                                      "ReconcileScheduleRuleName → deploy this version of template.yaml (make deploy)")
    assert lines["queues"].startswith("✘ queues: cannot check: the stack has no SubmitQueueUrl output → ")


def test_doctor_usage_errors_are_one_line(seedream):
    line = one_line_error(seedream("doctor", "--stack", "x", target=False))
    assert line == ("seedream doctor: error: No such option '--stack': --stack is an option of seedream itself and "
                    "goes before the command: seedream --stack … doctor (see: seedream doctor --help)")
    line = one_line_error(seedream("--api-url", "https://abc123.execute-api.eu-west-1.amazonaws.com", "doctor",
                                   target=False))
    assert line == ("seedream: error: this command reads a stack's outputs: give --stack NAME "
                    "(--api-url names an API, not a stack)")
    line = one_line_error(seedream("--stack", "no-such-stack", "doctor", target=False))
    assert line.startswith("seedream: error: describing stack no-such-stack: ValidationError: ")


def test_an_unreachable_local_stack_is_one_line_exit_2(seedream, dead_port):
    url = f"http://127.0.0.1:{dead_port}"
    line = one_line_error(seedream("doctor", target=False, env={"AWS_ENDPOINT_URL": url, "SEEDREAM_API_URL": None}))
    assert line == f"seedream: error: cannot reach {url}: is the stack up? (make up)"


def test_a_webhook_signing_key_that_cannot_sign_is_its_line_without_its_value(seedream, stack):
    secrets = stack.session.client("secretsmanager")
    arn = stack.name("WebhookSecret")
    kept = secrets.get_secret_value(SecretId=arn)["SecretString"]
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"key": "c2hvcnQ="}))  # base64 of 5 bytes
    try:
        result = seedream("doctor")
    finally:
        secrets.put_secret_value(SecretId=arn, SecretString=kept)
    assert result.exit_code == 1, result.output
    lines = report(stack, result)
    assert failing(lines) == ["webhook signing key"]
    assert lines["webhook signing key"].startswith("✘ webhook signing key: the secret is not {\"key\": <base64 of at "
                                                   "least 24 bytes>")
    assert "c2hvcnQ" not in result.output and json.loads(kept)["key"] not in result.output


def test_a_websocket_api_that_does_not_answer_is_its_line(seedream, stack, dead_port):
    cloudformation = stack.session.client("cloudformation")
    outputs = stack.resources.outputs | {"WebSocketUrl": f"ws://127.0.0.1:{dead_port}/v1"}
    template = {"Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
    cloudformation.create_stack(StackName="seedream-doctor-no-websocket", TemplateBody=json.dumps(template))
    try:
        result = seedream("--stack", "seedream-doctor-no-websocket", "doctor", target=False)
    finally:
        cloudformation.delete_stack(StackName="seedream-doctor-no-websocket")
    assert result.exit_code == 1, result.output
    lines = report(stack, result)
    assert failing(lines) == ["WebSocket API"]
    assert lines["WebSocket API"].startswith(f"✘ WebSocket API: cannot connect to ws://127.0.0.1:{dead_port}/v1: ")
    assert lines["WebSocket API"].endswith("→ make up")
