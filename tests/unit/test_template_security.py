"""template.yaml as a security reviewer reads it, statically: no role scans, deletes tables, writes in batches or
uses wildcards, ingest touches only outputs, the data key is used only through the services a function calls,
every function has a retained log group and error/throttle alarms, every alarm notifies the topic, the public
webhook has a concurrency limit and the HTTP API's access log never holds a query string.

Whether each role allows exactly what its function calls is not read off the code here: the integration suite's
calls are recorded and evaluated against the roles (the roles audit in ``tests/conftest.py``, ``local.iam``). The data
key's statements are implicit there (DynamoDB, SQS and Secrets Manager use the key on the function's behalf,
``kms:ViaService``; no call of the function's own exercises them), so they are checked here."""

from __future__ import annotations

import json
import re

import pytest

from local.iam import as_list, role_statements
from local.template import load_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
FUNCTIONS = sorted(name for name, res in RESOURCES.items() if res["Type"] == "AWS::Serverless::Function")
OUTPUTS = "${JobsBucket.Arn}/outputs/*"

SERVICES_OF = {
    "ApiFunction": {"dynamodb", "sqs", "secretsmanager"},  # the webhook signing key (GET /v1/webhooks/default/secret)
    "ApiKeyAuthorizerFunction": {"dynamodb"},
    "WebhookFunction": {"dynamodb", "sqs", "secretsmanager"},
    "SubmitFunction": {"dynamodb", "sqs", "secretsmanager"},
    "IngestFunction": {"dynamodb", "sqs", "secretsmanager"},
    "GenerateFunction": {"dynamodb", "sqs", "secretsmanager"},  # the ARK key; the ModelArk and ingest queues
    "ReconcileFunction": {"dynamodb", "sqs", "secretsmanager"},
    "IntakeFunction": {"dynamodb", "sqs"},
    "DeliveryFunction": {"dynamodb", "secretsmanager"},  # its queue is SSE-SQS (EventBridge delivers to it)
    "LiveFunction": {"dynamodb"},  # the connections table, and the jobs table (a subscribed job's owner)
    "PushFunction": {"dynamodb"},  # its queue is SSE-SQS (EventBridge delivers to it)
}
"""The services through which each function may use the data key (kms:ViaService): tables, queues, the secret."""


def name(node) -> str:
    """An intrinsic as a short string: ``!GetAtt X.Arn`` → ``X.Arn``, ``!Ref X`` → ``X``, ``!Sub s`` → ``s``."""
    if isinstance(node, str):
        return node
    (key, arg), = node.items()
    if key == "Fn::GetAtt":
        return ".".join(arg) if isinstance(arg, list) else arg
    if key == "Ref":
        return arg
    if key == "Fn::Sub":
        return arg if isinstance(arg, str) else arg[0]
    raise AssertionError(f"unexpected intrinsic {node}")


def statements(function: str) -> list[dict]:
    """The function's policy statements as the template writes them (``local.iam.role_statements``: its own, the
    stack's managed policies, SAM's ``SQSSendMessagePolicy`` expanded; anything else fails)."""
    return role_statements(TEMPLATE, function)


def grants(function: str, *, kms: bool = False) -> set[tuple[str, str]]:
    return {(action, name(resource)) for st in statements(function) if st["Effect"] == "Allow"
            for action in as_list(st["Action"]) if action.startswith("kms:") == kms
            for resource in as_list(st["Resource"])}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_scans_deletes_tables_writes_in_batches_or_uses_wildcards(function):
    for action, resource in grants(function) | grants(function, kms=True):
        assert action not in {"dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem",
                              "s3:PutObjectAcl", "s3:PutLifecycleConfiguration", "s3:DeleteObjectVersion"}
        assert not action.endswith(":*") and action != "*"
        # Step Functions' task-token actions take no resource ARN: IAM can scope them by action only
        assert resource != "*" or action in {"states:SendTaskSuccess", "states:SendTaskFailure"}


