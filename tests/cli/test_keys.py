"""``seedream keys create|list|revoke`` against the local stack, and the printed key used as curl would use it."""

from __future__ import annotations

import json
import re

import httpx

from .conftest import one_line_error

KEY = re.compile(r"sk_([0-9a-f]{16})_[0-9a-f]{48}")


def test_keys_create_prints_the_key_once_and_how_to_use_it_and_curl_with_it_lists_my_jobs(seedream, stack):
    made = seedream("keys", "create", env={"KEY_API_PORT": str(stack.key_api_port)})
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert KEY.fullmatch(key)
    key_id = KEY.fullmatch(key).group(1)
    assert f"key {key_id} acts as arn:aws:iam::123456789012:user/local" in made.stderr
    assert (f'use it: curl -H "Authorization: Bearer sk_{key_id}_…" '
            f"http://127.0.0.1:{stack.key_api_port}/v1/jobs") in made.stderr
    answer = httpx.get(f"{stack.key_api_url}/v1/jobs", headers={"Authorization": f"Bearer {key}"}, trust_env=False)
    assert answer.status_code == 200 and "jobs" in answer.json()

    listed = seedream("keys", "list")
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["KEY_ID", "PREFIX", "CREATED", "LAST", "USED", "STATE"]
    row = next(r for r in rows if r.startswith(key_id))
    assert row.split()[1] == f"sk_{key_id}_…" and row.split()[-1] == "active" and "never" not in row
    assert key not in listed.output

    revoked = seedream("keys", "revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.stdout)["revoked"] is True
    assert f"key {key_id} revoked at" in revoked.stderr
    row = next(r for r in seedream("keys", "list").stdout.splitlines() if r.startswith(key_id))
    assert "revoked 20" in row


def test_keys_create_json_and_revoking_an_unknown_key_is_one_line(seedream):
    made = seedream("keys", "create", "--json")
    document = json.loads(made.stdout)
    assert KEY.fullmatch(document["key"]) and document["revoked"] is False and document["last_used_at"] is None
    line = one_line_error(seedream("keys", "revoke", "0123456789abcdef"))
    assert "key_not_found" in line and "seedream keys list" in line
