"""Waiting for a condition instead of sleeping a fixed time."""

from __future__ import annotations

import time


def wait_until(check, timeout: float = 10.0, interval: float = 0.01):
    """Call ``check()`` until it returns something truthy; return it, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
