"""The deadline rules (``seedream.deadlines``), one test each; pure functions, no AWS."""

from __future__ import annotations

from datetime import timedelta

from seedream.deadlines import DeadlinePolicy
from seedream.models import parse_iso

POLICY = DeadlinePolicy(base_seconds=60, seconds_per_image=20, grace_seconds=120, job_timeout_seconds=1800,
                        backoff_seconds=30, backoff_max_seconds=300, ingest_seconds=900,
                        factors={"evolink": 1.5, "seedream-v4.5": 1.2})
CREATED = "2026-11-21T10:00:00.000Z"


def seconds_after(deadline: str, start: str = CREATED) -> float:
    return (parse_iso(deadline) - parse_iso(start)).total_seconds()


def test_a_queued_job_is_due_at_its_hard_limit():
    assert seconds_after(POLICY.queued(CREATED)) == 1800


def test_a_submitted_job_is_due_after_its_expected_generation_time_plus_grace():
    # 60 + 20 × 4 images × (2048×2048 / 2048×2048) = 140 s expected, + 120 s grace
    assert seconds_after(POLICY.submitted(CREATED, CREATED, "wavespeed", "seedream-v4", 4, 2048, 2048)) == 260


def test_expected_time_grows_with_size_and_count_and_takes_provider_and_model_factors():
    small = POLICY.expected_seconds("wavespeed", "seedream-v4", 1, 1024, 1024)
    big = POLICY.expected_seconds("wavespeed", "seedream-v4", 15, 4096, 4096)
    assert small == 60 + 20 * 0.25 and big == 60 + 20 * 15 * 4
    assert POLICY.expected_seconds("evolink", "seedream-v4.5", 1, 2048, 2048) == (60 + 20) * 1.5 * 1.2


def test_a_still_running_task_is_read_again_with_doubling_backoff_up_to_the_cap():
    read_at = parse_iso(CREATED) + timedelta(seconds=300)
    delays = [seconds_after(POLICY.still_running(CREATED, reads, read_at), "2026-11-21T10:05:00.000Z")
              for reads in (1, 2, 3, 4, 5, 6)]
    assert delays == [30, 60, 120, 240, 300, 300]


def test_no_deadline_is_ever_later_than_the_hard_limit():
    late = parse_iso(CREATED) + timedelta(seconds=1790)
    assert seconds_after(POLICY.still_running(CREATED, 5, late)) == 1800
    assert seconds_after(POLICY.ingesting(CREATED, late)) == 1800
    assert seconds_after(POLICY.submitted(CREATED, "2026-11-21T10:29:00.000Z", "evolink", "seedream-v4.5", 15,
                                          4096, 4096)) == 1800


def test_a_recorded_completion_gives_ingest_its_time():
    recorded = parse_iso(CREATED) + timedelta(seconds=100)
    assert seconds_after(POLICY.ingesting(CREATED, recorded)) == 1000


def test_the_hard_limit_is_job_timeout_after_creation():
    assert not POLICY.past_hard_limit(CREATED, parse_iso(CREATED) + timedelta(seconds=1799.9))
    assert POLICY.past_hard_limit(CREATED, parse_iso(CREATED) + timedelta(seconds=1800))
