"""Session-wide: the roles audit (``tests/integration/test_roles.py``) runs after every other test, on the AWS calls
the local stacks' functions made, and prints its table in the terminal summary.

Every ``LocalStack`` records its functions' calls (``local.aws_calls``): in one session the CLI tests' stack, then
the integration tests'. The audit items are moved last (after ``-k``/``-m`` deselection, so whatever else runs comes
first), and ``SELECTED`` says how much of the suites that run a stack (``STACK_SUITES``) this run selected: ``none``
skips the audit (nothing exercised the roles), ``some`` skips only its check that every grant is used (a grant's
test may not have run).
"""

from __future__ import annotations

from pathlib import Path

import pytest

AUDIT_MARK = "roles_audit"
STACK_SUITES = tuple(Path(__file__).resolve().parent / name for name in ("cli", "integration"))
SELECTED = pytest.StashKey[str]()
"""``all``, ``some`` or ``none``: how much of ``STACK_SUITES`` (every test file but the audit's) this run selected."""
REPORT = pytest.StashKey[list[str]]()
"""The audit's table (``local.iam.Findings.table``), printed at the end of the run."""
_DESELECTED = pytest.StashKey[int]()


def _on_a_stack(items: list[pytest.Item]) -> list[pytest.Item]:
    return [item for item in items if not item.get_closest_marker(AUDIT_MARK)
            and any(suite in item.path.parents for suite in STACK_SUITES)]


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        stash = items[0].config.stash
        stash[_DESELECTED] = stash.get(_DESELECTED, 0) + len(_on_a_stack(items))


@pytest.hookimpl(trylast=True)  # after the deselections (-k, -m, --deselect)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    audits = [item for item in items if item.get_closest_marker(AUDIT_MARK)]
    items[:] = [item for item in items if not item.get_closest_marker(AUDIT_MARK)] + audits
    selected = _on_a_stack(items)
    files = {path for suite in STACK_SUITES for path in suite.glob("test_*.py")} - {item.path for item in audits}
    whole = not config.stash.get(_DESELECTED, 0) and {item.path for item in selected} == files
    config.stash[SELECTED] = "all" if whole else "some" if selected else "none"
    if not selected:
        for item in audits:
            item.add_marker(pytest.mark.skip(reason="no test of tests/cli or tests/integration selected in this run: "
                                                    "no local stack exercised the functions' roles"))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    lines = config.stash.get(REPORT, None)
    if lines:
        terminalreporter.write_sep("-", "AWS calls per function, against its role in template.yaml (local.iam)")
        for line in lines:
            terminalreporter.write_line(line)
