"""Opaque, tamper-proof pagination markers (DescribeCustomKeyStores, CloudHSM NextTokens).

bottom layer (beside errors.py): imports nothing of kmscks. A marker names the position after
which the next page starts (a creation sequence number) and carries an HMAC over that position,
the account and the region, so a forged, garbled or another account's marker is refused.
Markers of one walk strictly increase, so a walk never sees the same marker twice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

_VERSION = b"\x01"
_TAG_BYTES = 16


class BadMarker(Exception):
    pass


class MarkerCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _tag(self, position: bytes, account_id: str, region: str) -> bytes:
        message = _VERSION + position + f"|{account_id}|{region}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, after_seq: int, account_id: str, region: str) -> str:
        position = struct.pack(">Q", after_seq)
        raw = _VERSION + position + self._tag(position, account_id, region)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, marker: str, account_id: str, region: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4))
        except (binascii.Error, ValueError):
            raise BadMarker("not base64")
        if len(raw) != 1 + 8 + _TAG_BYTES or raw[:1] != _VERSION:
            raise BadMarker("wrong length or version")
        position, tag = raw[1:9], raw[9:]
        if not hmac.compare_digest(tag, self._tag(position, account_id, region)):
            raise BadMarker("bad tag")
        return int(struct.unpack(">Q", position)[0])
