"""Read ``template.yaml`` and create its resources in a moto server: the local stack *is* the template.

Tables (keys, indexes, TTL), queues (visibility timeouts, redrive to DLQs), the buckets (with their versioning and
EventBridge notifications), the event bus, the EventBridge rules with their SQS targets, the provider secret and
the webhook secret (its ``GenerateSecretString`` made as CloudFormation makes it), the SNS topics and their
subscriptions, and the KMS keys they name are created from the template's own properties; a function's ``Schedule``
event becomes the rule SAM makes of it (``<Function><Event>``, enabled, with its schedule expression). Other
resource types (log groups, alarms) are not created, nor a resource whose ``Condition`` is false. Function
environments and routes/queue triggers are resolved from the same document, and so are the template's ``Outputs``:
a CloudFormation stack named :data:`STACK_NAME` holds them (``describe-stacks`` answers as for a deployed stack; an
HTTP API's ``execute-api`` URL resolves to the local gateway's). Nothing here is a second hand-written copy of the
stack.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK_NAME = "seedream-local"
"""``AWS::StackName`` locally, and the name of the CloudFormation stack that holds the resolved ``Outputs``."""
EXECUTE_API_URL = re.compile(r"^(https|wss)://\$\{(\w+)\}\.execute-api\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}")
"""``!Sub "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}..."``: an API's own URL (``wss://`` for a
WebSocket API's clients; ``https://`` for an HTTP API, or a WebSocket API's management endpoint)."""
LOCAL_API_ID = "local"
"""What ``!Ref`` gives for an API locally (its id in ``execute-api`` ARNs)."""


def plain(node: Any) -> Any:
    """A copy of a decoded document with only built-in types (cfn-lint's decoder returns ``str``/``dict``/``list``
    subclasses that carry line marks); what reaches boto3 and the handlers' environment is plain."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def loads_template(text: str, name: str = "<template>") -> dict:
    """Decode a template with cfn-lint's decoder: short tags (``!Ref``, ``!Sub``, ``!GetAtt``, ``!If``...) become
    their long forms (``{"Ref": ...}``, ``{"Fn::GetAtt": [logical_id, attribute]}``...). Raises ``ValueError``."""
    template, matches = decode_str(text)
    if matches or not isinstance(template, dict):
        raise ValueError(f"{name}: " + ("; ".join(str(m) for m in matches) if matches else "not a template"))
    return plain(template)


def load_template(path: Path = TEMPLATE) -> dict:
    return loads_template(Path(path).read_text(), str(path))


@dataclass(frozen=True)
class HttpRoute:
    """One ``HttpApi`` event of a function."""

    api: str
    """The ``AWS::Serverless::HttpApi`` it is a route of (its ``ApiId``; SAM's implicit ``HttpApi`` when none)."""
    method: str
    path: str
    authorizer: str
    """``AWS_IAM``, ``NONE``, or the name of one of its API's Lambda authorizers (``Auth.Authorizers``)."""

    @property
    def iam(self) -> bool:
        return self.authorizer == "AWS_IAM"


@dataclass(frozen=True)
class LambdaAuthorizer:
    """An HTTP API's Lambda authorizer (``Auth.Authorizers.<name>`` with a ``FunctionArn``)."""

    api: str
    name: str
    function: str
    """Logical id of the function its ``FunctionArn`` names (``!GetAtt <function>.Arn``)."""
    headers: tuple[str, ...]
    """``Identity.Headers``: the identity sources (``$request.header.<name>``); missing or empty → 401."""
    ttl_seconds: int
    """``Identity.ReauthorizeEvery`` (SAM's default 300): how long an answer is cached per identity-source value."""
    payload_version: str
    simple_responses: bool


