"""Logs arrive: each function logs under its own service name, and the core's log lines reach the
function's log with the request's correlation id (run as Lambda runs it, one function per process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_function(logical_id: str, event: str) -> tuple[list[dict], dict]:
    result = subprocess.run([sys.executable, "-m", "tests.support.lambda_process", logical_id, str(ROOT / "events" / event)],
                            cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'layers' / 'core'}:{ROOT}"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    return [json.loads(line) for line in lines[:-1] if line.startswith("{")], json.loads(lines[-1])


def test_a_core_log_line_reaches_the_api_functions_log_with_the_correlation_id():
    logs, answer = run_function("ApiFunction", "api-create-job.json")
    assert answer["statusCode"] == 202
    request_id = json.loads((ROOT / "events" / "api-create-job.json").read_text())["requestContext"]["requestId"]
    [accepted] = [line for line in logs if line.get("message") == "job accepted"]
    assert accepted["service"] == "api" and accepted["level"] == "INFO"
    assert accepted["correlation_id"] == request_id
    assert accepted["job_id"] == json.loads(answer["body"])["job_id"]
    assert accepted["function_name"] == "ApiFunction"
