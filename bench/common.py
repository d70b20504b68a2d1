"""Shared pieces of the benchmarks: knobs, paths, progress on stderr, paired samples, statistics."""

from __future__ import annotations

import math
import os
import socket
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "core"
CACHE = ROOT / ".bench"
"""Everything the bench builds or downloads (git-ignored)."""
MIB = 1024 * 1024

if str(LAYER) not in sys.path:  # seedream.uploads (TRANSFER, DOWNLOAD_CONCURRENCY) for the baselines
    sys.path.insert(0, str(LAYER))

N = int(os.environ.get("BENCH_N", "10"))
ONLY = tuple(p.strip() for p in os.environ.get("BENCH_ONLY", "").split(",") if p.strip())
_STARTED = time.monotonic()


def wanted(*names: str) -> bool:
    """True when ``BENCH_ONLY`` is unset or one of ``names`` starts with one of its prefixes."""
    return not ONLY or any(name.startswith(prefix) for name in names for prefix in ONLY)


def say(message: str) -> None:
    """Progress line on stderr, stamped with the seconds since the bench started."""
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def elapsed() -> float:
    return time.monotonic() - _STARTED


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default method)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Measure:
    """One figure: ``ours[i]`` and ``baseline[i]`` are the i-th paired samples (taken back to back).

    ``ours_value``/``baseline_value`` default to the medians; a percentile figure sets them itself
    (and its samples are then per-block percentiles, see ``bench/webhook.py``).
    """

    name: str
    unit: str
    ours: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    n: int | None = None
    ours_value: float | None = None
    baseline_value: float | None = None
    note: str = ""

    def add(self, ours: float, baseline: float) -> None:
        self.ours.append(ours)
        self.baseline.append(baseline)

    @property
    def ours_mid(self) -> float:
        return self.ours_value if self.ours_value is not None else statistics.median(self.ours)

    @property
    def baseline_mid(self) -> float:
        return self.baseline_value if self.baseline_value is not None else statistics.median(self.baseline)

    @property
    def ratios(self) -> list[float]:
        return [o / b for o, b in zip(self.ours, self.baseline, strict=True)]

    @property
    def ratio(self) -> float:
        return self.ours_mid / self.baseline_mid

    def as_json(self) -> dict:
        return {"name": self.name, "ours": self.ours_mid, "baseline": self.baseline_mid, "ratio": self.ratio,
                "unit": self.unit, "n": self.n if self.n is not None else len(self.ours),
                "min_ratio": min(self.ratios), "max_ratio": max(self.ratios)}


def paired_order(index: int) -> tuple[str, str]:
    """Which side goes first in pair ``index``: ours first on even pairs, the baseline first on odd ones."""
    return ("ours", "baseline") if index % 2 == 0 else ("baseline", "ours")
