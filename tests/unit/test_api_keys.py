"""API keys: what the table holds, what a caller sees when making, listing and revoking keys, and what the
authorizer's use case decides for each kind of Authorization header."""

from __future__ import annotations

import hashlib

import pytest

import seedream.apikeys as apikeys
from seedream.errors import InvalidRequest, KeyNotFound
from seedream.usecases.authorize_key import authorize_key
from seedream.usecases.create_key import create_key
from seedream.usecases.list_keys import list_keys
from seedream.usecases.revoke_key import revoke_key

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"


def stored_item(svc, key_id: str) -> dict:
    return svc.keys.dynamodb.get_item(TableName=svc.keys.table, Key={"key_id": {"S": key_id}})["Item"]


def test_a_new_key_is_shown_once_and_only_its_sha256_is_stored(svc):
    made = create_key(svc, ALICE)
    assert made.key.startswith(f"sk_{made.key_id}_") and len(made.key) == 68
    assert made.prefix == f"sk_{made.key_id}_" and made.owner == ALICE and made.revoked is False
    item = stored_item(svc, made.key_id)
    assert item["secret_sha256"] == {"S": hashlib.sha256(made.key.encode()).hexdigest()}
    assert item["owner"] == {"S": ALICE} and item["revoked"] == {"BOOL": False} and "last_used_at" not in item
    secret = made.key.split("_", 2)[2]
    assert not any(secret in str(value) for value in item.values())


def test_a_key_is_made_only_for_an_iam_caller(svc):
    with pytest.raises(InvalidRequest) as refused:
        create_key(svc, None)
    assert (refused.value.http_status, refused.value.code) == (403, "iam_caller_required")


def test_listing_shows_the_callers_keys_newest_first_and_never_a_key_or_its_hash(svc):
    first, second = create_key(svc, ALICE), create_key(svc, ALICE)
    create_key(svc, BOB)
    listed = list_keys(svc, ALICE).model_dump(mode="json")["keys"]
    assert [k["key_id"] for k in listed] == [second.key_id, first.key_id]
    assert all(set(k) == {"key_id", "prefix", "owner", "created_at", "last_used_at", "revoked", "revoked_at"}
               for k in listed)
    assert list_keys(svc, None).keys == []


def test_revoking_marks_the_key_once_and_another_callers_key_is_not_found(svc):
    made = create_key(svc, ALICE)
    with pytest.raises(KeyNotFound) as missing:
        revoke_key(svc, made.key_id, BOB)
    assert (missing.value.http_status, missing.value.code) == (404, "key_not_found")
    revoked = revoke_key(svc, made.key_id, ALICE)
    assert revoked.revoked is True and revoked.revoked_at
    assert revoke_key(svc, made.key_id, ALICE).revoked_at == revoked.revoked_at  # again: no change
    with pytest.raises(KeyNotFound):
        revoke_key(svc, "not-a-key-id", ALICE)


def test_a_good_key_acts_as_its_owner_and_its_last_use_is_recorded(svc, aws_calls):
    made = create_key(svc, ALICE)
    aws_calls.clear()
    verdict = authorize_key(svc, f"Bearer {made.key}")
    assert (verdict.owner, verdict.key_id, verdict.reason) == (ALICE, made.key_id, None)
    assert aws_calls == ["DynamoDB.GetItem", "DynamoDB.UpdateItem"]
    assert stored_item(svc, made.key_id)["last_used_at"]["S"]
    assert authorize_key(svc, f"bearer {made.key}").owner == ALICE  # the scheme is case-insensitive (RFC 9110)


@pytest.mark.parametrize("header, reason", [
    (None, "not_a_key"),
    ("", "not_a_key"),
    ("Basic dXNlcjpwYXNz", "not_a_key"),
    ("Bearer sk_short", "not_a_key"),
    ("AWS4-HMAC-SHA256 Credential=AKIA/20261121/us-east-1/execute-api/aws4_request", "not_a_key"),
    ("Bearer sk_0123456789abcdef_" + "0" * 47, "not_a_key"),
    ("Bearer sk_0123456789abcdef_" + "0" * 48, "key_unknown"),
])
def test_what_is_not_a_key_of_ours_is_refused_without_a_write(svc, aws_calls, header, reason):
    aws_calls.clear()
    verdict = authorize_key(svc, header)
    assert verdict.owner is None and verdict.reason == reason
    assert "DynamoDB.UpdateItem" not in aws_calls and (aws_calls == [] if reason == "not_a_key" else True)


def test_a_wrong_secret_for_a_real_key_id_and_a_revoked_key_are_refused(svc):
    made = create_key(svc, ALICE)
    wrong = made.key[:-1] + ("0" if made.key[-1] != "0" else "1")
    assert authorize_key(svc, f"Bearer {wrong}").reason == "key_mismatch"
    revoke_key(svc, made.key_id, ALICE)
    assert authorize_key(svc, f"Bearer {made.key}").reason == "key_revoked"
    assert "last_used_at" not in stored_item(svc, made.key_id)


def test_the_key_is_compared_in_constant_time(svc, monkeypatch):
    made = create_key(svc, ALICE)
    compared = []
    real = apikeys.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(apikeys.hmac, "compare_digest", spy)
    assert authorize_key(svc, f"Bearer {made.key}").owner == ALICE
    assert compared == [(hashlib.sha256(made.key.encode()).hexdigest(),) * 2]
