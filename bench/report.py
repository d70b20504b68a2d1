"""What each figure means (printed first), the final table and ``bench/results.json``."""

from __future__ import annotations

import json
from pathlib import Path

from .common import Measure

RESULTS = Path(__file__).resolve().parent / "results.json"

MEANINGS = {
    "cold_init_api": "fresh `python -S` importing functions/api/app.py on a Lambda-like path with .pyc, spawn→exit "
                     "(baseline: a naive handler importing boto3/httpx/Powertools/pydantic, 5 boto3 + 2 httpx clients)",
    "cold_init_submit": "same, functions/submit/app.py",
    "cold_init_webhook": "same, functions/webhook/app.py",
    "cold_init_ingest": "same, functions/ingest/app.py",
    "webhook_ack_p50": "median time of WebhookFunction.invoke answering a genuine signed WaveSpeed callback (202), "
                       "in-process (baseline: bare handler, one PutItem + one SendMessage)",
    "webhook_ack_p99": "p99 of the same calls",
    "ingest_15x4k_wall": "ingest handler's wall time in a child process storing 15 noisy 4096×4096 PNGs (20–48 MB) "
                         "from loopback into S3 (baseline: raw parallel httpx stream → upload_fileobj, same concurrency "
                         "and TransferConfig)",
    "ingest_15x4k_rss_mib": "peak RSS (ru_maxrss) of that child process",
    "ingest_rss_growth": "peak RSS at 15 outputs ÷ peak RSS at 5 outputs, same child (baseline: the raw copy's)",
    "lambda_seconds_per_job_20s": "summed handler seconds of one job (api POST + submit + webhook + ingest) with 20 s of "
                                  "generation, 4 × 2048×2048 (baseline: one function that submits, polls every 1 s, copies)",
}


def print_meanings(names: list[str]) -> None:
    print("What each figure is (ratio = ours / baseline, lower is better; every baseline really runs, "
          "interleaved with ours):")
    for name in names:
        print(f"  {name:27} {MEANINGS[name]}")
    print(flush=True)


def fmt(value: float) -> str:
    size = abs(value)
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cell(mid: float, values: list[float]) -> str:
    return f"{fmt(mid)} [{fmt(min(values))}–{fmt(max(values))}]"


def table(measures: list[Measure]) -> str:
    header = ("measure", "unit", "n", "ours median [min–max]", "baseline median [min–max]", "ours/baseline [min–max]")
    rows = [header]
    for m in measures:
        data = m.as_json()
        rows.append((m.name, m.unit, str(data["n"]), cell(m.ours_mid, m.ours), cell(m.baseline_mid, m.baseline),
                     f"{data['ratio']:.3f} [{data['min_ratio']:.3f}–{data['max_ratio']:.3f}]"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(value.ljust(widths[i]) if i < 3 else value.rjust(widths[i]) for i, value in enumerate(row))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {m.name}: {m.note}" for m in measures if m.note]
    return "\n".join(lines + (["notes:"] + notes if notes else []))


def write(measures: list[Measure]) -> None:
    RESULTS.write_text(json.dumps({"measures": [m.as_json() for m in measures]}, indent=2) + "\n")
