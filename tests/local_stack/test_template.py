"""template.yaml is decoded by cfn-lint's decoder into plain data, and its intrinsics resolve as the stack needs."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from moto import mock_aws

from local.template import Resolver, create_resources, load_template, loads_template

PLAIN = (dict, list, str, int, float, bool, type(None))


def walk(node):
    yield node
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_the_template_decodes_to_plain_data_with_long_form_intrinsics():
    template = load_template()
    assert {type(node) for node in walk(template)} <= set(PLAIN)
    submit = template["Resources"]["SubmitFunction"]["Properties"]
    assert submit["Environment"]["Variables"]["PUBLIC_BASE_URL"] == {"Fn::If": [
        "HasPublicBaseUrl", {"Ref": "PublicBaseUrl"},
        {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}]}
    assert submit["Events"]["Jobs"]["Properties"]["Queue"] == {"Fn::GetAtt": ["SubmitQueue", "Arn"]}
    assert template["Conditions"]["HasPublicBaseUrl"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "PublicBaseUrl"}, ""]}]}


@pytest.fixture
def resolver_for():
    template = load_template()
    names = {"HttpApi": "local", "JobsBucket": "jobs-bucket"}
    attrs = {("JobsBucket", "Arn"): "arn:aws:s3:::jobs-bucket", ("SubmitQueue", "QueueName"): "submit-q"}
    return lambda parameters: (template, Resolver(template, names, attrs, parameters))


def test_ref_getatt_sub_and_if_resolve_as_before(resolver_for):
    template, resolver = resolver_for({})
    resources = template["Resources"]
    public_base_url = resources["SubmitFunction"]["Properties"]["Environment"]["Variables"]["PUBLIC_BASE_URL"]
    assert resolver.value(public_base_url) == "https://local.execute-api.us-east-1.amazonaws.com"  # !If, else: !Sub
    assert resolver_for({"PublicBaseUrl": "http://127.0.0.1:3000"})[1].value(public_base_url) == "http://127.0.0.1:3000"
    assert resolver.value(resources["JobsBus"]["Properties"]["Name"]) == "seedream-local-jobs"  # !Sub ${AWS::StackName}
    statement = resources["JobsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert resolver.value(statement["Resource"]) == ["arn:aws:s3:::jobs-bucket", "arn:aws:s3:::jobs-bucket/*"]
    assert resolver.value(resources["JobsBucketPolicy"]["Properties"]["Bucket"]) == "jobs-bucket"  # !Ref resource
    send = next(p for p in resources["ApiFunction"]["Properties"]["Policies"] if "SQSSendMessagePolicy" in p)
    assert resolver.value(send) == {"SQSSendMessagePolicy": {"QueueName": "submit-q"}}  # !GetAtt X.QueueName
    assert resolver.value({"Ref": "EvolinkV5LiteModel"}) == "doubao-seedream-5.0-lite"  # parameter default


def test_short_tags_in_every_form(tmp_path):
    template = loads_template("""
Parameters:
  Stage: {Type: String, Default: dev}
Conditions:
  IsDev: !Equals [!Ref Stage, dev]
  Both: !And [!Condition IsDev, !Not [!Equals [!Ref Stage, prod]]]
Resources:
  Q: {Type: AWS::SQS::Queue}
  T:
    Type: Custom::Thing
    Properties:
      GetAttList: !GetAtt [Q, Arn]
      GetAttDotted: !GetAtt Q.QueueName
      SubWithMap: !Sub ["${Name}-${AWS::Region}-${!Literal}", {Name: !Ref Stage}]
      Joined: !Join ["/", [a, !Ref Stage, !Select [1, [x, y]]]]
      Chosen: !If [Both, first, second]
