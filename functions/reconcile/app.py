"""Reconcile function: every minute (EventBridge schedule), the sweep over open jobs past their deadline.

One status read per overdue job at most; finished → the ingest queue, still running → a later
deadline, past its task limit (``TASK_TIMEOUT_SECONDS`` after the hand-off) or with its submit message
gone → failed, never under a live ingest lease (``seedream.lifecycle``). Metrics: one count per outcome
(``Reconcile_<outcome>``) and ``ProviderReads``, the status reads this sweep made.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from seedream.usecases.reconcile import reconcile
from seedream.wiring import reconcile_services

logger = Logger()
metrics = Metrics()
svc = reconcile_services()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context) -> dict:
    counts = reconcile(svc)
    reads = counts.pop("provider_reads", 0)
    metrics.add_metric(name="ProviderReads", unit=MetricUnit.Count, value=reads)
    for outcome, count in counts.items():
        metrics.add_metric(name=f"Reconcile_{outcome}", unit=MetricUnit.Count, value=count)
    return {"outcomes": dict(counts), "provider_reads": reads}
