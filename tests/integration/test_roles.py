"""Every function's role allows what its code really calls on the local stack, and grants nothing it never calls.

The calls are what the functions made during this session's other tests (``local.aws_calls``: the CLI tests'
stack and the integration tests'), each mapped to the IAM action and resource it needs and evaluated against
the function's ``Policies`` in ``template.yaml`` resolved to that stack's ARNs, by moto's IAM evaluator
(``local.iam``). A call the role does not allow would be AccessDenied on AWS; a grant no call uses is more than
the code needs. These run last (``tests/conftest.py``); the table is printed at the end of the run.
"""

from __future__ import annotations

import pytest

from local import aws_calls, iam
from local.stack import LocalStack
from local.template import load_template
from tests.conftest import REPORT, SELECTED

pytestmark = pytest.mark.roles_audit

FUNCTIONS = sorted(lid for lid, res in load_template()["Resources"].items() if res["Type"] == "AWS::Serverless::Function")


@pytest.fixture(scope="module")
def findings(request) -> iam.Findings:
    total = iam.Findings()
    for log in aws_calls.logs():
        if isinstance(log.context, LocalStack):  # a stack's functions (not a test's own recording)
            total += log.context.audit()
    request.config.stash[REPORT] = total.table()
    return total


def test_every_call_of_every_function_is_allowed_by_its_role(findings):
    assert not findings.unmapped, "calls local.iam cannot map to IAM:\n" + "\n".join(findings.unmapped)
    assert not findings.denied, "calls the role does not allow (AccessDenied on AWS):\n" + "\n".join(
        f"{function} {operation}: {need.action} on {need.resource}" for function, operation, need in findings.denied)


def test_every_grant_of_every_role_is_used_by_some_call(request, findings):
    if request.config.stash[SELECTED] != "all":
        pytest.skip("only part of tests/cli and tests/integration was selected: a grant's test may not have run")
    assert {function for function, _ in findings.calls} == set(FUNCTIONS)  # each one was exercised
    assert {grant.function for grant in findings.granted.values()} == set(FUNCTIONS)
    assert not findings.unused, "grants no call of the function used:\n" + "\n".join(
        f"{g.function} {g.statement}: {g.action} on {g.resource}" for g in findings.unused)

