"""The shared SigV4 verifier, in-process: the usual header form and any other order verify the
same; dates are parsed strictly."""

from __future__ import annotations

import time

import pytest

from kmscks import sigv4


def _signed(now: float) -> dict[str, str]:
    headers = sigv4.sign(
        method="POST",
        host="example.test",
        path="/",
        headers={"X-Amz-Target": "T.Op"},
        body=b"{}",
        access_key_id="AKID",
        secret="secret",
        region="us-east-1",
        service="kms",
        now=now,
    )
    return {name.lower(): value for name, value in headers.items()}


def _verify(headers: dict[str, str], now: float) -> sigv4.SignedIdentity:
    return sigv4.verify(
        method="POST",
        path="/",
        query="",
        headers=headers,
        body=b"{}",
        service="kms",
        secret_for={"AKID": "secret"}.get,
        now=now,
        max_skew_seconds=900,
    )


def test_parameters_in_any_order_verify_alike() -> None:
    now = time.time()
    headers = _signed(now)
    assert _verify(headers, now).access_key_id == "AKID"
    algorithm, _, rest = headers["authorization"].partition(" ")
    reordered = ", ".join(reversed(rest.split(", ")))
    assert (
        _verify({**headers, "authorization": f"{algorithm} {reordered}"}, now).region == "us-east-1"
    )


@pytest.mark.parametrize("date", ["20261328T000000Z", "20261128T250000Z", "2026-11-28T00:00Z", ""])
def test_malformed_dates_are_incomplete_signatures(date: str) -> None:
    now = time.time()
    headers = {**_signed(now), "x-amz-date": date}
    with pytest.raises(sigv4.SigV4Failure) as raised:
        _verify(headers, now)
    assert raised.value.reason is sigv4.Reason.INCOMPLETE
