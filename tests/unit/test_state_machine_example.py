"""``examples/state-machine.json``: a valid callback-pattern task whose event the intake takes as a request, and
``examples/state-machine.yaml`` that grants it only ``events:PutEvents`` on the stack's bus."""

from __future__ import annotations

import json
from pathlib import Path

from cfnlint.api import lint_file

from seedream.usecases.intake import intake, read_arrival

from .usecase_helpers import BODY

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def rendered(parameters, state_input: dict, context: dict):
    """ASL ``Parameters`` with every ``"key.$": "$.path"`` / ``"$$.path"`` resolved (the paths the example uses)."""
    if isinstance(parameters, list):
        return [rendered(p, state_input, context) for p in parameters]
    if not isinstance(parameters, dict):
        return parameters
    out = {}
    for key, value in parameters.items():
        if key.endswith(".$"):
            source, path = (context, value[3:]) if value.startswith("$$.") else (state_input, value[2:])
            for part in path.split("."):
                source = source[part]
            out[key[:-2]] = source
        else:
            out[key] = rendered(value, state_input, context)
    return out


def example_entry(bus: str, state_input: dict, token: str, execution: str) -> dict:
    """The ``PutEvents`` entry the example's task sends for ``state_input``."""
    definition = json.loads((EXAMPLES / "state-machine.json").read_text().replace("${EventBusName}", bus))
    task = definition["States"][definition["StartAt"]]
    assert task["Resource"] == "arn:aws:states:::events:putEvents.waitForTaskToken"
    [entry] = rendered(task["Parameters"], state_input, {"Task": {"Token": token}, "Execution": {"Name": execution}})[
        "Entries"]
    return entry


def test_the_example_template_lints_clean_and_grants_only_put_events_on_the_bus():
    assert lint_file(EXAMPLES / "state-machine.yaml") == []
    text = (EXAMPLES / "state-machine.yaml").read_text()
    assert "EventBridgePutEventsPolicy: {EventBusName: !Ref EventBusName}" in text and text.count("Policies") == 1


def test_the_example_task_puts_a_job_requested_the_intake_accepts_with_its_token(svc, aws):
    state_input = {k: BODY[k] for k in ("provider", "model", "prompt", "images", "max_images", "size")}
    entry = example_entry(svc.settings.event_bus_name, state_input, token="AQCE-token", execution="run-42")
    assert entry["DetailType"] == "Job Requested" and entry["EventBusName"] == svc.settings.event_bus_name
    event = {"version": "0", "id": "9f1c", "detail-type": entry["DetailType"], "source": entry["Source"],
             "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1", "resources": [],
             "detail": entry["Detail"]}
    result = intake(svc, read_arrival(svc.settings, json.dumps(event)))
    record = svc.store.get(result.job_id)
    assert result.outcome == "accepted" and record.task_token == "AQCE-token" and record.reference == "run-42"
