"""``local.iam``: the IAM a call needs, the roles as the template and SAM write them, moto's verdict."""

from __future__ import annotations

import pytest

from local.aws_calls import Call
from local.iam import Need, Unmapped, audit, needs, role_statements
from local.template import ACCOUNT, LocalResources, Resolver, load_template

BUCKET = "arn:aws:s3:::jobs-bucket"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:seedream-local-ProviderSecret-AbCdEf"


def call(service: str, operation: str, presigned: bool = False, **params) -> Call:
    return Call("IngestFunction", service, operation, params, presigned)


@pytest.mark.parametrize(("made", "needed"), [
    (call("s3", "HeadObject", Bucket="jobs-bucket", Key="outputs/j/00.png"), [("s3:GetObject", f"{BUCKET}/outputs/j/00.png")]),
    (call("s3", "GetObject", Bucket="jobs-bucket", Key="requests/a.json", VersionId="v1"),
     [("s3:GetObjectVersion", f"{BUCKET}/requests/a.json")]),
    (call("s3", "UploadPart", Bucket="jobs-bucket", Key="outputs/j/00.png", PartNumber=2),
     [("s3:PutObject", f"{BUCKET}/outputs/j/00.png")]),
    (call("s3", "DeleteObjects", Bucket="jobs-bucket",
          Delete={"Objects": [{"Key": "outputs/j/00.png"}, {"Key": "outputs/j/01.png"}]}),
     [("s3:DeleteObject", f"{BUCKET}/outputs/j/00.png"), ("s3:DeleteObject", f"{BUCKET}/outputs/j/01.png")]),
    (call("dynamodb", "Query", TableName="jobs", IndexName="JobsByOwner"),
     [("dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/jobs/index/JobsByOwner")]),
    (call("dynamodb", "TransactWriteItems", TransactItems=[{"Put": {"TableName": "a"}}, {"ConditionCheck": {"TableName": "b"}}]),
     [("dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/a"),
      ("dynamodb:ConditionCheckItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/b")]),
    (call("sqs", "SendMessageBatch", QueueUrl=f"http://127.0.0.1:5050/{ACCOUNT}/q"),
     [("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:q")]),
    (call("events", "PutEvents", Entries=[{"EventBusName": "jobs"}, {}]),
     [("events:PutEvents", f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/jobs"),
      ("events:PutEvents", f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default")]),
    (call("secretsmanager", "GetSecretValue", SecretId="seedream-local-ProviderSecret"),
     [("secretsmanager:GetSecretValue", SECRET)]),
    (call("states", "SendTaskFailure", taskToken="t"), [("states:SendTaskFailure", "*")]),
])
def test_each_call_needs_the_action_and_resource_iam_names(made, needed):
    assert [(n.action, n.resource) for n in needs(made, [SECRET])] == needed


def test_a_listing_carries_its_prefix_as_a_condition_key():
    listing = needs(call("s3", "ListObjectsV2", Bucket="jobs-bucket", Prefix="outputs/j/"))
    assert listing == [Need("s3:ListBucket", BUCKET, (("s3:prefix", "outputs/j/"),))]


@pytest.mark.parametrize("made", [call("s3", "PutObject", Bucket="b", Key="k", ACL="public-read"),
                                  call("s3", "CopyObject", Bucket="b", Key="k", CopySource="b/j"),
                                  call("lambda", "Invoke", FunctionName="f"),
                                  call("secretsmanager", "GetSecretValue", SecretId="someone-elses")])
def test_what_is_not_mapped_is_an_error_never_skipped(made):
    with pytest.raises(Unmapped):
        needs(made, [SECRET])


@pytest.fixture(scope="module")
def resources() -> LocalResources:
    """The template's roles resolved against made-up local names (no moto: only ``local.iam`` reads them)."""
    template = load_template()
    names = {lid: f"seedream-local-{lid}" for lid in template["Resources"]}
    names |= {"JobsBucket": "jobs-bucket", "ProviderSecret": SECRET, "JobsBus": "seedream-local-jobs",
              "WebSocketApi": "abc123", "WebSocketStage": "v1"}
    attrs = {(lid, "Arn"): f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{lid}"
             for lid in ("JobsTable", "IdempotencyTable", "ApiKeysTable", "ConnectionsTable")}
    attrs |= {(q, "Arn"): f"arn:aws:sqs:us-east-1:{ACCOUNT}:{q}" for q in ("SubmitQueue", "IngestQueue", "WebhookQueue",
                                                                                    "ModelArkQueue")}
    attrs |= {("SubmitQueue", "QueueName"): "SubmitQueue", ("JobsBucket", "Arn"): BUCKET,
              ("JobsBus", "Arn"): f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/seedream-local-jobs",
              ("DataKey", "Arn"): f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"}
    return LocalResources(names, attrs, {}, {}, resolver=Resolver(template, names, attrs, {}))


def test_sams_send_message_template_is_expanded_as_sam_expands_it(resources):
    statements = role_statements(load_template(), "ApiFunction", resources.resolver.value)
    assert statements[0] == {"Effect": "Allow", "Action": ["sqs:SendMessage*"],
                             "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:SubmitQueue"}


def test_a_policy_that_cannot_be_read_fails():
    template = load_template()
    template["Resources"]["ApiFunction"]["Properties"]["Policies"].append("AmazonS3FullAccess")
    with pytest.raises(ValueError, match="AmazonS3FullAccess"):
        role_statements(template, "ApiFunction")


def test_moto_denies_what_a_role_does_not_grant_and_finds_grants_nobody_used(resources):
    calls = [Call("WebhookFunction", "dynamodb", "UpdateItem", {"TableName": "JobsTable"}),
             Call("WebhookFunction", "events", "PutEvents", {"Entries": [{"EventBusName": "seedream-local-jobs"}]}),
             Call("ApiFunction", "sqs", "SendMessage", {"QueueUrl": f"http://127.0.0.1:1/{ACCOUNT}/SubmitQueue"})]
    findings = audit(load_template(), resources, calls)
    assert [(f, op, n.action) for f, op, n in findings.denied] == [("WebhookFunction", "events:PutEvents", "events:PutEvents")]
    unused = {(g.function, g.action) for g in findings.unused}
    assert ("WebhookFunction", "dynamodb:UpdateItem") not in unused and ("ApiFunction", "sqs:SendMessage*") not in unused
    assert {("WebhookFunction", "sqs:SendMessage"), ("WebhookFunction", "secretsmanager:GetSecretValue")} <= unused
    assert not any(g.action.startswith("kms:") for g in findings.granted.values())  # implicit: not audited by calls


@pytest.mark.parametrize(("endpoint", "api"), [("https://abc123.execute-api.us-east-1.amazonaws.com/v1", "abc123"),
                                               ("http://127.0.0.1:4000/v1", "local")])
def test_a_post_to_a_connection_needs_manage_connections_on_that_stages_connection(endpoint, api):
    call = Call("PushFunction", "execute-api", "PostToConnection", {"ConnectionId": "c1="}, endpoint=endpoint)
    assert needs(call) == [Need("execute-api:ManageConnections",
                                f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api}/v1/POST/@connections/c1=")]


def test_the_push_function_may_post_to_its_stages_connections_only(resources):
    ours = Call("PushFunction", "execute-api", "PostToConnection", {"ConnectionId": "c1"},
                endpoint="https://abc123.execute-api.us-east-1.amazonaws.com/v1")
    other_stage = Call("PushFunction", "execute-api", "PostToConnection", {"ConnectionId": "c1"},
                       endpoint="https://abc123.execute-api.us-east-1.amazonaws.com/test")
    findings = audit(load_template(), resources, [ours, other_stage])
    assert [(f, n.resource) for f, _, n in findings.denied] == [
        ("PushFunction", f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/test/POST/@connections/c1")]
    assert ("PushFunction", "execute-api:ManageConnections") not in {(g.function, g.action) for g in findings.unused}
