"""Step Functions task answers on the local stack: what a waiting state machine would receive.

The functions answer a ``Job Requested`` that carried a ``task_token`` with ``SendTaskSuccess`` or
``SendTaskFailure`` (``seedream.replies``), through their own botocore clients, to moto — which accepts
both and keeps nothing. ``TaskAnswers`` wraps moto's WSGI application and records each such call
(token, output or error and cause) before moto answers it; nothing else about the request changes.
"""

from __future__ import annotations

import io
import json
import threading
import time

TARGETS = {"AWSStepFunctions.SendTaskSuccess": "success", "AWSStepFunctions.SendTaskFailure": "failure"}


class TaskAnswers:
    """WSGI middleware in front of moto; ``answers`` lists ``{"outcome", "token", "output" | "error", "cause"}``."""

    def __init__(self, app):
        self.app = app
        self.answers: list[dict] = []
        self._changed = threading.Condition()

    def __call__(self, environ, start_response):
        outcome = TARGETS.get(environ.get("HTTP_X_AMZ_TARGET", ""))
        if outcome:
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            sent = json.loads(body or b"{}")
            answer = {"outcome": outcome, "token": sent.get("taskToken")}
            if outcome == "success":
                answer["output"] = json.loads(sent.get("output") or "null")
            else:
                answer.update(error=sent.get("error"), cause=sent.get("cause"))
            with self._changed:
                self.answers.append(answer)
                self._changed.notify_all()
        return self.app(environ, start_response)

    def for_token(self, token: str) -> list[dict]:
        """Every answer given for ``token`` so far, in order."""
        with self._changed:
            return [a for a in self.answers if a["token"] == token]

    def wait(self, token: str, timeout: float) -> dict | None:
        """The first answer for ``token``, waiting up to ``timeout`` seconds; None if none came."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [a for a in self.answers if a["token"] == token]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
