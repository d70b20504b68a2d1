"""Replies: what a job owes the door it came by, once it ends or is refused.

- S3 door: the job document to ``results/<name>.json`` when the job ends (``models.views.JobDocument``:
  the ``GET /v1/jobs/{job_id}`` fields with ``s3_uri``s, no presigned URLs), or the API's error body to
  ``results/<name>.error.json`` when the manifest is refused (``seedream.doors``). A name has one answer,
  its newest version's: a manifest overwritten since (another version at ``requests/<name>.json``; the
  template's bucket keeps versions, and in a bucket without them every manifest counts as the newest) is
  not answered, writing one answer deletes the other, and an answer written while the manifest was being
  replaced is taken back.
- A Step Functions task token (``Job Requested`` with ``task_token``): ``SendTaskSuccess`` with the job
  document when the job succeeds; ``SendTaskFailure`` with ``error`` = the job's error code (``job_cancelled``
  for a cancelled job) and ``cause`` = its message when it fails, is cancelled or is refused.

Called where the terminal event is announced (``usecases.finish.announce``), before the event goes out,
so a retried announcement repeats the reply too: a document is overwritten with the same content, and
Step Functions refuses a second answer for a token (``TaskTimedOut``, ``InvalidToken``,
``TaskDoesNotExist``: "nobody waits on this token any more"), which is logged and not an error.
The S3 and Step Functions clients are made on first use: most jobs owe no reply.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property

from aws_lambda_powertools import Logger

from .doors import error_key, manifest_name, result_key
from .errors import JobError
from .models.origins import Origin, S3Origin
from .models.records import JobRecord

logger = Logger(child=True)

TOKEN_GONE = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
"""Step Functions errors that mean nobody waits on the token any more."""


def owes_reply(record: JobRecord) -> bool:
    """True when ending ``record`` must be told to its door (an S3 manifest, or a task token)."""
    return bool(record.task_token) or isinstance(record.origin, S3Origin)


class Replies:
    """``clients(service)`` gives a botocore client (``wiring``); ``bucket`` is the stack's bucket."""

    def __init__(self, clients: Callable[[str], object], bucket: str):
        self._clients = clients
        self.bucket = bucket

    @cached_property
    def s3(self):
        """The S3 client the result documents are written with, made on first use."""
        return self._clients("s3")

    @cached_property
    def states(self):
        """The Step Functions client task tokens are answered with, made on first use."""
        return self._clients("stepfunctions")

    def job_finished(self, record: JobRecord) -> None:
        """Reply to the door of a finished job: its task token, then its S3 result document."""
        from .models.views import JobDocument

        document = JobDocument.of(record).model_dump_json(indent=2)
        if record.task_token:
            if record.status == "succeeded":
                self._answer("send_task_success", record.job_id, taskToken=record.task_token, output=document)
            else:
                code, message = ((record.error.code, record.error.message) if record.error else
                                 ("job_cancelled", f"the job was cancelled at {record.cancelled_at}"))
                self._answer("send_task_failure", record.job_id, taskToken=record.task_token, error=code[:256],
                             cause=message)
        if isinstance(record.origin, S3Origin):
            name = manifest_name(record.origin.key) or record.job_id
            self._answer_name(record.origin, result_key(name), error_key(name), document)

    def refused(self, origin: Origin, error: JobError, task_token: str | None = None) -> None:
        """Reply to a refused request: ``SendTaskFailure`` for its token, the error body for its manifest."""
        if task_token:
            self._answer("send_task_failure", None, taskToken=task_token, error=error.code, cause=error.message)
        if isinstance(origin, S3Origin):
            name = manifest_name(origin.key)
            if name is not None:
                self._answer_name(origin, error_key(name), result_key(name), json.dumps(error.to_body(), indent=2))

    def _answer_name(self, origin: S3Origin, key: str, other: str, document: str) -> None:
        """``document`` at ``key`` and no ``other`` answer, if ``origin`` is its name's newest manifest."""
        if not self._newest(origin):
            logger.info("manifest replaced since; its newest version answers", extra={"key": origin.key})
            return
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=document.encode("utf-8"), ContentType="application/json")
        self.s3.delete_object(Bucket=self.bucket, Key=other)
        if not self._newest(origin):  # replaced while we wrote: the newer one's answer stands
            self.s3.delete_object(Bucket=self.bucket, Key=key)

    def _newest(self, origin: S3Origin) -> bool:
        """True when ``requests/<name>.json`` is still the version ``origin`` names (or is gone, or has no versions)."""
        from botocore.exceptions import ClientError

        if not origin.version_id:
            return True
        try:
            head = self.s3.head_object(Bucket=origin.bucket, Key=origin.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return True  # deleted since: nothing newer to answer for
            raise
        return head.get("VersionId") == origin.version_id

    def _answer(self, operation: str, job_id: str | None, **arguments) -> None:
        from botocore.exceptions import ClientError

        try:
            getattr(self.states, operation)(**arguments)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in TOKEN_GONE:
                raise
            logger.warning("nobody waits on the task token any more", extra={"job_id": job_id, "code": code})
