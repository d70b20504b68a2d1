"""Run one function the way Lambda does: alone in a fresh process, with only its own environment.

``python -m tests.support.lambda_process <LogicalId> <event.json>`` creates the template's resources
in moto (``mock_aws``), replaces the environment with the function's own variables from
``template.yaml`` (plus dummy credentials), imports its handler from ``CodeUri``, invokes it once
with the event and prints the handler's answer as the last line of stdout (JSON). Whatever the
function logs comes before it, as in CloudWatch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

from moto import mock_aws


def main(logical_id: str, event_path: str) -> int:
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
    with mock_aws():
        import boto3

        from local.runtime import LambdaContext
        from local.template import create_resources, load_template

        resources = create_resources(boto3.session.Session(region_name="us-east-1"), load_template(),
                                     {"PublicBaseUrl": "https://hooks.test"})
        spec = resources.functions[logical_id]
        keep = {k: os.environ[k] for k in ("PATH", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                                           "AWS_REGION")}
        os.environ.clear()
        os.environ.update(keep | spec.environment | {"POWERTOOLS_METRICS_DISABLED": "true"})
        module_path, handler_name = spec.handler.rsplit(".", 1)
        loader = importlib.util.spec_from_file_location("handler", spec.code_uri / f"{module_path}.py")
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        with open(event_path, encoding="utf-8") as fh:
            event = json.load(fh)
        answer = getattr(module, handler_name)(event, LambdaContext(function_name=logical_id, timeout_seconds=spec.timeout,
                                                                         aws_request_id="local-request"))
    sys.stdout.flush()
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