@dataclass
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    environment: dict[str, str]
    routes: list[HttpRoute] = field(default_factory=list)
    """Its ``HttpApi`` events: API, method, path and authorizer."""
    queues: list[tuple[str, int]] = field(default_factory=list)
    """(queue logical id, batch size)."""
    schedules: list[str] = field(default_factory=list)
    """Schedule expressions of its ``Schedule``/``ScheduleV2`` events (``rate(1 minute)``)."""
    schedule_rules: list[str] = field(default_factory=list)
    """Names of the EventBridge rules made of its ``Schedule`` events (``seedream-local-ReconcileFunctionSweep``)."""
    reserved_concurrency: int | None = None
    """``ReservedConcurrentExecutions``: at most this many invocations at once; None when the template sets none."""
    queue_concurrency: dict[str, int] = field(default_factory=dict)
    """Queue logical id → its SQS event source's ``ScalingConfig.MaximumConcurrency`` (only those that set one)."""


@dataclass
class LocalResources:
    names: dict[str, str]
    """Logical id → what ``!Ref`` gives (table name, queue URL, bucket name, bus name, secret ARN)."""
    attrs: dict[tuple[str, str], str]
    functions: dict[str, Function]
    queue_urls: dict[str, str]
    outputs: dict[str, str] = field(default_factory=dict)
    """The template's ``Outputs``, resolved (those whose ``Condition`` holds); also the stack :data:`STACK_NAME`'s."""
    resolver: Resolver | None = None
    """The template's intrinsics against these resources (``local.iam`` resolves the roles with it)."""


