"""SQS: the submit, ingest, webhook and ModelArk (generate) queues, as the functions that write to them see them."""

from __future__ import annotations

from .models.messages import DeliveryMessage, GenerateMessage, IngestMessage, SubmitMessage, to_json


class Queues:
    """``sqs`` is a botocore SQS client; a URL is empty when the function does not write to that queue."""

    def __init__(self, sqs, submit_url: str = "", ingest_url: str = "", webhook_url: str = "", generate_url: str = ""):
        self.sqs = sqs
        self.generate_url = generate_url
        self.submit_url = submit_url
        self.ingest_url = ingest_url
        self.webhook_url = webhook_url

    def send_submit(self, message: SubmitMessage, delay_seconds: int = 0) -> None:
        """Queue a job for submit; ``delay_seconds`` (0..900, SQS's limit) before it can be received."""
        self.sqs.send_message(QueueUrl=self.submit_url, MessageBody=to_json(message),
                              DelaySeconds=max(0, min(int(delay_seconds), 900)))

    def send_generate(self, message: GenerateMessage, delay_seconds: int = 0) -> None:
        """Queue a job for the generate function (a synchronous provider); ``delay_seconds`` 0..900."""
        self.sqs.send_message(QueueUrl=self.generate_url, MessageBody=to_json(message),
                              DelaySeconds=max(0, min(int(delay_seconds), 900)))

    def send_ingest(self, message: IngestMessage) -> None:
        """Queue an accepted completion (a callback's, or the sweep's status read) for ingest, at once."""
        self.sqs.send_message(QueueUrl=self.ingest_url, MessageBody=to_json(message))

    def send_delivery(self, message: DeliveryMessage, delay_seconds: int = 0) -> None:
        """Queue an attempt of a webhook message; ``delay_seconds`` (0..900, SQS's limit) before it can be received."""
        self.sqs.send_message(QueueUrl=self.webhook_url, MessageBody=to_json(message),
                              DelaySeconds=max(0, min(int(delay_seconds), 900)))