def test_ingest_touches_only_outputs_and_lists_only_under_outputs():
    s3 = [st for st in statements("IngestFunction") if any(a.startswith("s3:") for a in as_list(st["Action"]))
          and st.get("Sid") not in ("ResultDocuments", "NewestManifest")]  # the door replies (DoorRepliesPolicy)
    for st in s3:
        if as_list(st["Action"]) == ["s3:ListBucket"]:
            assert name(st["Resource"]) == "JobsBucket.Arn"
            assert st["Condition"] == {"StringLike": {"s3:prefix": "outputs/*"}}
        else:
            assert [name(r) for r in as_list(st["Resource"])] == [OUTPUTS]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_data_key_is_used_only_through_the_services_a_function_calls(function):
    kms = [st for st in statements(function) if any(a.startswith("kms:") for a in as_list(st["Action"]))]
    assert kms, f"{function} reads or writes encrypted tables and queues"
    services = set()
    for st in kms:
        assert [name(r) for r in as_list(st["Resource"])] == ["DataKey.Arn"]
        assert all(a.startswith("kms:") for a in as_list(st["Action"]))
        for via in as_list(st["Condition"]["StringEquals"]["kms:ViaService"]):
            services.add(re.fullmatch(r"(\w+)\.\$\{AWS::Region\}\.amazonaws\.com", name(via)).group(1))
    assert services == SERVICES_OF[function]


def test_sqs_consumers_get_receive_and_delete_from_sam_not_from_us():
    # SAM adds AWSLambdaSQSQueueExecutionRole for `Type: SQS` events; the templates add no sqs:Receive/Delete of their own
    consumers = {fn for fn in FUNCTIONS
                 if any(e["Type"] == "SQS" for e in RESOURCES[fn]["Properties"].get("Events", {}).values())}
    assert consumers == {"SubmitFunction", "IngestFunction", "IntakeFunction", "DeliveryFunction", "PushFunction",
                         "GenerateFunction"}
    for fn in FUNCTIONS:
        assert not {a for a, _ in grants(fn)} & {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def test_data_at_rest_uses_the_data_key():
    key = {"Ref": "DataKey"}
    for queue in ("SubmitQueue", "SubmitDLQ", "IngestQueue", "IngestDLQ"):
        assert RESOURCES[queue]["Properties"]["KmsMasterKeyId"] == key
        assert "SqsManagedSseEnabled" not in RESOURCES[queue]["Properties"]  # one kind of SSE per queue
    for table in ("JobsTable", "IdempotencyTable", "ConnectionsTable"):
        assert RESOURCES[table]["Properties"]["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS",
                                                                        "KMSMasterKeyId": key}
    for secret in ("ProviderSecret", "WebhookSecret"):
        assert RESOURCES[secret]["Properties"]["KmsKeyId"] == key
    assert RESOURCES["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == key
    assert RESOURCES["DataKey"]["Properties"]["EnableKeyRotation"] is True


def test_the_public_webhook_has_reserved_concurrency():
    assert RESOURCES["WebhookFunction"]["Properties"]["ReservedConcurrentExecutions"] == {"Ref": "WebhookReservedConcurrency"}
    assert PARAMETERS["WebhookReservedConcurrency"]["Default"] == 50


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_a_log_group_with_retention(function):
    groups = [res["Properties"] for res in RESOURCES.values() if res["Type"] == "AWS::Logs::LogGroup"
              and res["Properties"].get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}]
    assert len(groups) == 1
    assert groups[0]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert groups[0]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}


@pytest.mark.parametrize("api", ["HttpApi", "KeyApi"])
def test_http_api_access_log_is_json_without_path_or_query_string(api):
    settings = RESOURCES[api]["Properties"]["AccessLogSettings"]
    group = RESOURCES[settings["DestinationArn"]["Fn::GetAtt"][0]]
    assert group["Type"] == "AWS::Logs::LogGroup" and group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    fmt = settings["Format"]
    assert "\n" not in fmt
    fields = json.loads(fmt)
    assert {"requestId", "routeKey", "status", "ip", "latencyMs"} <= set(fields)
    variables = " ".join(fields.values())
    # webhook URLs carry the callback token in ?token=: no variable that could hold the path or the query string
    assert not re.search(r"path|query|requestOverride", variables, re.IGNORECASE)
    # nor a header (the key API's Authorization header is the key itself)
    assert not re.search(r"header|identitySource", variables, re.IGNORECASE)


