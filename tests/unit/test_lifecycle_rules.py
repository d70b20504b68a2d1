"""The lifecycle's rules (``seedream.lifecycle``): statuses, moves and deadlines, one test each. Pure functions:
no AWS, no clock (each test names its ``now``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from seedream.lifecycle import MOVES, OPEN, TERMINAL, DeadlinePolicy, JobClock, Verdict, may_move
from seedream.models import parse_iso

POLICY = DeadlinePolicy(base_seconds=60, seconds_per_image=20, grace_seconds=120, task_timeout_seconds=10800,
                        backoff_seconds=30, backoff_max_seconds=300, ingest_seconds=900,
                        queue_retention_seconds=345600, announce_claim_seconds=900,
                        factors={"evolink": 1.5, "seedream-v4.5": 1.2})
T0 = "2026-11-21T10:00:00.000Z"


def at(seconds: float):
    return parse_iso(T0) + timedelta(seconds=seconds)


def seconds_after(deadline: str, start: str = T0) -> float:
    return (parse_iso(deadline) - parse_iso(start)).total_seconds()


# -- statuses and moves ---------------------------------------------------------------------

def test_open_and_terminal_statuses_split_every_status_and_nothing_leaves_a_terminal_one():
    assert set(OPEN) | TERMINAL == {"queued", "submitted", "succeeded", "failed", "cancelled"}
    assert not set(OPEN) & TERMINAL
    assert all(set(sources) <= set(OPEN) for sources in MOVES.values())


@pytest.mark.parametrize(("current", "target", "allowed"), [
    ("queued", "submitted", True), ("submitted", "submitted", False), ("submitted", "queued", False),
    ("queued", "succeeded", True), ("submitted", "cancelled", True), ("succeeded", "failed", False),
    ("cancelled", "succeeded", False), ("failed", "cancelled", False)])
def test_may_move_follows_the_table(current, target, allowed):
    assert may_move(current, target) is allowed


# -- deadlines ------------------------------------------------------------------------------

def test_a_queued_job_is_due_only_when_its_message_has_expired_for_certain():
    assert seconds_after(POLICY.queued(T0)) == 345600 + 120


def test_a_submitted_job_is_due_after_its_expected_generation_time_plus_grace():
    # 60 + 20 × 4 images × (2048×2048 / 2048×2048) = 140 s expected, + 120 s grace
    assert seconds_after(POLICY.submitted(T0, "wavespeed", "seedream-v4", 4, 2048, 2048)) == 260


def test_expected_time_grows_with_size_and_count_and_takes_provider_and_model_factors():
    small = POLICY.expected_seconds("wavespeed", "seedream-v4", 1, 1024, 1024)
    big = POLICY.expected_seconds("wavespeed", "seedream-v4", 15, 4096, 4096)
    assert small == 60 + 20 * 0.25 and big == 60 + 20 * 15 * 4
    assert POLICY.expected_seconds("evolink", "seedream-v4.5", 1, 2048, 2048) == (60 + 20) * 1.5 * 1.2


def test_a_still_running_task_is_read_again_with_doubling_backoff_up_to_the_cap():
    delays = [seconds_after(POLICY.still_running(T0, reads, at(300)), "2026-11-21T10:05:00.000Z")
              for reads in (1, 2, 3, 4, 5, 6)]
    assert delays == [30, 60, 120, 240, 300, 300]


def test_no_look_at_a_running_task_is_later_than_its_task_limit():
    assert seconds_after(POLICY.still_running(T0, 5, at(10790))) == 10800
    assert seconds_after(POLICY.submitted(T0, "evolink", "seedream-v4.5", 15, 4096, 4096)) <= 10800


def test_a_recorded_completion_gives_ingest_its_time_and_a_lease_extends_it():
    assert seconds_after(POLICY.ingesting(at(100))) == 1000
    assert seconds_after(POLICY.ingesting(at(100), lease_until="2026-11-21T10:30:00.000Z")) == 1800 + 120


# -- judge: what the sweep does ---------------------------------------------------------------

def queued(**facts) -> JobClock:
    return JobClock(status="queued", enqueued_at=T0, **facts)


def submitted(**facts) -> JobClock:
    return JobClock(status="submitted", enqueued_at=T0, submitted_at=T0, **facts)


def test_a_queued_job_waits_however_long_the_queue_and_fails_only_once_its_message_is_gone():
    assert POLICY.judge(queued(), at(3 * 86400)) == Verdict("wait", POLICY.queued(T0))
    assert POLICY.judge(queued(), at(345600 + 120)) == Verdict("fail", code="submit_failed")


def test_a_queued_job_sent_again_after_a_429_counts_from_its_new_message():
    requeued = JobClock(status="queued", enqueued_at="2026-11-24T10:00:00.000Z")
    assert POLICY.judge(requeued, at(345600 + 120)).action == "wait"


def test_a_handed_off_job_is_read_until_its_task_limit_then_fails_provider_timeout():
    assert POLICY.judge(submitted(), at(10799)) == Verdict("read_status")
    assert POLICY.judge(submitted(), at(10800)) == Verdict("fail", code="provider_timeout")


def test_a_live_lease_keeps_any_job_from_failing_even_past_its_task_limit():
    leased = submitted(completion_at=T0, lease_until="2026-11-21T13:10:00.000Z")
    verdict = POLICY.judge(leased, at(10900))
    assert verdict.action == "wait" and parse_iso(verdict.deadline_at) > parse_iso("2026-11-21T13:10:00.000Z")


def test_a_fresh_completion_waits_for_its_ingest():
    assert POLICY.judge(submitted(completion_at=T0), at(899)) == Verdict("wait", POLICY.ingesting(at(0)))


def test_a_completion_whose_ingest_never_came_is_read_again_then_past_the_limit_fails_ingest_failed():
    assert POLICY.judge(submitted(completion_at=T0), at(900)) == Verdict("read_status")
    expired_lease = submitted(completion_at=T0, lease_until="2026-11-21T10:05:00.000Z")
    assert POLICY.judge(expired_lease, at(1000)) == Verdict("read_status")
    assert POLICY.judge(submitted(completion_at=T0), at(10800)) == Verdict("fail", code="ingest_failed")


def test_a_completion_whose_ingest_failed_is_read_again_and_past_the_limit_fails_ingest_failed():
    assert POLICY.judge(submitted(completion_failed=True), at(60)) == Verdict("read_status")
    assert POLICY.judge(submitted(completion_failed=True), at(10800)) == Verdict("fail", code="ingest_failed")


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_an_ended_job_is_gone(status):
    assert POLICY.judge(JobClock(status=status, enqueued_at=T0), at(10)) == Verdict("gone")


def test_an_announcement_claimed_longer_ago_than_any_function_runs_is_abandoned():
    assert POLICY.announce_stale_before(at(1000)) == "2026-11-21T10:01:40.000Z"
