"""Each function's handler is imported with that function's environment, as in its own Lambda sandbox; it runs
several events at once up to its concurrency limit, each instance with module globals of its own."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import botocore.session
import pytest

from local.runtime import UNRESERVED_CONCURRENCY, LocalFunction, Throttled
from local.stack import common_environment
from local.template import Function
from tests.support.waits import wait_until

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


SLOW = '''import threading
import time

GATE = threading.Event()
CURRENT = None  # module state: safe only because an instance runs one event at a time


def handler(event, context):
    global CURRENT
    CURRENT = event["n"]
    GATE.wait(event.get("hold", 0))
    time.sleep(0.01)
    return {"n": CURRENT, "instance": id(GATE)}
'''


def slow_function(tmp_path, logical_id: str, reserved: int | None = None, **kwargs) -> LocalFunction:
    code = tmp_path / logical_id
    code.mkdir()
    (code / "app.py").write_text(SLOW)
    spec = Function(logical_id=logical_id, code_uri=code, handler="app.handler", timeout=3, environment={},
                    reserved_concurrency=reserved)
    return LocalFunction(spec, **kwargs)


def invoke_all(function: LocalFunction, events: list[dict]) -> list:
    with ThreadPoolExecutor(len(events)) as pool:
        return list(pool.map(function.invoke, events))


def test_invocations_run_at_once_up_to_the_reserved_concurrency_each_in_an_instance_of_its_own(tmp_path):
    function = slow_function(tmp_path, "Reserved", reserved=3)
    assert function.concurrency == 3
    answers = invoke_all(function, [{"n": n, "hold": 0.3} for n in range(9)])
    # each instance has its own module globals: no invocation saw another's CURRENT
    assert [a["n"] for a in answers] == list(range(9))
    assert function.peak == 3 and function.instances == 3 == len({a["instance"] for a in answers})
    assert function.invoke({"n": 99}) == {"n": 99, "instance": id(function.module.GATE)}  # the first one again


def test_without_a_reserved_concurrency_a_function_scales_to_the_local_cap(tmp_path):
    function = slow_function(tmp_path, "Unreserved")
    assert function.concurrency == UNRESERVED_CONCURRENCY
    invoke_all(function, [{"n": n, "hold": 0.3} for n in range(20)])
    assert function.peak == 20 and function.instances == 20


def test_at_its_limit_an_invocation_waits_or_with_wait_for_slot_off_is_throttled(tmp_path):
    function = slow_function(tmp_path, "One", reserved=1)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(function.invoke, {"n": 1, "hold": 5})
        wait_until(lambda: function.running == 1, 5)
        function.wait_for_slot = False
        with pytest.raises(Throttled):
            function.invoke({"n": 2})
        function.module.GATE.set()
        assert running.result(timeout=5)["n"] == 1
    assert function.invoke({"n": 3})["n"] == 3 and function.instances == 1


HELD = '''import os
import threading

TIMEOUT = os.environ["TASK_TIMEOUT_SECONDS"]
GATE = threading.Event()


def handler(event, context):
    GATE.wait(event.get("hold", 0))
    return TIMEOUT
'''


def test_a_reconfigured_function_runs_each_later_event_in_an_instance_of_the_new_environment(tmp_path):
    code = tmp_path / "Reconfigured"
    code.mkdir()
    (code / "app.py").write_text(HELD)
    function = LocalFunction(Function(logical_id="Reconfigured", code_uri=code, handler="app.handler", timeout=30,
                                      environment={"TASK_TIMEOUT_SECONDS": "20"}), concurrency=2)
    first = function.module
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(function.invoke, {"hold": 5})  # an instance of the old configuration, busy
        wait_until(lambda: function.running == 1, 5)
        function.reconfigure({"TASK_TIMEOUT_SECONDS": "6"})
        assert function.module is not first and function.invoke({}) == "6"  # the new instance, at once
        first.GATE.set()
        assert running.result(timeout=5) == "20"  # the running one finished as it began...
    assert [function.invoke({}) for _ in range(3)] == ["6"] * 3  # ...and was retired: every later event is new
    assert function.instances == 2 and function.environment == {"TASK_TIMEOUT_SECONDS": "6"}


SESSION = '''import threading

import botocore.session

SESSION = botocore.session.get_session()
GATE = threading.Event()


def handler(event, context):
    GATE.wait(event.get("hold", 0))
    return id(SESSION)
'''


def test_instances_of_a_function_share_one_botocore_session_that_makes_one_client_at_a_time(tmp_path, monkeypatch):
    inside: list[int] = []

    def slow_create_client(session, *args, **kwargs):
        inside.append(1)
        assert len(inside) == 1, "two clients made at once from one session"
        time.sleep(0.05)
        inside.pop()
        return "client"

    monkeypatch.setattr(botocore.session.Session, "create_client", slow_create_client)

    def function(logical_id: str) -> LocalFunction:
        (tmp_path / logical_id).mkdir()
        (tmp_path / logical_id / "app.py").write_text(SESSION)
        return LocalFunction(Function(logical_id, tmp_path / logical_id, "app.handler", 3, {}))

    one, other = function("SessionOne"), function("SessionTwo")
    assert len(set(invoke_all(one, [{"hold": 0.3}] * 3))) == 1 and one.instances == 3
    assert one.module.SESSION is not other.module.SESSION  # one session per function
    assert botocore.session.get_session() is not one.module.SESSION  # shared only while an instance is imported
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: one.module.SESSION.create_client("sqs"), range(4))) == ["client"] * 4
