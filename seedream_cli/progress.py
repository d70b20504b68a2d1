"""What a waiting command shows on stderr.

One line per stage the job reaches (``[  0.31s] submitted to wavespeed (task …), estimated $0.16``,
times from the job's own timestamps, cost its ``estimated_cost_usd``), the same on a terminal and in a log. On a
terminal a rich progress display sits under
those lines: a spinner, the job's stage as a bar (queued → submitted → finished) and the time waited,
then a bar for the downloads. Nothing here writes to stdout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

TERMINAL = ("succeeded", "failed", "cancelled")
STAGES = ("queued", "submitted", "finished")


def seconds_between(start_iso: str | None, end_iso: str | None) -> float | None:
    if not start_iso or not end_iso:
        return None
    return (datetime.fromisoformat(end_iso) - datetime.fromisoformat(start_iso)).total_seconds()


def usd(amount: float) -> str:
    """``$0.08``, ``$0.0444``: dollars with 2 to 4 decimals."""
    text = f"{amount:,.4f}".rstrip("0")
    return "$" + (text + "0" * (2 - len(text.split(".")[1])))


def cost(job: dict) -> str:
    """``, estimated $0.16`` (the job's ``estimated_cost_usd`` at its provider), or "" when the job has none."""
    amount = job.get("estimated_cost_usd")
    return f", estimated {usd(amount)}" if isinstance(amount, int | float) else ""


def reached(job: dict) -> list[tuple[str, str | None, str]]:
    """The stages ``job`` has reached, in order: ``(stage, timestamp, line)``; a line ends with the job's estimated cost
    as it stood when it was read (``queued at wavespeed, estimated $0.16``).

    A stage the polling missed (queued → succeeded between two reads) still shows, from its timestamp."""
    status = job.get("status")
    at = f" at {job['provider']}" if job.get("provider") else ""
    stages = [("queued", job.get("created_at"), f"queued{at}{cost(job)}")]
    if job.get("submitted_at") or status == "submitted":
        task = f" (task {job['provider_task_id']})" if job.get("provider_task_id") else ""
        stages.append(("submitted", job.get("submitted_at"), f"submitted to {job.get('provider')}{task}{cost(job)}"))
    if status in TERMINAL:
        stamp = job.get("cancelled_at") if status == "cancelled" else job.get("completed_at")
        if status == "succeeded":
            count = len(job.get("outputs") or [])
            line = f"succeeded: {count} output{'s' if count != 1 else ''}{cost(job)}"
        elif status == "failed":
            error = job.get("error") or {}
            line = f"failed ({error.get('code', 'unknown error')})"
        else:
            line = "cancelled"
        stages.append((status, stamp, line))
    return stages


class Reporter:
    """Stage lines and, on a terminal, a live progress display; all on stderr."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.live = self.console.is_terminal
        self._shown: set[str] = set()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def say(self, message: str) -> None:
        self.console.print(message, markup=False)

    @contextmanager
    def watching(self, job_id: str) -> Iterator[Reporter]:
        """Show the job's stages until the block ends (a live display on a terminal)."""
        if not self.live:
            yield self
            return
        progress = Progress(SpinnerColumn(finished_text="•"), TextColumn("{task.description}"), BarColumn(bar_width=24),
                            TimeElapsedColumn(), console=self.console, transient=True)
        self._progress = progress
        with progress:
            self._task = progress.add_task(f"job {job_id}", total=len(STAGES))
            try:
                yield self
            finally:
                self._progress = self._task = None

    def update(self, job: dict) -> None:
        """Print the stages ``job`` has reached that were not printed yet; move the live display."""
        created = job.get("created_at")
        for stage, stamp, line in reached(job):
            if stage in self._shown:
                continue
            self._shown.add(stage)
            elapsed = seconds_between(created, stamp)
            self.say(f"[{elapsed:6.2f}s] {line}" if elapsed is not None else f"[   ?   ] {line}")
        if self._progress is not None and self._task is not None:
            status = job.get("status", "?")
            done = 3 if status in TERMINAL else STAGES.index(status) + 1 if status in STAGES else 0
            where = f" at {job['provider']}" if status == "submitted" and job.get("provider") else ""
            self._progress.update(self._task, completed=done,
                                  description=f"job {job.get('job_id')}: {status}{where}{cost(job)}")

    @contextmanager
    def downloading(self, total: int) -> Iterator[Callable[[], None]]:
        """Yields ``advance()``, called once per output saved (a bar on a terminal)."""
        if not self.live or total == 0:
            yield lambda: None
            return
        with Progress(SpinnerColumn(finished_text="•"), TextColumn("downloading outputs"), BarColumn(bar_width=24),
                      MofNCompleteColumn(), console=self.console, transient=True) as progress:
            task = progress.add_task("download", total=total)
            yield lambda: progress.advance(task)
