"""``make bench`` (``python -m bench``): every figure against a baseline that really runs, interleaved.

Knobs: ``BENCH_N`` (pairs of samples per figure, default 10, at least 10 for a real run) and
``BENCH_ONLY`` (comma-separated prefixes of measure names, e.g. ``cold,webhook``). Progress goes to
stderr; the meanings, the table and the run time to stdout; the figures to ``bench/results.json``.
Everything listens on 127.0.0.1 and stops by itself.

Modules: ``cold`` (handler import in fresh processes), ``webhook`` (callback answer time),
``ingest`` (15 × 4K outputs into S3, in child processes), ``lifecycle`` (handler seconds per job
with 20 s of generation vs a polling function).
"""

from __future__ import annotations

import contextlib
import sys
import time

from . import cold, report
from .common import ONLY, N, say, wanted

ORDER = list(report.MEANINGS)


def group(prefix: str) -> bool:
    """Whether any measure whose name starts with ``prefix`` was asked for."""
    return any(wanted(name) for name in ORDER if name.startswith(prefix))


def main() -> int:
    started = time.monotonic()
    names = [name for name in ORDER if wanted(name)]
    if not names:
        raise SystemExit(f"bench: BENCH_ONLY={','.join(ONLY)} matches none of {', '.join(ORDER)}")
    if N < 1:
        raise SystemExit("bench: BENCH_N must be at least 1")
    if N < 10:
        say(f"BENCH_N={N}: fewer than 10 pairs, fine for a try, not for figures to quote")
    report.print_meanings(names)
    measures = []
    if group("cold_init_"):
        measures += cold.run()
    if group("webhook_") or group("ingest_") or group("lambda_seconds"):
        with contextlib.redirect_stdout(sys.stderr):  # what the handlers print (logs, metrics) stays off the report
            measures += on_stack()
    measures = [m for m in measures if m.name in names]
    measures.sort(key=lambda m: ORDER.index(m.name))
    report.write(measures)
    print(report.table(measures))
    print(f"\n{len(measures)} figures (n = paired samples per side), written to "
          f"{report.RESULTS.relative_to(report.RESULTS.parent.parent)}; whole run {time.monotonic() - started:.0f} s")
    return 0


def on_stack() -> list:
    from local.stack import LocalStack

    from . import ingest, lifecycle, webhook
    from .jobs import Jobs

    measures = []
    say("starting the local stack (moto, provider simulator, gateway, pumps) on 127.0.0.1")
    # No reconcile sweep: the webhook measure withholds callbacks on purpose (a sweep would finish those jobs
    # first), and with the deployed deadlines a 20 s job is never overdue, so no measure involves it.
    with LocalStack(api_port=0, moto_port=0, simulator_port=0, websocket_port=0, generation_seconds=0.05,
                    reconcile_seconds=86400) as stack:
        jobs = Jobs(stack)
        if group("webhook_"):
            measures += webhook.run(stack, jobs)
        if group("ingest_"):
            measures += ingest.run(stack, jobs)
        if group("lambda_seconds"):
            measures += lifecycle.run(stack, jobs)
        say("stopping the local stack")
    return measures


if __name__ == "__main__":
    sys.exit(main())
