"""SQS: the submit and ingest queues, as the functions that write to them see them."""

from __future__ import annotations

from .models.messages import IngestMessage, SubmitMessage


class Queues:
    """``sqs`` is a boto3 SQS client; a URL is empty when the function does not write to that queue."""

    def __init__(self, sqs, submit_url: str = "", ingest_url: str = ""):
        self.sqs = sqs
        self.submit_url = submit_url
        self.ingest_url = ingest_url

    def send_submit(self, message: SubmitMessage) -> None:
        self.sqs.send_message(QueueUrl=self.submit_url, MessageBody=message.model_dump_json())

    def send_ingest(self, message: IngestMessage) -> None:
        self.sqs.send_message(QueueUrl=self.ingest_url, MessageBody=message.model_dump_json())
