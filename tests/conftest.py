"""Session-wide: the roles audit. Every function's role in ``template.yaml`` allows
what its code really calls on the local stacks of this run, and grants nothing it never calls.

Every ``LocalStack`` records its functions' AWS calls (``local.aws_calls``): the CLI tests' stack and the integration
tests' (one of each per process). When the run's tests are done, those calls — each mapped to the IAM action and
resource it needs and evaluated against the function's ``Policies`` resolved to its stack's ARNs, by moto's IAM
evaluator (``local.iam``) — are judged:

* a call the role does not allow (AccessDenied on AWS), or one ``local.iam`` cannot map, fails the run;
* a grant no call used fails the run too, but only when the run selected the whole of ``tests/cli`` and
  ``tests/integration`` (``selected`` is ``all``): otherwise a grant's test may not have run.

With pytest-xdist each worker's stacks see only that worker's tests, so each worker sends its findings to the
controller (``workeroutput``, as pytest-cov sends coverage data) and the controller judges their sum, once. A run of
one process judges its own. Failing adds to the session's failures (exit status 1) as ``--cov-fail-under`` does;
what failed and the table of calls per function are printed in the terminal summary.
"""

from __future__ import annotations

import base64
import pickle  # nosec B403 - between this run's own pytest processes
import traceback
from pathlib import Path

import pytest

from local import aws_calls, iam
from local.stack import LocalStack
from local.template import load_template

STACK_SUITES = tuple(Path(__file__).resolve().parent / name for name in ("cli", "integration"))
"""The suites whose tests run a local stack: the audit has calls only when some of them ran."""
WORKER_KEY = "roles_audit"
"""The key of a worker's ``(selected, findings)`` in its ``workeroutput``."""

SELECTED = pytest.StashKey[str]()
"""``all``, ``some`` or ``none``: how much of ``STACK_SUITES`` this run selected."""
_DESELECTED = pytest.StashKey[int]()
_FROM_WORKERS = pytest.StashKey[list[tuple[str, iam.Findings, str | None]]]()
"""(controller) Each worker's ``(selected, findings, error)``: ``error`` the traceback of an audit that could not run."""
_REPORT = pytest.StashKey[list[str]]()


def problems(findings: iam.Findings, selected: str, functions: set[str]) -> list[str]:
    """What fails the audit (empty: it passes). ``functions``: every function of the template (logical ids)."""
    found = [f"a call local.iam cannot map: {message} ({count} calls)" for message, count in findings.unmapped.items()]
    found += [f"a call the role does not allow (AccessDenied on AWS): {function} {operation}: {need.action} on "
              f"{need.resource} ({count} calls)" for (function, operation, need), count in findings.denied.items()]
    if selected == "all":
        found += [f"a function no test exercised: {name}" for name in sorted(functions - {f for f, _ in findings.calls})]
        found += [f"a function whose role grants nothing: {name}"
                  for name in sorted(functions - {grant.function for grant in findings.granted.values()})]
        found += [f"a grant no call used: {g.function} {g.statement}: {g.action} on {g.resource}"
                  for g in findings.unused]
    return found


def this_process_findings() -> iam.Findings:
    """The findings of every local stack this process ran (not a test's own recording of calls)."""
    total = iam.Findings()
    for log in aws_calls.logs():
        if isinstance(log.context, LocalStack):
            total += log.context.audit()
    return total


def _on_a_stack(items: list[pytest.Item]) -> list[pytest.Item]:
    return [item for item in items if any(suite in item.path.parents for suite in STACK_SUITES)]


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        stash = items[0].config.stash
        stash[_DESELECTED] = stash.get(_DESELECTED, 0) + len(_on_a_stack(items))


@pytest.hookimpl(trylast=True)  # after the deselections (-k, -m, --deselect)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = _on_a_stack(items)
    files = {path for suite in STACK_SUITES for path in suite.glob("test_*.py")}
    whole = not config.stash.get(_DESELECTED, 0) and {item.path for item in selected} == files
    config.stash[SELECTED] = "all" if whole else "some" if selected else "none"


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workeroutput"):  # an xdist worker: its share goes to the controller
        try:
            share = (config.stash.get(SELECTED, "none"), this_process_findings(), None)
        except Exception:  # (xdist would drop a worker's error here: the controller fails the run with it)
            share = (config.stash.get(SELECTED, "none"), iam.Findings(), traceback.format_exc())
        config.workeroutput[WORKER_KEY] = base64.b64encode(pickle.dumps(share)).decode()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """(xdist, controller) A worker is done: keep its share."""
    share = getattr(node, "workeroutput", {}).get(WORKER_KEY)
    if share:
        received = node.config.stash.setdefault(_FROM_WORKERS, [])
        received.append(pickle.loads(base64.b64decode(share)))  # noqa: S301  # nosec B301 - our own worker's pickle


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    result = yield
    config = session.config
    if hasattr(config, "workerinput"):  # an xdist worker: the controller judges
        return result
    if config.pluginmanager.has_plugin("dsession"):  # the xdist controller: the workers' shares
        shares = config.stash.get(_FROM_WORKERS, [])
        selected = next((s for s, _, _ in shares if s != "none"), "none")
        findings, errors = iam.Findings(), [error for _, _, error in shares if error]
        for _, share, _ in shares:
            findings += share
    else:
        selected, findings, errors = config.stash.get(SELECTED, "none"), this_process_findings(), []
    if selected == "none" and not errors:
        return result
    functions = {lid for lid, res in load_template()["Resources"].items() if res["Type"] == "AWS::Serverless::Function"}
    failed = [f"the audit could not run in a worker: {error}" for error in errors] + problems(findings, selected, functions)
    config.stash[_REPORT] = findings.table() + [f"ROLES AUDIT FAILED: {line}" for line in failed]
    if failed:
        session.testsfailed += 1
    return result


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    lines = config.stash.get(_REPORT, None)
    if lines:
        terminalreporter.write_sep("-", "AWS calls per function, against its role in template.yaml (tests/conftest.py)")
        for line in lines:
            terminalreporter.write_line(line, red=line.startswith("ROLES AUDIT FAILED"))
