"""Each function's handler is imported with that function's environment, as in its own Lambda sandbox."""

from __future__ import annotations

import os

import pytest

from local.runtime import LocalFunction
from local.stack import common_environment
from local.template import Function

PROBE = '''import os

SEEN = {key: os.environ.get(key) for key in ("POWERTOOLS_SERVICE_NAME", "ONLY_ALPHA", "SHARED")}
if os.environ.get("FAIL_IMPORT"):
    raise RuntimeError("import failed")


def handler(event, context):
    return {"at_import": SEEN, "at_invoke": os.environ.get("POWERTOOLS_SERVICE_NAME"), "function": context.function_name}
'''


def probe(tmp_path, logical_id: str, environment: dict[str, str]) -> Function:
    code = tmp_path / logical_id
    code.mkdir()
    (code / "app.py").write_text(PROBE)
    return Function(logical_id=logical_id, code_uri=code, handler="app.handler", timeout=3, environment=environment)


def test_each_import_sees_its_own_environment_and_leaves_the_process_one(tmp_path, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "outer")
    monkeypatch.setenv("SHARED", "process")
    monkeypatch.delenv("ONLY_ALPHA", raising=False)
    before = dict(os.environ)
    alpha = LocalFunction(probe(tmp_path, "EnvProbeAlpha", {"POWERTOOLS_SERVICE_NAME": "alpha", "ONLY_ALPHA": "1",
                                                            "SHARED": "same"}))
    beta = LocalFunction(probe(tmp_path, "EnvProbeBeta", {"POWERTOOLS_SERVICE_NAME": "beta", "SHARED": "same"}))
    assert alpha.module.SEEN == {"POWERTOOLS_SERVICE_NAME": "alpha", "ONLY_ALPHA": "1", "SHARED": "same"}
    assert beta.module.SEEN == {"POWERTOOLS_SERVICE_NAME": "beta", "ONLY_ALPHA": None, "SHARED": "same"}
    assert dict(os.environ) == before  # every variable an import changed is back (or gone)
    assert beta.invoke({}) == {"at_import": beta.module.SEEN, "at_invoke": "outer", "function": "EnvProbeBeta"}


def test_the_environment_given_wins_and_a_failed_import_is_undone(tmp_path, monkeypatch):
    monkeypatch.delenv("FAIL_IMPORT", raising=False)
    spec = probe(tmp_path, "EnvProbeGamma", {"POWERTOOLS_SERVICE_NAME": "from-template"})
    gamma = LocalFunction(spec, {**spec.environment, "POWERTOOLS_SERVICE_NAME": "overridden"})
    assert gamma.module.SEEN["POWERTOOLS_SERVICE_NAME"] == "overridden"
    assert gamma.environment["POWERTOOLS_SERVICE_NAME"] == "overridden"

    before = dict(os.environ)
    with pytest.raises(RuntimeError, match="import failed"):
        LocalFunction(probe(tmp_path, "EnvProbeDelta", {"FAIL_IMPORT": "1"}))
    assert dict(os.environ) == before


def test_only_variables_every_function_shares_stay_in_the_process():
    one = Function("One", None, "app.h", 3, {"TABLE": "t", "SERVICE": "one", "ONLY_ONE": "x"})
    two = Function("Two", None, "app.h", 3, {"TABLE": "t", "SERVICE": "two"})
    assert common_environment([one, two]) == {"TABLE": "t"}
    assert common_environment([]) == {}
