"""The HTTP layer (werkzeug) and the simulator's own surface: routing, shapes of unknown routes and
methods, chunked request bodies, HEAD, control endpoints, status-read counters, lifecycle, the
standalone entry point, and the package's independence from ``seedream``."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys

import httpx
import pytest

from local.simulator import ProviderSimulator

from .helpers import (
    EVO_KEY,
    ROOT,
    WS_KEY,
    bearer,
    evo_submit,
    read_status,
    submit_small,
    tag,
)

PROVIDERS = ["wavespeed", "atlascloud", "evolink", "replicate"]
PACKAGE = ROOT / "local" / "simulator"


def test_chunked_request_body_is_read(sim, client):
    body = json.dumps({"model": "doubao-seedream-4.0", "prompt": "chunked", "n": 1, "size": "1K"}).encode()
    parts = iter([body[:10], body[10:25], body[25:]])  # a generator: httpx sends Transfer-Encoding: chunked
    r = client.post(f"{sim.base_url}/v1/images/generations", content=parts,
                    headers=bearer(EVO_KEY) | {"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    sent = sim.submits[-1]
    assert sent["json"]["prompt"] == "chunked" and sent["status"] == 200
    assert sent["headers"]["Transfer-Encoding"] == "chunked" and sent["headers"]["Authorization"] == f"Bearer {EVO_KEY}"
    assert sent["path"] == "/v1/images/generations" and sent["provider"] == "evolink"


def test_submit_record_keeps_query_headers_and_raw_json(sim, client):
    r = client.post(f"{sim.base_url}/api/v3/bytedance/seedream-v4/edit-sequential?webhook=http%3A%2F%2F127.0.0.1%2Fcb&a=1&a=2",
                    content=b"[1, 2]", headers=bearer(WS_KEY))
    assert r.status_code == 400 and r.json() == {"code": 400, "message": "request body must be a JSON object"}
    sent = sim.submits[-1]
    assert sent["query"] == {"webhook": "http://127.0.0.1/cb", "a": ["1", "2"]}
    assert sent["json"] == [1, 2] and sent["status"] == 400 and isinstance(sent["at"], float)
    r = client.post(f"{sim.base_url}/api/v1/model/generateImage", content=b"{not json", headers=bearer("x"))
    assert r.status_code == 401 and sim.submits[-1]["json"] is None


def test_unknown_routes_and_methods(sim, client):
    r = client.get(f"{sim.base_url}/nope")
    assert r.status_code == 404 and r.json() == {"code": 404, "message": "no route /nope"}
    r = client.get(f"{sim.base_url}/v1/nope")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "no route /v1/nope", "type": "invalid_request_error"}}
    for method, path in [("GET", "/v1/images/generations"), ("PUT", "/_sim/state"), ("POST", "/v1/tasks/x"),
                         ("HEAD", "/_sim/state"), ("DELETE", "/api/v1/webhooks/jwks.json")]:
        r = client.request(method, sim.base_url + path)
        assert r.status_code == 405, (method, path)
        if method != "HEAD":
            assert r.json() == {"code": 405, "message": "Method Not Allowed"}
    assert client.request("PATCH", f"{sim.base_url}/_sim/state").status_code == 501
    r = client.get(f"{sim.base_url}/_sim/state")
    assert r.headers["server"].startswith("ProviderSimulator/1.0") and r.headers["content-type"] == "application/json"
    assert r.reason_phrase == "OK"


def test_head_on_outputs(sim, receiver, client):
    name = tag("head")
    task_id = evo_submit(client, sim, cb=receiver.url(name), n=1, size="1K").json()["id"]
    (call,) = receiver.wait(name)
    (url,) = json.loads(call["body"])["results"]
    head, get = client.head(url), client.get(url)
    assert head.status_code == 200 and head.content == b"" and head.headers["content-type"] == "image/png"
    assert int(head.headers["content-length"]) == len(get.content) > 0
    assert client.head(f"{sim.base_url}/outputs/{task_id}/1.png").status_code == 404
    assert client.get(f"{sim.base_url}/outputs/{task_id}/x.png").json()["code"] == 404


def test_fault_and_state_endpoints(sim, client):
    r = client.post(f"{sim.base_url}/_sim/faults", json={"callback": "lost", "submit_errors": [503]})
    assert r.status_code == 200 and r.json()["callback"] == "lost"
    assert sim.faults["submit_errors"] == [503]
    assert client.get(f"{sim.base_url}/_sim/faults").json() == sim.faults
    for bad in ({"nope": 1}, {"callback": "weird"}, [1]):
        r = client.post(f"{sim.base_url}/_sim/faults", json=bad)
        assert r.status_code == 400 and r.json()["code"] == 400 and r.json()["message"]
    assert client.post(f"{sim.base_url}/_sim/faults", content=b"{").status_code == 400
    state = client.get(f"{sim.base_url}/_sim/state").json()
    assert state["submits"] == len(sim.submits) and state["faults"]["callback"] == "lost"
    assert state["jwks_fetches"] == sim.jwks_fetches and state["atlas_kid"] == sim.atlas_kid
    assert set(state["status_reads"]) == {*PROVIDERS, "fal"}  # fal's protocol: test_fal.py
    assert all("body" not in c and "body_bytes" in c for c in state["callbacks"])
    assert client.delete(f"{sim.base_url}/_sim/faults").json()["callback"] == "normal"
    assert sim.faults["submit_errors"] == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_status_reads_are_counted(sim, client, provider):
    task_id = submit_small(client, sim, provider)
    other = submit_small(client, sim, provider)
    before = client.get(f"{sim.base_url}/_sim/state").json()
    assert before["tasks"][task_id]["status_reads"] == 0
    for _ in range(3):
        assert read_status(client, sim, provider, task_id).status_code == 200
    assert read_status(client, sim, provider, task_id, key="wrong").status_code == 401
    assert read_status(client, sim, provider, "no-such-task").status_code == 404
    state = client.get(f"{sim.base_url}/_sim/state").json()
    # totals count every GET of the status endpoint; a task counts the reads it answered
    assert state["status_reads"][provider] == before["status_reads"][provider] + 5
    assert all(state["status_reads"][p] == before["status_reads"][p] for p in PROVIDERS if p != provider)
    assert state["tasks"][task_id]["status_reads"] == 3 and state["tasks"][other]["status_reads"] == 0
    assert sim.status_reads == state["status_reads"] and sim.tasks[task_id]["status_reads"] == 3
    wrong_provider = next(p for p in PROVIDERS if p != provider)
    assert read_status(client, sim, wrong_provider, task_id).status_code == 404  # not that provider's task
    assert sim.tasks[task_id]["status_reads"] == 3


def test_callbacks_do_not_count_as_status_reads(sim, receiver, client):
    name = tag("noreads")
    before = dict(sim.status_reads)
    task_id = evo_submit(client, sim, cb=receiver.url(name), n=1, size="1K").json()["id"]
    receiver.wait(name)
    assert sim.wait_for_task(task_id)["status_reads"] == 0 and sim.status_reads == before


def test_binds_loopback_only_and_reports_a_taken_port():
    with pytest.raises(ValueError):
        ProviderSimulator(host="0.0.0.0")
    with ProviderSimulator() as first:
        assert first.base_url.startswith("http://127.0.0.1:") and first.port != 0
        second = ProviderSimulator(port=first.port)
        with pytest.raises(OSError):
            second.start()
        second.close()
        r = httpx.get(f"{first.base_url}/_sim/state", trust_env=False)
        assert r.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{first.base_url}/_sim/state", trust_env=False)
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", first.port))


def test_simulator_is_independent_of_seedream():
    """The simulator imports no seedream code; Replicate signs with the Standard Webhooks reference library."""
    allowed = set(sys.stdlib_module_names) | {"PIL", "httpx", "cryptography", "werkzeug", "standardwebhooks", "__future__"}
    for path in sorted(PACKAGE.glob("*.py")):
        text = path.read_text()
        assert "providers.md" not in text and "shared/" not in text, path.name
        roots = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                roots |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots.add(node.module.split(".")[0])
        assert "seedream" not in roots and roots <= allowed, (path.name, roots - allowed)


def test_standalone_prints_base_url_and_keys():
    with subprocess.Popen([sys.executable, "-m", "local.simulator", "--port", "0", "--generation-seconds", "0"],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            lines = []
            while not (lines and lines[-1].startswith("}")):
                line = proc.stdout.readline()
                assert line, "simulator exited early"
                lines.append(line)
            info = json.loads("".join(lines))
            assert info["base_url"].startswith("http://127.0.0.1:")
            assert info["keys"]["wavespeed"]["webhook_secret"].startswith("whsec_")
            assert info["jwks_url"] == info["base_url"] + "/api/v1/webhooks/jwks.json" and info["atlas_kid"]
            r = httpx.get(info["base_url"] + "/api/v3/webhook/secret", trust_env=False,
                          headers=bearer(info["keys"]["wavespeed"]["api_key"]))
            assert r.json()["data"]["secret"] == info["keys"]["wavespeed"]["webhook_secret"]
        finally:
            proc.terminate()
            proc.wait(timeout=5)
    assert proc.returncode == 0  # SIGTERM ends it cleanly


def test_a_simulator_made_from_the_package_starts_with_every_fault_switch_off():
    from local.simulator import FAULT_DEFAULTS, ProviderSimulator

    sim = ProviderSimulator(generation_seconds=0)
    assert sim.faults == FAULT_DEFAULTS and sim.submits == [] and sim.tasks == {}


def test_the_protocol_modules_use_only_the_simulators_public_surface():
    """Each provider's module (and the job, delivery and output machinery) reaches ``ProviderSimulator`` through its
    public attributes and methods, never its private state (``sim._lock``, ``sim._http`` …)."""
    import re
    from pathlib import Path

    import local.simulator

    package = Path(local.simulator.__file__).parent
    reads = {f.name: re.findall(r"\bsim\._\w+", f.read_text()) for f in package.glob("*.py") if f.name != "core.py"}
    assert {name: found for name, found in reads.items() if found} == {}
