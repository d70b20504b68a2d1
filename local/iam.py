"""What IAM each recorded AWS call needs, and whether its function's role in ``template.yaml`` allows it.

- ``needs(call, secret_arns)``: the ``(action, resource ARN, condition keys)`` a ``local.aws_calls.Call`` needs. The
  action is ``<service prefix>:<Operation>`` except where IAM names it otherwise (``EXCEPTIONS``; sources: the
  Service Authorization Reference pages of S3, SQS, DynamoDB, EventBridge, Secrets Manager, Step Functions and the
  API Gateway management API, whose calls need ``execute-api:ManageConnections``). An
  operation this module does not know raises ``Unmapped``: the audit fails on it rather than skipping it.
- ``role_statements(template, function, resolve)``: the statements of a function's ``Policies``: its own,
  the stack's ``AWS::IAM::ManagedPolicy`` resources named by ``!Ref``, and SAM's ``SQSSendMessagePolicy``
  expanded as SAM expands it. Not there: the AWS managed policies SAM adds to every role
  (``AWSLambdaBasicExecutionRole``; ``AWSLambdaSQSQueueExecutionRole`` for the SQS consumers, used by the event
  source mapping, whose calls ``local.aws_calls`` does not attribute to the function).
- ``audit(template, resources, calls)``: every call's needs evaluated against its function's role with moto's IAM
  evaluator (``moto.iam.access_control.IAMPolicy``), and which grants the calls exercised: each ``(action,
  resource)`` pair of each statement, evaluated alone. ``Findings`` adds up the audits of several stacks.

Implicit grants: the ``kms:`` statements (the data key used through DynamoDB, SQS and Secrets Manager, with
``kms:ViaService``) are exercised by those services on the function's behalf, never by a call of its own; they are
checked statically (``tests/unit/test_template_security.py``). moto 5.2.5 evaluates ``StringEquals`` conditions
only and takes any other operator as met (``moto.iam.policy_conditions``): ingest's ``s3:prefix`` ``StringLike``
on ``s3:ListBucket`` is pinned by that unit test, not evaluated here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit

from moto.iam.access_control import IAMPolicy, PermissionResult

from .aws_calls import Call
from .template import ACCOUNT, LOCAL_API_ID, REGION, LocalResources

IMPLICIT_PREFIXES = ("kms:",)
"""Actions of grants no call of the function's own exercises (module docstring)."""


class Need(NamedTuple):
    action: str
    resource: str
    conditions: tuple[tuple[str, str], ...] = ()
    """Condition keys of the request (``s3:prefix``), as ``(key, value)`` pairs."""


class Unmapped(LookupError):
    """A call whose IAM needs this module does not know."""


# -- operation → IAM ---------------------------------------------------------------------------
def _object(params: dict, key: str | None = None) -> str:
    return f"arn:aws:s3:::{params['Bucket']}/{params['Key'] if key is None else key}"


def _bucket(params: dict) -> str:
    return f"arn:aws:s3:::{params['Bucket']}"


def _table(name: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def _queue(url: str) -> str:
    account, name = urlsplit(url).path.strip("/").split("/")[-2:]
    return f"arn:aws:sqs:{REGION}:{account}:{name}"


def _bus(name: str | None) -> str:
    name = name or "default"
    return name if name.startswith("arn:") else f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}"


def _version(read: str, params: dict) -> str:
    """A request naming a ``VersionId`` needs the ``...Version`` action (``s3:GetObjectVersion``)."""
    return read + "Version" if params.get("VersionId") else read


def _s3_prefix(params: dict) -> tuple[tuple[str, str], ...]:
    return (("s3:prefix", params["Prefix"]),) if "Prefix" in params else ()


def _on_object(action: str) -> Callable[[dict], list[Need]]:
    return lambda p: [Need(action, _object(p))]


def _listing(action: str) -> Callable[[dict], list[Need]]:
    """``action`` on the bucket, with the listed ``Prefix`` as the ``s3:prefix`` condition key."""
    return lambda p: [Need(action, _bucket(p), _s3_prefix(p))]


def _on_table(action: str, *, index: bool = False) -> Callable[[dict], list[Need]]:
    """``action`` on the ``TableName`` (and its ``IndexName``, when ``index`` and the call names one)."""
    return lambda p: [Need(action, _table(p["TableName"]) + (f"/index/{p['IndexName']}" if index and p.get("IndexName")
                                                              else ""))]


def _on_queue(action: str) -> Callable[[dict], list[Need]]:
    return lambda p: [Need(action, _queue(p["QueueUrl"]))]


