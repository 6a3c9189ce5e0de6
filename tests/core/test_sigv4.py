"""The shared SigV4 verifier, in-process: the usual header form and any other order verify the
same; dates are parsed strictly."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import time
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given
from hypothesis import strategies as st

from kmscks import sigv4
from kmscks.sigv4_sign import signature


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


@given(
    secret=st.text(min_size=1, max_size=80),
    date=st.from_regex(r"20[0-9]{6}", fullmatch=True),
    canonical=st.text(max_size=2000),
)
def test_signature_is_the_hmac_of_the_signing_key(secret: str, date: str, canonical: str) -> None:
    """The cached-state signature is exactly HMAC-SHA256 of SigV4's string to sign under the
    derived signing key."""
    amz_date = f"{date}T120000Z"
    key = sigv4.signing_key(secret, date, "eu-west-1", "kms")
    string_to_sign = "\n".join(
        (
            "AWS4-HMAC-SHA256",
            amz_date,
            f"{date}/eu-west-1/kms/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        )
    )
    expected = hmac.digest(key, string_to_sign.encode(), "sha256").hex()
    assert signature(secret, amz_date, "eu-west-1", "kms", canonical) == expected
    assert signature(secret, amz_date, "eu-west-1", "kms", canonical) == expected  # states reused


def test_sign_matches_botocore() -> None:
    """A request signed by cks carries the signature botocore computes for the same request."""
    now = 1_764_590_400.0  # 2025-12-01T12:00:00Z
    headers = sigv4.sign(
        method="POST",
        host="127.0.0.1:4566",
        path="/",
        headers={"X-Amz-Target": "TrentService.Encrypt", "Content-Type": "application/json"},
        body=b'{"KeyId": "k"}',
        access_key_id="AKIDEXAMPLE",
        secret="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        region="us-east-1",
        service="kms",
        now=now,
    )
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:4566/",
        data=b'{"KeyId": "k"}',
        headers={"X-Amz-Target": "TrentService.Encrypt", "Content-Type": "application/json"},
    )
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    signed_at = datetime.datetime.fromtimestamp(now, datetime.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
        SigV4Auth(credentials, "kms", "us-east-1").add_auth(request)
    assert headers["X-Amz-Date"] == request.headers["X-Amz-Date"]
    ours = headers["Authorization"].rsplit("Signature=", 1)[1]
    assert ours == request.headers["Authorization"].rsplit("Signature=", 1)[1]
