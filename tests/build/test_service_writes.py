"""The lint that keeps tests from writing to built services (``tests/build/service_writes.py``, run by ``make lint``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.build.service_writes import main, writes

ROOT = Path(__file__).resolve().parents[2]

FOUND = {
    "an attribute of a part": "def test(svc):\n    svc.replies.states = FakeStates()\n",
    "the settings": "def test(svc):\n    svc.settings = svc.settings\n",
    "a part's dict": "def test(svc):\n    svc.providers['wavespeed'] = None\n",
    "augmented": "def test(svc):\n    svc.fetcher.max_bytes += 1\n",
    "deleted": "def test(svc):\n    del svc.store\n",
    "through an alias": "def test(svc):\n    fetcher = svc.fetcher\n    fetcher.max_bytes = 1\n",
    "a builder's result": "def test():\n    built = api_services()\n    built.store = None\n",
    "a module's svc": "def test(function):\n    function.module.svc = object()\n",
    "monkeypatch on a part": "def test(svc, monkeypatch):\n    monkeypatch.setattr(svc.store, 'get', None)\n",
    "monkeypatch of svc by name": "def test(module, monkeypatch):\n    monkeypatch.setattr(module, 'svc', None)\n",
    "monkeypatch by dotted path": "def test(monkeypatch):\n    monkeypatch.setattr('functions.api.app.svc', None)\n",
    "setattr": "def test(svc):\n    setattr(svc.bus, 'events', None)\n",
    "a context's setattr": "def test(svc, mp):\n    with mp.context() as patch:\n        patch.setattr(svc.bus, 'x', 1)\n",
}

CLEAN = {
    "reading a part": "def test(svc):\n    assert svc.store.get('j').status == 'queued'\n",
    "overrides": "def test(svc_with, fake):\n    svc = svc_with(fake, stepfunctions=FakeStates())\n",
    "a fake of the test's own": "def test(provider_http):\n    provider_http.submit_status = 429\n",
    "an alias in another function": "def a(svc):\n    fetcher = svc.fetcher\n\ndef b(fetcher):\n    fetcher.x = 1\n",
    "monkeypatch of a library": "def test(monkeypatch):\n    monkeypatch.setattr(uuid, 'uuid4', lambda: 1)\n",
    "a method's own attribute": "class Fake:\n    def __init__(self):\n        self.calls = []\n",
}


@pytest.mark.parametrize("source", FOUND.values(), ids=FOUND.keys())
def test_a_write_to_a_built_service_is_found(source):
    [(_, line, _)] = writes(textwrap.dedent(source))
    assert line >= 2


@pytest.mark.parametrize("source", CLEAN.values(), ids=CLEAN.keys())
def test_what_is_not_a_write_to_a_built_service_passes(source):
    assert writes(source) == []


def test_the_command_names_each_write_and_fails(tmp_path, capsys):
    (tmp_path / "test_x.py").write_text(FOUND["an attribute of a part"] + FOUND["a module's svc"])
    (tmp_path / "test_y.py").write_text(CLEAN["overrides"])
    assert main([str(tmp_path)]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"{tmp_path / 'test_x.py'}:2: writes to a built service: svc.replies.states = ...",
                       f"{tmp_path / 'test_x.py'}:4: writes to a built service: function.module.svc = ..."]
    assert main([str(tmp_path / "test_y.py")]) == 0


def test_the_tests_write_to_no_built_service():
    assert main([str(ROOT / "tests")]) == 0