class Resolver:
    """Evaluates the intrinsics our template uses against the local resources."""

    def __init__(self, template: dict, names: dict[str, str], attrs: dict, parameters: dict[str, str],
                 api_urls: dict[str, str] | None = None):
        self.template = template
        self.names = names
        self.attrs = attrs
        self.parameters = parameters
        self.api_urls = api_urls or {}
        """API logical id → the URL it is served at locally (its ``https://`` ``execute-api`` URL resolves to that);
        ``<logical id>:wss`` → a WebSocket API's local ``ws://`` URL (its ``wss://`` URL resolves to that)."""

    def ref(self, name: str) -> str:
        if name == "AWS::Region":
            return REGION
        if name == "AWS::AccountId":
            return ACCOUNT
        if name == "AWS::StackName":
            return STACK_NAME
        if name == "AWS::URLSuffix":
            return "amazonaws.com"
        if name == "AWS::Partition":
            return "aws"
        if name in self.parameters:
            return self.parameters[name]
        if name in self.template.get("Parameters", {}):
            return str(self.template["Parameters"][name].get("Default", ""))
        return self.names[name]

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def sub(self, arg: str | list) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.value(arg[1]))
        api = EXECUTE_API_URL.match(text)
        key = api and (api.group(2) if api.group(1) == "https" else f"{api.group(2)}:wss")
        if api and key in self.api_urls:
            text = self.api_urls[key].rstrip("/") + text[api.end():]

        def repl(match: re.Match) -> str:
            token = match.group(1)
            if token.startswith("!"):  # ${!Literal} is the literal ${Literal}
                return "${" + token[1:] + "}"
            if token in extra:
                return str(extra[token])
            if "." in token and not token.startswith("AWS::"):
                logical, attr = token.split(".", 1)
                return self.attrs[(logical, attr)]
            return str(self.ref(token))

        return re.sub(r"\$\{([^}]+)\}", repl, text)

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.attrs[(logical, self.value(attr))]
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::Equals":
                return self.value(arg[0]) == self.value(arg[1])
            if key == "Fn::And":
                return all(self.value(v) for v in arg)
            if key == "Fn::Or":
                return any(self.value(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.value(arg[1]))
            if key == "Fn::Select":
                return self.value(arg[1])[int(self.value(arg[0]))]
        return {k: self.value(v) for k, v in node.items()}


def env_value(value: Any) -> str:
    """A resolved environment value as Lambda sees it (CloudFormation writes booleans in lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


SQS_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
                  "VisibilityTimeout", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled",
                  "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
"""``AWS::SQS::Queue`` properties that are SQS queue attributes of the same name."""
GSI_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")
"""The parts of a CloudFormation index the DynamoDB API takes (it has no ``ContributorInsightsSpecification``)."""


def queue_attributes(props: dict) -> dict[str, str]:
    attributes = {k: env_value(props[k]) for k in SQS_ATTRIBUTES if k in props}
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            attributes[key] = props[key] if isinstance(props[key], str) else json.dumps(props[key])
    return attributes


def table_arguments(props: dict) -> dict:
    kwargs = {k: props[k] for k in ("AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput")
              if k in props}
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            kwargs[key] = [{k: index[k] for k in GSI_KEYS if k in index} for index in props[key]]
    return kwargs


RULE_TARGET_KEYS = ("Id", "Arn", "Input", "InputPath", "InputTransformer", "SqsParameters", "RoleArn")
"""The parts of a CloudFormation rule target the EventBridge API takes."""


def create_rule(events, logical_id: str, props: dict) -> tuple[str, str]:
    """Create an ``AWS::Events::Rule`` (resolved ``props``) with its targets; returns ``(name, arn)``.

    moto delivers a bucket's S3 events to the rules of *every* bus (AWS: the default bus only), with the
    same ``id`` each time, ``time`` as a number and ``eTag`` for ``etag``; the stack's rules do not depend
    on any of that (``usecases.intake`` keys S3 requests by bucket/key/version)."""
    bus = props.get("EventBusName", "default")
    name = props.get("Name", f"{STACK_NAME}-{logical_id}")
    arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(props["EventPattern"]),
                          State=props.get("State", "ENABLED"))["RuleArn"]
    targets = [{k: target[k] for k in RULE_TARGET_KEYS if k in target} for target in props.get("Targets", [])]
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    return name, arn


def http_routes(template: dict, properties: dict) -> list[HttpRoute]:
    """The ``HttpApi`` events of a function: their API (``ApiId``; ``HttpApi`` when none), method, path and
    authorizer (the route's own ``Auth.Authorizer``, else its API's ``DefaultAuthorizer``, else ``NONE``)."""
    routes = []
    for event in properties.get("Events", {}).values():
        if event["Type"] != "HttpApi":
            continue
        ep = event["Properties"]
        api = ep["ApiId"]["Ref"] if isinstance(ep.get("ApiId"), dict) and "Ref" in ep["ApiId"] else "HttpApi"
        default = template["Resources"].get(api, {}).get("Properties", {}).get("Auth", {}).get("DefaultAuthorizer", "NONE")
        routes.append(HttpRoute(api, ep["Method"].upper(), ep["Path"], ep.get("Auth", {}).get("Authorizer", default)))
    return routes


def lambda_authorizers(template: dict) -> dict[tuple[str, str], LambdaAuthorizer]:
    """``(api, name)`` → each HTTP API's Lambda authorizer, with SAM's defaults (``ReauthorizeEvery`` 300 s, simple
    responses off). Raises ``ValueError`` for a ``FunctionArn`` that is not ``!GetAtt <function>.Arn``."""
    found = {}
    for api, res in template["Resources"].items():
        if res["Type"] != "AWS::Serverless::HttpApi":
            continue
        for name, spec in res.get("Properties", {}).get("Auth", {}).get("Authorizers", {}).items():
            if "FunctionArn" not in spec:
                continue  # a JWT authorizer: not run locally
            target = spec["FunctionArn"].get("Fn::GetAtt") if isinstance(spec["FunctionArn"], dict) else None
            if not target or list(target)[1:] != ["Arn"]:
                raise ValueError(f"{api}.{name}: FunctionArn must be !GetAtt <function>.Arn locally")
            identity = spec.get("Identity", {})
            found[(api, name)] = LambdaAuthorizer(
                api=api, name=name, function=target[0], headers=tuple(identity.get("Headers", ())),
                ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
                payload_version=str(spec.get("AuthorizerPayloadFormatVersion", "")),
                simple_responses=bool(spec.get("EnableSimpleResponses", False)))
    return found


def schedule_rule(events, function_logical_id: str, event_name: str, props: dict) -> tuple[str, str, str]:
    """The ``AWS::Events::Rule`` SAM makes of a function's ``Schedule`` event (logical id ``<Function><Event>``),
    enabled unless the event says ``Enabled: false`` or ``State: DISABLED``; returns ``(logical id, name, arn)``.
    It has no target locally: ``local.scheduler`` invokes the function while the rule is enabled."""
    logical_id = f"{function_logical_id}{event_name}"
    name = props.get("Name") or f"{STACK_NAME}-{logical_id}"
    state = props.get("State") or ("DISABLED" if props.get("Enabled") is False else "ENABLED")
    arn = events.put_rule(Name=name, ScheduleExpression=str(props.get("Schedule") or props.get("ScheduleExpression")),
                          State=state, Description=props.get("Description", ""))["RuleArn"]
    return logical_id, name, arn


GENERATE_OPTIONS = ("PasswordLength", "ExcludeCharacters", "ExcludeNumbers", "ExcludePunctuation", "ExcludeUppercase",
                    "ExcludeLowercase", "IncludeSpace", "RequireEachIncludedType")
"""The parts of ``GenerateSecretString`` that are ``GetRandomPassword``'s parameters of the same name."""


def generated_secret(secrets, spec: dict) -> str:
    """A secret's ``GenerateSecretString`` as CloudFormation makes it: a random password (Secrets Manager's
    ``GetRandomPassword`` with the same options) put under ``GenerateStringKey`` of ``SecretStringTemplate``, or the
    bare password without a template."""
    password = secrets.get_random_password(**{k: spec[k] for k in GENERATE_OPTIONS if k in spec})["RandomPassword"]
    if "SecretStringTemplate" not in spec:
        return password
    document = json.loads(spec["SecretStringTemplate"])
    document[spec["GenerateStringKey"]] = password
    return json.dumps(document)


def create_stack(cloudformation, name: str, outputs: dict[str, str], descriptions: dict[str, str]) -> None:
    """A CloudFormation stack ``name`` whose ``Outputs`` are ``outputs`` as literal values (its one resource is a
    ``WaitConditionHandle``, which makes nothing): ``describe-stacks`` then answers as for the deployed stack."""
    body = {"Resources": {"LocalStack": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {key: {"Value": value} | ({"Description": descriptions[key]} if descriptions.get(key) else {})
                        for key, value in outputs.items()}}
    # moto's CloudFormation creates no WaitConditionHandle (there is nothing to create) and warns that it does not
    warnings.filterwarnings("ignore", message="Tried to parse AWS::CloudFormation::WaitConditionHandle",
                            category=UserWarning)
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(body))


def create_resources(session, template: dict, parameters: dict[str, str] | None = None,
                     secret_value: dict | None = None, api_url: str | None = None,
                     api_urls: dict[str, str] | None = None,
                     websocket_urls: tuple[str, str] | None = None) -> LocalResources:
    """Create the template's data resources in moto (via ``session``, a boto3 Session), resolve functions and the
    ``Outputs`` and hold them in the CloudFormation stack :data:`STACK_NAME`. ``api_url``: where the local gateway
    serves the template's HTTP APIs (their ``execute-api`` URLs resolve to it); ``api_urls``: HTTP API logical id →
    its own URL, for APIs served elsewhere. ``websocket_urls``: the local WebSocket API's ``ws://`` base URL and its
    management API's ``http://`` base URL (``local.websocket``), without the stage."""
    resources = template["Resources"]
    names: dict[str, str] = {}
    attrs: dict[tuple[str, str], str] = {}
    api_urls = {lid: api_url for lid, res in resources.items() if api_url and res["Type"] == "AWS::Serverless::HttpApi"} \
        | (api_urls or {})
    if websocket_urls:
        for lid, res in resources.items():
            if res["Type"] == "AWS::ApiGatewayV2::Api" and res["Properties"].get("ProtocolType") == "WEBSOCKET":
                api_urls[f"{lid}:wss"], api_urls[lid] = websocket_urls
    resolver = Resolver(template, names, attrs, parameters or {}, api_urls)
    queue_urls: dict[str, str] = {}

    dynamodb = session.client("dynamodb")
    sqs = session.client("sqs")
    s3 = session.client("s3")
    events = session.client("events")
    secrets = session.client("secretsmanager")
    kms = session.client("kms")
    sns = session.client("sns")

    def of_type(kind: str):
        """The resources of type ``kind`` that the stack would make (their ``Condition``, if any, holds)."""
        return [(lid, res) for lid, res in resources.items()
                if res["Type"] == kind and ("Condition" not in res or resolver.condition(res["Condition"]))]

    # KMS keys first: queues, tables and the secret name them (moto stores the key id and encrypts nothing).
    for logical_id, _ in of_type("AWS::KMS::Key"):
        key = kms.create_key(Description=f"{STACK_NAME}-{logical_id}")["KeyMetadata"]
        names[logical_id] = key["KeyId"]
        attrs[(logical_id, "Arn")] = key["Arn"]
        attrs[(logical_id, "KeyId")] = key["KeyId"]

    # Queues: DLQs (no redrive) first, then the queues that point at them.
    queues = sorted(of_type("AWS::SQS::Queue"), key=lambda item: "RedrivePolicy" in item[1].get("Properties", {}))
    for logical_id, res in queues:
        props = resolver.value(res.get("Properties", {}))
        fifo = ".fifo" if props.get("FifoQueue") else ""
        name = props.get("QueueName", f"{STACK_NAME}-{logical_id}{fifo}")
        url = sqs.create_queue(QueueName=name, Attributes=queue_attributes(props))["QueueUrl"]
        names[logical_id] = url
        queue_urls[logical_id] = url
        attrs[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        attrs[(logical_id, "QueueName")] = name
        attrs[(logical_id, "QueueUrl")] = url

    for logical_id, res in of_type("AWS::DynamoDB::Table"):
        props = resolver.value(res["Properties"])
        name = props.get("TableName", f"{STACK_NAME}-{logical_id}")
        dynamodb.create_table(TableName=name, **table_arguments(props))
        if "TimeToLiveSpecification" in props:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
        names[logical_id] = name
        attrs[(logical_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"

    # Buckets that receive access logs (no LoggingConfiguration) first, then the buckets that log to them.
    buckets = sorted(of_type("AWS::S3::Bucket"), key=lambda item: "LoggingConfiguration" in item[1].get("Properties", {}))
    for logical_id, res in buckets:
        props = resolver.value(res.get("Properties", {}))
        name = props.get("BucketName", f"{STACK_NAME}-{logical_id.lower()}")
        s3.create_bucket(Bucket=name)
        if "BucketEncryption" in props:
            # CloudFormation says ServerSideEncryptionByDefault where the S3 API says ApplyServerSideEncryptionByDefault
            rules = [{"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                     for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "VersioningConfiguration" in props:  # S3 events then name the object version (the S3 door reads it)
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
        if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            # moto then sends S3's events to EventBridge as S3 does (see ``event_rules`` for how it differs)
            s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}})
        names[logical_id] = name
        attrs[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"

    for logical_id, res in of_type("AWS::Events::EventBus"):
        props = resolver.value(res["Properties"])
        arn = events.create_event_bus(Name=props["Name"])["EventBusArn"]
        names[logical_id] = props["Name"]
        attrs[(logical_id, "Arn")] = arn

    for logical_id, res in of_type("AWS::Events::Rule"):
        props = resolver.value(res["Properties"])
        names[logical_id], attrs[(logical_id, "Arn")] = create_rule(events, logical_id, props)

    for logical_id, res in of_type("AWS::SecretsManager::Secret"):
        props = resolver.value(res["Properties"])
        if "GenerateSecretString" in props:  # made here, as CloudFormation makes it (moto's CreateSecret takes a value)
            value = generated_secret(secrets, props["GenerateSecretString"])
        else:  # ``secret_value`` (the provider keys) stands in for what is put there after a deploy
            value = json.dumps(secret_value) if secret_value is not None else props.get("SecretString", "{}")
        arn = secrets.create_secret(Name=props.get("Name", f"{STACK_NAME}-{logical_id}"), SecretString=value)["ARN"]
        names[logical_id] = arn

    for logical_id, res in of_type("AWS::SNS::Topic"):
        props = resolver.value(res.get("Properties", {}))
        name = props.get("TopicName", f"{STACK_NAME}-{logical_id}")
        topic_attributes = {k: env_value(props[k]) for k in ("DisplayName", "KmsMasterKeyId") if k in props}
        arn = sns.create_topic(Name=name, Attributes=topic_attributes)["TopicArn"]
        names[logical_id] = arn
        attrs[(logical_id, "TopicArn")] = arn
        attrs[(logical_id, "TopicName")] = name

    for logical_id, res in of_type("AWS::SNS::Subscription"):  # moto confirms every subscription at once
        props = resolver.value(res["Properties"])
        names[logical_id] = sns.subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"],
                                          Endpoint=props["Endpoint"])["SubscriptionArn"]

    for logical_id, _ in of_type("AWS::Serverless::HttpApi") + of_type("AWS::ApiGatewayV2::Api"):
        names.setdefault(logical_id, LOCAL_API_ID)
    for logical_id, res in of_type("AWS::ApiGatewayV2::Stage"):  # !Ref of a stage is its name
        names[logical_id] = res["Properties"]["StageName"]
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    global_timeout = template.get("Globals", {}).get("Function", {}).get("Timeout", 3)
    functions: dict[str, Function] = {}
    for logical_id, res in of_type("AWS::Serverless::Function"):
        props = res["Properties"]
        env = {**globals_env, **props.get("Environment", {}).get("Variables", {})}
        function = Function(
            logical_id=logical_id, code_uri=ROOT / props["CodeUri"], handler=props["Handler"],
            timeout=int(props.get("Timeout", global_timeout)),
            environment={k: env_value(resolver.value(v)) for k, v in env.items()},
            routes=http_routes(template, props),
        )
        if "ReservedConcurrentExecutions" in props:
            function.reserved_concurrency = int(resolver.value(props["ReservedConcurrentExecutions"]))
        for event_name, event in props.get("Events", {}).items():
            if event["Type"] == "SQS":
                queue = event["Properties"]["Queue"]["Fn::GetAtt"]
                queue_logical = queue.split(".", 1)[0] if isinstance(queue, str) else queue[0]
                function.queues.append((queue_logical, int(event["Properties"].get("BatchSize", 10))))
                scaling = event["Properties"].get("ScalingConfig", {})
                if "MaximumConcurrency" in scaling:
                    function.queue_concurrency[queue_logical] = int(resolver.value(scaling["MaximumConcurrency"]))
            elif event["Type"] in ("Schedule", "ScheduleV2"):
                schedule = resolver.value(event["Properties"])
                function.schedules.append(str(schedule.get("Schedule") or schedule.get("ScheduleExpression")))
                if event["Type"] == "Schedule":
                    rule_id, name, arn = schedule_rule(events, logical_id, event_name, schedule)
                    names[rule_id], attrs[(rule_id, "Arn")] = name, arn
                    function.schedule_rules.append(names[rule_id])
        functions[logical_id] = function

    declared = template.get("Outputs", {})
    outputs = {key: str(resolver.value(output["Value"])) for key, output in declared.items()
               if "Condition" not in output or resolver.condition(output["Condition"])}
    create_stack(session.client("cloudformation"), STACK_NAME, outputs,
                 {key: str(output.get("Description", "")) for key, output in declared.items()})
    return LocalResources(names=names, attrs=attrs, functions=functions, queue_urls=queue_urls, outputs=outputs,
                          resolver=resolver)
