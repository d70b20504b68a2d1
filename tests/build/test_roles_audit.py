"""The roles audit's verdict (``tests/conftest.py``): what fails the run, from the findings of the run's stacks, and
that a worker's findings reach the controller whole (pytest-xdist sends them pickled)."""

from __future__ import annotations

import pickle  # nosec B403 - the test's own data

from local import iam
from tests.conftest import problems

FUNCTIONS = {"ApiFunction", "IngestFunction"}


def findings(*, denied: bool = False, unmapped: bool = False, unused: bool = False) -> iam.Findings:
    """Both functions called S3 and hold one grant each; options add what the audit must refuse."""
    found = iam.Findings()
    for function in sorted(FUNCTIONS):
        found.calls[(function, "s3:GetObject")] += 3
        grant = iam.Grant(function, "Outputs", "s3:GetObject", "arn:aws:s3:::bucket/outputs/*")
        found.granted[(function, "Outputs", "s3:GetObject", 0)] = grant
        found.exercised.add((function, "Outputs", "s3:GetObject", 0))
    if denied:
        found.denied[("ApiFunction", "s3:DeleteObject", iam.Need("s3:DeleteObject", "arn:aws:s3:::bucket/x"))] += 1
    if unmapped:
        found.unmapped["sqs PurgeQueue"] += 2
    if unused:
        found.granted[("IngestFunction", "Extra", "sqs:SendMessage", 1)] = iam.Grant(
            "IngestFunction", "Extra", "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q")
    return found


def test_calls_every_role_allows_with_every_grant_used_pass():
    assert problems(findings(), "all", FUNCTIONS) == []


def test_a_denied_call_or_an_unmapped_one_fails_whatever_ran():
    for selected in ("all", "some"):
        assert [line.split(":")[0] for line in problems(findings(denied=True, unmapped=True), selected, FUNCTIONS)] == [
            "a call local.iam cannot map", "a call the role does not allow (AccessDenied on AWS)"]


def test_an_unused_grant_fails_only_when_every_stack_test_ran():
    assert problems(findings(unused=True), "all", FUNCTIONS) == [
        "a grant no call used: IngestFunction Extra: sqs:SendMessage on arn:aws:sqs:us-east-1:123456789012:q"]
    assert problems(findings(unused=True), "some", FUNCTIONS) == []


def test_a_function_no_test_exercised_fails_when_every_stack_test_ran():
    assert problems(findings(), "all", FUNCTIONS | {"ReconcileFunction"}) == [
        "a function no test exercised: ReconcileFunction", "a function whose role grants nothing: ReconcileFunction"]


def test_findings_summed_from_workers_are_the_findings_of_one_process():
    one, other = findings(denied=True), findings(unused=True)
    total = iam.Findings()
    for share in (one, other):
        total += pickle.loads(pickle.dumps(share))  # noqa: S301  # nosec B301 - as a worker's share arrives
    assert total.denied == one.denied and total.calls == one.calls + other.calls
    assert [g.action for g in total.unused] == ["sqs:SendMessage"]