def _on_nothing(action: str) -> Callable[[dict], list[Need]]:
    """An action that names no resource (IAM scopes it by action only): ``*``."""
    return lambda p: [Need(action, "*")]


S3: dict[str, Callable[[dict], list[Need]]] = {
    "GetObject": lambda p: [Need(_version("s3:GetObject", p), _object(p))],
    "HeadObject": lambda p: [Need(_version("s3:GetObject", p), _object(p))],
    **{op: _on_object("s3:PutObject") for op in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")},
    "AbortMultipartUpload": _on_object("s3:AbortMultipartUpload"),
    "ListParts": _on_object("s3:ListMultipartUploadParts"),
    "DeleteObject": lambda p: [Need(_version("s3:DeleteObject", p), _object(p))],
    "DeleteObjects": lambda p: [Need(_version("s3:DeleteObject", o), _object(p, o["Key"])) for o in p["Delete"]["Objects"]],
    **{op: _listing(action) for op, action in {
        "ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket", "ListObjectVersions": "s3:ListBucketVersions",
        "ListMultipartUploads": "s3:ListBucketMultipartUploads"}.items()},
}
S3_UNMODELLED = ("ACL", "GrantRead", "GrantReadACP", "GrantWriteACP", "GrantFullControl", "Tagging", "ObjectLockMode",
                 "ObjectLockLegalHoldStatus", "BypassGovernanceRetention")
"""Parameters that need further actions (``s3:PutObjectAcl``, ``s3:PutObjectTagging``...): not modelled, so refused."""

DYNAMODB: dict[str, Callable[[dict], list[Need]]] = {
    **{op: _on_table(f"dynamodb:{op}") for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable")},
    **{op: _on_table(f"dynamodb:{op}", index=True) for op in ("Query", "Scan")},
    # the batch operations are IAM actions of their own, one per table named
    "BatchGetItem": lambda p: [Need("dynamodb:BatchGetItem", _table(t)) for t in p["RequestItems"]],
    "BatchWriteItem": lambda p: [Need("dynamodb:BatchWriteItem", _table(t)) for t in p["RequestItems"]],
    # a transaction needs each of its items' own action
    "TransactWriteItems": lambda p: [Need(f"dynamodb:{'ConditionCheckItem' if kind == 'ConditionCheck' else kind + 'Item'}",
                                          _table(spec["TableName"]))
                                     for item in p["TransactItems"] for kind, spec in item.items()],
    "TransactGetItems": lambda p: [Need("dynamodb:GetItem", _table(item["Get"]["TableName"])) for item in p["TransactItems"]],
}

SQS: dict[str, Callable[[dict], list[Need]]] = {
    **{op: _on_queue(f"sqs:{op}") for op in ("SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility",
                                              "GetQueueAttributes", "PurgeQueue")},
    # a batch needs the action of its single form
    **{f"{op}Batch": _on_queue(f"sqs:{op}") for op in ("SendMessage", "DeleteMessage", "ChangeMessageVisibility")},
    "GetQueueUrl": lambda p: [Need("sqs:GetQueueUrl", f"arn:aws:sqs:{REGION}:{p.get('QueueOwnerAWSAccountId', ACCOUNT)}:"
                                                      f"{p['QueueName']}")],
}

EVENTS: dict[str, Callable[[dict], list[Need]]] = {
    "PutEvents": lambda p: [Need("events:PutEvents", _bus(entry.get("EventBusName"))) for entry in p["Entries"]],
}

STATES: dict[str, Callable[[dict], list[Need]]] = {
    op: _on_nothing(f"states:{op}") for op in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")  # task tokens
}

MANAGE_CONNECTIONS = ("PostToConnection", "GetConnection", "DeleteConnection")
"""The WebSocket management API's operations: IAM's one action for them is ``execute-api:ManageConnections``."""


def _connection(call: Call) -> list[Need]:
    """``execute-api:ManageConnections`` on ``arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/{METHOD}
    /@connections/{connection id}`` (AWS docs, "Use @connections commands in your backend service"): the api id is the
    endpoint's first host label (``{api-id}.execute-api…``; the local stack's is ``local``), the stage its path."""
    parts = urlsplit(call.endpoint)
    api = parts.hostname.split(".")[0] if ".execute-api." in (parts.hostname or "") else LOCAL_API_ID
    stage = parts.path.strip("/").split("/")[0]
    method = {"PostToConnection": "POST", "GetConnection": "GET", "DeleteConnection": "DELETE"}[call.operation]
    return [Need("execute-api:ManageConnections",
                 f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api}/{stage}/{method}/@connections/{call.params['ConnectionId']}")]


OPERATIONS = {"s3": S3, "dynamodb": DYNAMODB, "sqs": SQS, "events": EVENTS, "states": STATES}
"""IAM service prefix → operation → the needs of a call of it (Secrets Manager: ``needs``)."""
SECRETS_OPERATIONS = ("GetSecretValue", "DescribeSecret")


def needs(call: Call, secret_arns: Iterable[str] = ()) -> list[Need]:
    """What ``call`` needs from IAM. A secret named by name is found among ``secret_arns`` (its ARN ends in
    ``:secret:<name>-XXXXXX``). Raises ``Unmapped`` for an operation (or parameter) not modelled here."""
    if call.service == "secretsmanager" and call.operation in SECRETS_OPERATIONS:
        return [Need(f"secretsmanager:{call.operation}", _secret(call.params["SecretId"], secret_arns))]
    if call.service == "execute-api" and call.operation in MANAGE_CONNECTIONS:
        return _connection(call)
    mapping = OPERATIONS.get(call.service, {}).get(call.operation)
    if mapping is None:
        raise Unmapped(f"{call.function}: {call.service}:{call.operation} has no IAM mapping in local.iam")
    if call.service == "s3" and (extra := sorted(set(call.params) & set(S3_UNMODELLED))):
        raise Unmapped(f"{call.function}: s3:{call.operation} with {extra} needs actions local.iam does not model")
    return mapping(call.params)


def _secret(secret_id: str, secret_arns: Iterable[str]) -> str:
    if secret_id.startswith("arn:"):
        return secret_id
    for arn in secret_arns:
        if arn.split(":secret:", 1)[-1].rsplit("-", 1)[0] == secret_id:
            return arn
    raise Unmapped(f"secret {secret_id!r} is none of this stack's secrets")


# -- the role ----------------------------------------------------------------------------------
SAM_POLICY_TEMPLATES: dict[str, Callable[[dict], list[dict]]] = {
    # samtranslator/policy_templates_data/policy_templates.json (aws/serverless-application-model)
    "SQSSendMessagePolicy": lambda p: [{
        "Effect": "Allow", "Action": ["sqs:SendMessage*"],
        "Resource": {"Fn::Sub": ["arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${queueName}",
                                 {"queueName": p["QueueName"]}]}}],
}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def role_statements(template: dict, function: str, resolve: Callable = lambda node: node) -> list[dict]:
    """The function's policy statements, each passed through ``resolve`` (``Resolver.value`` for concrete ARNs;
    by default the template's own intrinsics are kept). Raises ``ValueError`` for a policy it cannot expand
    (an AWS managed policy, another SAM policy template): what is not read here could not be audited."""
    resources = template["Resources"]
    found: list[dict] = []
    for policy in as_list(resources[function]["Properties"].get("Policies", [])):
        name = next(iter(policy), None) if isinstance(policy, dict) and len(policy) == 1 else None
        if isinstance(policy, dict) and "Statement" in policy:
            found += as_list(policy["Statement"])
        elif name == "Ref" and resources.get(policy["Ref"], {}).get("Type") == "AWS::IAM::ManagedPolicy":
            found += as_list(resources[policy["Ref"]]["Properties"]["PolicyDocument"]["Statement"])
        elif name in SAM_POLICY_TEMPLATES:
            found += SAM_POLICY_TEMPLATES[name](policy[name])
        else:
            raise ValueError(f"{function}: policy {policy!r} is not one local.iam can read")
    return [resolve(statement) for statement in found]


class Grant(NamedTuple):
    """One ``(action, resource)`` pair of one statement of a function's role; ``resource`` as resolved."""
    function: str
    statement: str
    """``Sid``, or ``#<index>`` of a statement without one."""
    action: str
    resource: str


def grants(statements: list[dict], function: str) -> list[tuple[Grant, IAMPolicy]]:
    """Every explicit grant (no ``IMPLICIT_PREFIXES`` action) of the resolved ``statements``, with a policy of it alone
    (its conditions kept)."""
    found = []
    for index, st in enumerate(statements):
        if st["Effect"] != "Allow":
            continue
        for action in as_list(st["Action"]):
            if action.startswith(IMPLICIT_PREFIXES):
                continue
            for resource in as_list(st["Resource"]):
                alone = {k: v for k, v in st.items() if k not in ("Action", "Resource", "Sid")}
                found.append((Grant(function, st.get("Sid", f"#{index}"), action, resource),
                              _policy([alone | {"Action": action, "Resource": resource}])))
    return found


def _policy(statements: list[dict]) -> IAMPolicy:
    return IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": statements}))


def permits(policy: IAMPolicy, need: Need) -> bool:
    return policy.is_action_permitted(need.action, need.resource,
                                      incoming_condition_values=dict(need.conditions)) == PermissionResult.PERMITTED


# -- the audit ---------------------------------------------------------------------------------
@dataclass
class Findings:
    """What the calls of one or more stacks say about the roles."""
    calls: Counter = field(default_factory=Counter)
    """``(function, operation)`` → calls (operation: ``"s3:GetObject (presigned)"`` for a presigned URL)."""
    actions: dict = field(default_factory=dict)
    """``(function, operation)`` → the IAM actions its calls needed."""
    denied: Counter = field(default_factory=Counter)
    """``(function, operation, Need)`` → calls the role does not allow."""
    unmapped: Counter = field(default_factory=Counter)
    """The ``Unmapped`` messages, with how many calls each."""
    granted: dict = field(default_factory=dict)
    """Every explicit grant of every role, keyed ``(function, statement, action, position among its grants)``."""
    exercised: set = field(default_factory=set)
    """The keys of ``granted`` some call needed."""

    def __iadd__(self, other: Findings) -> Findings:
        self.calls += other.calls
        for key, actions in other.actions.items():
            self.actions[key] = self.actions.get(key, set()) | actions
        self.denied += other.denied
        self.unmapped += other.unmapped
        self.granted |= other.granted
        self.exercised |= other.exercised
        return self

    @property
    def unused(self) -> list[Grant]:
        return [grant for key, grant in self.granted.items() if key not in self.exercised]

    def table(self) -> list[str]:
        """Per function: each operation with its count and moto's verdict; then the grants no call used."""
        lines = []
        for function in sorted({f for f, _ in self.calls} | {g.function for g in self.granted.values()}):
            denied = Counter()
            for (f, op, _), count in self.denied.items():
                if f == function:
                    denied[op] += count
            used = sum(1 for key in self.granted if key[0] == function and key in self.exercised)
            total = sum(1 for key in self.granted if key[0] == function)
            lines.append(f"{function}  (grants exercised: {used} of {total})")
            for (f, op), count in sorted(self.calls.items()):
                if f == function:
                    verdict = f"DENIED ({denied[op]})" if denied[op] else "allowed"
                    actions = ", ".join(sorted(self.actions.get((f, op), ()))) or "?"
                    lines.append(f"  {op:36} {count:6}  {actions:34} {verdict}")
        lines += [f"DENIED: {f} {op}: {need.action} on {need.resource} ({count} calls)"
                  for (f, op, need), count in sorted(self.denied.items())]
        lines += [f"UNMAPPED: {message} ({count} calls)" for message, count in sorted(self.unmapped.items())]
        lines += [f"UNUSED GRANT: {g.function} {g.statement}: {g.action} on {g.resource}" for g in self.unused]
        return lines


def audit(template: dict, resources: LocalResources, calls: Iterable[Call]) -> Findings:
    """The ``Findings`` of one stack's ``calls``, each role resolved with that stack's ``resources``."""
    findings = Findings()
    functions = [lid for lid, res in template["Resources"].items() if res["Type"] == "AWS::Serverless::Function"]
    secret_arns = [resources.names[lid] for lid, res in template["Resources"].items()
                   if res["Type"] == "AWS::SecretsManager::Secret"]
    roles, alone = {}, {}
    for function in functions:
        statements = role_statements(template, function, resources.resolver.value)
        roles[function] = _policy(statements)
        alone[function] = []
        for position, (grant, policy) in enumerate(grants(statements, function)):
            key = (function, grant.statement, grant.action, position)
            findings.granted[key] = grant
            alone[function].append((key, policy))
    verdicts: dict[tuple[str, Need], bool] = {}
    for call in calls:
        operation = f"{call.service}:{call.operation}" + (" (presigned)" if call.presigned else "")
        findings.calls[(call.function, operation)] += 1
        if call.function not in roles:
            findings.unmapped[f"{call.function} is no function of the template"] += 1
            continue
        try:
            call_needs = needs(call, secret_arns)
        except (Unmapped, KeyError) as exc:
            findings.unmapped[str(exc) if isinstance(exc, Unmapped) else f"{call.function}: {call.service}:"
                              f"{call.operation} lacks parameter {exc}"] += 1
            continue
        findings.actions.setdefault((call.function, operation), set()).update(need.action for need in call_needs)
        for need in call_needs:
            if (call.function, need) not in verdicts:
                verdicts[(call.function, need)] = permits(roles[call.function], need)
                findings.exercised |= {key for key, policy in alone[call.function] if permits(policy, need)}
            if not verdicts[(call.function, need)]:
                findings.denied[(call.function, operation, need)] += 1
    return findings
