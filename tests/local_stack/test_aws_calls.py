"""The recorder (``local.aws_calls``): a call belongs to the function whose client made it, whichever thread calls."""

from __future__ import annotations

import threading

import botocore.session
import pytest
from moto import mock_aws

from local import aws_calls


@pytest.fixture
def recording(monkeypatch):
    monkeypatch.setenv(aws_calls.PLUGINS_VARIABLE, "")  # restored (removed) after the test
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        log = aws_calls.start()
        yield log
        aws_calls.stop(log)


def test_calls_belong_to_the_client_that_made_them_not_to_the_thread(recording):
    session = botocore.session.get_session()
    with aws_calls.running("AlphaFunction"):
        alpha = session.create_client("s3", region_name="us-east-1")
    untagged = session.create_client("s3", region_name="us-east-1")  # made outside any function
    alpha.create_bucket(Bucket="bucket")
    worker = threading.Thread(target=alpha.put_object, kwargs={"Bucket": "bucket", "Key": "k", "Body": b"x" * 4096})
    worker.start()
    worker.join()
    alpha.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "k"})
    untagged.list_objects_v2(Bucket="bucket")
    with aws_calls.running("BetaFunction"):
        untagged.head_object(Bucket="bucket", Key="k")  # the client is not Beta's: not recorded

    assert [(c.function, c.service, c.operation, c.presigned) for c in recording.calls] == [
        ("AlphaFunction", "s3", "CreateBucket", False), ("AlphaFunction", "s3", "PutObject", False),
        ("AlphaFunction", "s3", "GetObject", True)]
    assert recording.calls[1].params == {"Bucket": "bucket", "Key": "k"}  # the body is not kept
    assert recording.counts() == {("AlphaFunction", "CreateBucket"): 1, ("AlphaFunction", "PutObject"): 1,
                                  ("AlphaFunction", "GetObject"): 1}


def test_a_call_names_its_iam_prefix_and_a_stopped_log_records_nothing_more(recording):
    with aws_calls.running("AlphaFunction"):
        states = botocore.session.get_session().create_client("stepfunctions", region_name="us-east-1")
    states.list_state_machines()
    aws_calls.stop(recording)
    states.list_state_machines()
    assert [(c.service, c.operation) for c in recording.calls] == [("states", "ListStateMachines")]
    assert aws_calls.logs()[-1] is recording