def test_every_alarm_notifies_the_alarm_topic():
    alarms = {lid: res["Properties"] for lid, res in RESOURCES.items() if res["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms
    for lid, props in alarms.items():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], lid
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail" and PARAMETERS["AlarmEmail"]["Default"] == ""
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_error_and_throttle_alarms(function):
    watched = {(props["MetricName"], name(props["Dimensions"][0]["Value"])) for res in RESOURCES.values()
               if res["Type"] == "AWS::CloudWatch::Alarm" and (props := res["Properties"]).get("Namespace") == "AWS/Lambda"}
    assert {("Errors", function), ("Throttles", function)} <= watched


def test_dlqs_and_rejected_callbacks_are_alarmed():
    dlqs = {name(res["Properties"]["Dimensions"][0]["Value"]) for res in RESOURCES.values()
            if res["Type"] == "AWS::CloudWatch::Alarm" and res["Properties"].get("Namespace") == "AWS/SQS"}
    assert dlqs == {"SubmitDLQ.QueueName", "IngestDLQ.QueueName", "IntakeDLQ.QueueName", "WebhookDLQ.QueueName",
                    "LiveDLQ.QueueName", "ModelArkDLQ.QueueName"}
    rejected = RESOURCES["CallbacksRejectedAlarm"]["Properties"]
    assert (rejected["Namespace"], rejected["MetricName"], rejected["Dimensions"]) == (
        "SeedreamJobs", "CallbacksRejected", [{"Name": "service", "Value": "webhook"}])  # Powertools' EMF, service=webhook
    assert (rejected["Statistic"], rejected["Period"], rejected["ComparisonOperator"]) == ("Sum", 300, "GreaterThanThreshold")
    assert rejected["Threshold"] == {"Ref": "CallbacksRejectedThreshold"}
    assert PARAMETERS["CallbacksRejectedThreshold"]["Default"] == 20


def test_every_checkov_skip_says_why():
    for lid, res in RESOURCES.items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), lid
            assert len(skip.get("comment", "")) > 20, f"{lid}: {skip['id']} has no reason"


def test_the_readme_counts_the_checkov_skips_the_template_lists():
    from pathlib import Path

    skips = sum(len(res.get("Metadata", {}).get("checkov", {}).get("skip", [])) for res in RESOURCES.values())
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert re.findall(r"\*\*checkov\*\* [\d.]+: 0 failed, (\d+) skipped", readme) == [str(skips)]


def test_webhook_messages_that_ran_out_of_attempts_are_alarmed():
    exhausted = RESOURCES["WebhooksExhaustedAlarm"]["Properties"]
    assert (exhausted["Namespace"], exhausted["MetricName"], exhausted["Dimensions"]) == (
        "SeedreamJobs", "WebhooksExhausted", [{"Name": "service", "Value": "delivery"}])  # Powertools' EMF, service=delivery
    assert RESOURCES["DeliveryFunction"]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "delivery"
    assert (exhausted["Statistic"], exhausted["Threshold"], exhausted["ComparisonOperator"]) == (
        "Sum", 0, "GreaterThanThreshold")


def test_outputs_s3_would_not_delete_are_alarmed_for_every_function_that_discards_outputs():
    # discard_outputs runs where a job with outputs ends unsuccessfully: cancel (api), ingest, the sweep (reconcile)
    alarm = RESOURCES["OutputsLeftBehindAlarm"]["Properties"]
    stats = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    services = {RESOURCES[f]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
                for f in ("ApiFunction", "IngestFunction", "ReconcileFunction")}
    assert {s["Metric"]["Dimensions"][0]["Value"] for s in stats.values()} == services
    assert all((s["Metric"]["Namespace"], s["Metric"]["MetricName"], s["Stat"]) == (
        "SeedreamJobs", "OutputsLeftBehind", "Sum") for s in stats.values())
    [total] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert set(re.findall(r"FILL\((\w+), 0\)", total["Expression"])) == set(stats)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_webhook_signing_key_is_generated_by_the_template_and_only_read_by_functions():
    generated = RESOURCES["WebhookSecret"]["Properties"]["GenerateSecretString"]
    # 64 letters and digits are base64 of 48 bytes: a Standard Webhooks key (24-64 bytes)
    assert (generated["GenerateStringKey"], generated["PasswordLength"], generated["ExcludePunctuation"]) == ("key", 64, True)
    readers = {fn for fn in FUNCTIONS for action, resource in grants(fn) if resource == "WebhookSecret"}
    assert readers == {"ApiFunction", "DeliveryFunction"}
    for fn in FUNCTIONS:
        assert {action for action, resource in grants(fn) if resource == "WebhookSecret"} <= {"secretsmanager:GetSecretValue"}