""")
    resolver = Resolver(template, {"Q": "https://q"}, {("Q", "Arn"): "arn:q", ("Q", "QueueName"): "q"}, {})
    assert resolver.value(template["Resources"]["T"]["Properties"]) == {
        "GetAttList": "arn:q", "GetAttDotted": "q", "SubWithMap": "dev-us-east-1-${Literal}", "Joined": "a/dev/y",
        "Chosen": "first"}
    assert Resolver(template, {}, {}, {"Stage": "prod"}).value({"Fn::If": ["Both", 1, 2]}) == 2


def test_a_broken_template_is_a_value_error():
    with pytest.raises(ValueError, match="broken.yaml"):
        loads_template("Resources: [\n", "broken.yaml")


def test_create_resources_builds_indexes_queue_attributes_and_plain_environments(in_process_moto):
    template = loads_template("""
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: status, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: by-status
          KeySchema: [{AttributeName: status, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
          ContributorInsightsSpecification: {Enabled: false}
  DLQ:
    Type: AWS::SQS::Queue
    Properties: {MessageRetentionPeriod: 1209600}
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 120
      DelaySeconds: 2
      SqsManagedSseEnabled: true
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DLQ.Arn, maxReceiveCount: 3}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/api/
      Handler: app.lambda_handler
      Environment:
        Variables: {TABLE: !Ref Table, QUEUE: !GetAtt Work.QueueName, FLAG: true, COUNT: 3}
      Events:
        Jobs: {Type: SQS, Properties: {Queue: !GetAtt Work.Arn, BatchSize: 4}}
""")
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        resources = create_resources(session, template)
        table = session.client("dynamodb").describe_table(TableName=resources.names["Table"])["Table"]
        assert [(i["IndexName"], i["Projection"]) for i in table["GlobalSecondaryIndexes"]] == [
            ("by-status", {"ProjectionType": "KEYS_ONLY"})]
        attributes = session.client("sqs").get_queue_attributes(QueueUrl=resources.queue_urls["Work"],
                                                                 AttributeNames=["All"])["Attributes"]
    assert (attributes["VisibilityTimeout"], attributes["DelaySeconds"], attributes["SqsManagedSseEnabled"]) == (
        "120", "2", "true")
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": resources.attrs[("DLQ", "Arn")],
                                                       "maxReceiveCount": 3}
    function = resources.functions["Fn"]
    assert function.environment == {"TABLE": resources.names["Table"], "QUEUE": "seedream-local-Work",
                                    "FLAG": "true", "COUNT": "3"}
    assert all(type(k) is str and type(v) is str for k, v in function.environment.items())
    assert function.queues == [("Work", 4)] and function.routes == []


def test_topics_conditional_subscriptions_schedule_rules_and_the_outputs_stack(in_process_moto):
    """SNS topics (a subscription only when its Condition holds), the rule SAM makes of a ``Schedule`` event, and the
    ``Outputs`` resolved (an HTTP API's execute-api URL is the local gateway's) into a CloudFormation stack."""
    template = loads_template("""
Parameters:
  AlarmEmail: {Type: String, Default: ""}
Conditions:
  HasAlarmEmail: !Not [!Equals [!Ref AlarmEmail, ""]]
Resources:
  Api: {Type: AWS::Serverless::HttpApi}
  Topic:
    Type: AWS::SNS::Topic
    Properties: {DisplayName: Alarms}
  Mail:
    Type: AWS::SNS::Subscription
    Condition: HasAlarmEmail
    Properties: {TopicArn: !Ref Topic, Protocol: email, Endpoint: !Ref AlarmEmail}
  Sweeper:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/reconcile/
      Handler: app.lambda_handler
      Events:
        Tick: {Type: Schedule, Properties: {Schedule: rate(5 minutes), Description: sweep}}
        Paused: {Type: Schedule, Properties: {Schedule: rate(1 hour), Enabled: false}}
Outputs:
  ApiUrl:
    Description: the API
    Value: !Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1"
  TopicArn: {Value: !Ref Topic}
  RuleName: {Value: !Ref SweeperTick}
  Mail:
    Condition: HasAlarmEmail
    Value: !Ref AlarmEmail
""")
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        without = create_resources(session, template, api_url="http://127.0.0.1:3999")
        sns, events = session.client("sns"), session.client("events")
        topic = without.names["Topic"]
        assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "Alarms"
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []  # no AlarmEmail: no Mail
        tick = events.describe_rule(Name="seedream-local-SweeperTick")
        assert (tick["ScheduleExpression"], tick["State"], tick["Description"]) == ("rate(5 minutes)", "ENABLED", "sweep")
        assert events.describe_rule(Name="seedream-local-SweeperPaused")["State"] == "DISABLED"
        assert without.functions["Sweeper"].schedule_rules == ["seedream-local-SweeperTick", "seedream-local-SweeperPaused"]
        assert without.outputs == {"ApiUrl": "http://127.0.0.1:3999/v1", "TopicArn": topic,
                                   "RuleName": "seedream-local-SweeperTick"}
        described = session.client("cloudformation").describe_stacks(StackName="seedream-local")["Stacks"][0]
        assert {o["OutputKey"]: (o["OutputValue"], o.get("Description")) for o in described["Outputs"]} == {
            "ApiUrl": ("http://127.0.0.1:3999/v1", "the API"), "TopicArn": (topic, None),
            "RuleName": ("seedream-local-SweeperTick", None)}

    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        subscribed = create_resources(session, template, {"AlarmEmail": "alarms@example.invalid"})
        subscriptions = session.client("sns").list_subscriptions_by_topic(TopicArn=subscribed.names["Topic"])
        assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions["Subscriptions"]] == [("email", "alarms@example.invalid")]
        assert subscribed.outputs["Mail"] == "alarms@example.invalid"
        assert subscribed.outputs["ApiUrl"] == "https://local.execute-api.us-east-1.amazonaws.com/v1"  # no api_url given


def test_each_functions_concurrency_limits_come_from_the_template(in_process_moto):
    template = load_template()
    parameters = template["Parameters"]
    with mock_aws():
        functions = create_resources(boto3.session.Session(region_name="us-east-1"), template).functions
    limits = {name: (f.reserved_concurrency, f.queue_concurrency) for name, f in functions.items()}
    submit_max = int(parameters["SubmitMaximumConcurrency"]["Default"])
    assert limits == {
        "ApiFunction": (None, {}),
        "ApiKeyAuthorizerFunction": (None, {}),
        "WebhookFunction": (int(parameters["WebhookReservedConcurrency"]["Default"]), {}),
        "SubmitFunction": (None, {"SubmitQueue": submit_max}),
        "IngestFunction": (None, {}),
        "ReconcileFunction": (1, {}),
        "IntakeFunction": (None, {"IntakeQueue": submit_max}),
        "DeliveryFunction": (None, {"WebhookQueue": int(parameters["WebhookDeliveryMaximumConcurrency"]["Default"])}),
        "LiveFunction": (None, {}),
        "PushFunction": (None, {"LiveQueue": 10}),
        "GenerateFunction": (None, {"ModelArkQueue": int(parameters["GenerateMaximumConcurrency"]["Default"])}),
    }
    assert (submit_max, limits["WebhookFunction"][0]) == (5, 50)


def test_a_generated_secret_is_made_as_cloudformation_makes_it(in_process_moto):
    """``GenerateSecretString``: a random password of the template's options under ``GenerateStringKey`` (the webhook
    signing key: 64 letters and digits, base64 of 48 bytes); ``secret_value`` fills only the other secrets."""
    template = load_template()
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        made = create_resources(session, template, secret_value={"wavespeed": {"api_key": "k"}})
        secrets = session.client("secretsmanager")
        key = json.loads(secrets.get_secret_value(SecretId=made.names["WebhookSecret"])["SecretString"])["key"]
        provider = json.loads(secrets.get_secret_value(SecretId=made.names["ProviderSecret"])["SecretString"])
    assert len(key) == 64 and key.isalnum() and len(base64.b64decode(key)) == 48
    assert provider == {"wavespeed": {"api_key": "k"}}
