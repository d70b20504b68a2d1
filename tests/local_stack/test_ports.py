"""A port the stack cannot bind ends in one line naming the variable that changes it, and exit status 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from local.stack import LocalStack, PortError, main
from local.template import ROOT


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_make_up_with_a_busy_api_port_prints_one_line_and_exits_2(busy_port):
    env = {**os.environ, "API_PORT": str(busy_port), "KEY_API_PORT": "0", "MOTO_PORT": "0", "SIMULATOR_PORT": "0",
           "WS_PORT": "0"}
    done = subprocess.run([sys.executable, "-m", "local.stack"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: port {busy_port} is already in use; set API_PORT to another port"]
    assert done.stdout == ""


@pytest.mark.parametrize("variable", ["KEY_API_PORT", "MOTO_PORT", "SIMULATOR_PORT", "WS_PORT"])
def test_each_port_names_its_own_variable(busy_port, variable, monkeypatch, capfd):
    for name in ("API_PORT", "KEY_API_PORT", "MOTO_PORT", "SIMULATOR_PORT", "WS_PORT"):
        monkeypatch.setenv(name, "0")
    monkeypatch.setenv(variable, str(busy_port))
    before = dict(os.environ)
    assert main([]) == 2
    out, err = capfd.readouterr()
    assert err.splitlines() == [f"error: port {busy_port} is already in use; set {variable} to another port"]
    assert out == "" and dict(os.environ) == before


def test_a_failed_start_releases_the_ports_it_had_bound(busy_port):
    stack = LocalStack(api_port=0, key_api_port=0, moto_port=0, simulator_port=busy_port, websocket_port=0)
    with pytest.raises(PortError) as raised:
        stack.start()
    assert (raised.value.port, raised.value.variable) == (busy_port, "SIMULATOR_PORT")
    assert stack.api_port and stack.key_api_port and stack.moto_port  # bound before the simulator failed ...
    assert port_is_free(stack.api_port) and port_is_free(stack.key_api_port) and port_is_free(stack.moto_port)  # ... and closed


def test_a_port_that_is_not_a_number_is_one_line_too(monkeypatch, capfd):
    monkeypatch.setenv("API_PORT", "three-thousand")
    assert main([]) == 2
    assert capfd.readouterr().err.splitlines() == ["error: API_PORT='three-thousand' is not a port number"]