def test_only_the_stacks_lifecycle_rule_sends_to_the_webhook_queue():
    rule = RESOURCES["WebhookEventsRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "JobsBus"}
    assert rule["EventPattern"] == {"source": ["seedream.jobs"], "detail-type": [
        "Job Queued", "Job Submitted", "Job Succeeded", "Job Failed", "Job Cancelled"],
        "detail": {"webhook_wanted": [True]}}
    [statement] = RESOURCES["WebhookQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["WebhookEventsRule", "Arn"]}}}


def test_the_key_api_checks_every_route_with_the_cached_request_authorizer():
    auth = RESOURCES["KeyApi"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "ApiKeyAuthorizer" and "EnableIamAuthorizer" not in auth
    authorizer = auth["Authorizers"]["ApiKeyAuthorizer"]
    assert authorizer["FunctionArn"] == {"Fn::GetAtt": ["ApiKeyAuthorizerFunction", "Arn"]}
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0" and authorizer["EnableSimpleResponses"] is True
    assert authorizer["Identity"] == {"Headers": ["Authorization"], "ReauthorizeEvery": 300}
    routes = {(e["Properties"]["ApiId"]["Ref"], e["Properties"]["Method"], e["Properties"]["Path"])
              for e in RESOURCES["ApiFunction"]["Properties"]["Events"].values()}
    on_key_api = {(method, path) for api, method, path in routes if api == "KeyApi"}
    on_iam_api = {(method, path) for api, method, path in routes if api == "HttpApi"}
    # every job route is on both APIs; key management only where IAM signs the request
    assert on_key_api == {(m, p) for m, p in on_iam_api if not p.startswith("/v1/keys")}
    assert {p for _, p in on_iam_api if p.startswith("/v1/keys")} == {"/v1/keys", "/v1/keys/{key_id}"}
    assert not any(e.get("Properties", {}).get("Auth") for e in RESOURCES["ApiFunction"]["Properties"]["Events"].values())


def test_only_connect_is_iam_authorised_and_every_route_reaches_the_live_function():
    api = RESOURCES["WebSocketApi"]["Properties"]
    assert (api["ProtocolType"], api["RouteSelectionExpression"]) == ("WEBSOCKET", "$request.body.action")
    routes = {res["Properties"]["RouteKey"]: res["Properties"] for res in RESOURCES.values()
              if res["Type"] == "AWS::ApiGatewayV2::Route"}
    assert {key: route["AuthorizationType"] for key, route in routes.items()} == {
        "$connect": "AWS_IAM", "$disconnect": "NONE", "subscribe": "NONE"}  # API Gateway authorises $connect only
    assert {name(route["Target"]) for route in routes.values()} == {"integrations/${WebSocketLiveIntegration}"}
    integration = RESOURCES["WebSocketLiveIntegration"]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY" and "${LiveFunction.Arn}" in name(integration["IntegrationUri"])
    permission = RESOURCES["LiveInvokePermission"]["Properties"]
    assert name(permission["SourceArn"]).endswith(":${WebSocketApi}/*")


def test_the_push_function_manages_only_this_stages_connections():
    manage = {name(resource) for action, resource in grants("PushFunction") if action.startswith("execute-api:")}
    assert manage == {"arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                      "${WebSocketApi}/${WebSocketStage}/POST/@connections/*"}
    assert {action for action, _ in grants("PushFunction") if action.startswith("execute-api:")} == {
        "execute-api:ManageConnections"}
    others = {fn for fn in FUNCTIONS for action, _ in grants(fn) if action.startswith("execute-api:")}
    assert others == {"PushFunction"}


def test_only_the_stacks_lifecycle_rule_sends_to_the_live_queue_and_connections_expire():
    rule = RESOURCES["LiveEventsRule"]["Properties"]
    webhook_pattern = RESOURCES["WebhookEventsRule"]["Properties"]["EventPattern"]
    assert rule["EventPattern"] == {k: v for k, v in webhook_pattern.items() if k != "detail"}  # every job's events
    [statement] = RESOURCES["LiveQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["LiveEventsRule", "Arn"]}}}
    assert RESOURCES["ConnectionsTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at", "Enabled": True}
