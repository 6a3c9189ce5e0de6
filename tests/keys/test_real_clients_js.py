"""The AWS SDK for JavaScript v3 encrypting once (tests/js/kms_crypto.mjs) with a key in an
external key store on the bundled `cks xks-proxy` (TLS, software keys): CreateKey with an
XksKeyId, Encrypt, Decrypt without a KeyId, a data key. tests/core/test_real_clients.py runs
the same script with an AWS_KMS key. Under CI=true a missing node or SDK fails."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require, require_executable
from tests.keys.bundled_xks import XksSetup, bundled_xks

JS_DIR = Path(__file__).resolve().parents[1] / "js"


@pytest.fixture(scope="module")
def xks_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XksSetup]:
    with bundled_xks(tmp_path_factory.mktemp("js-crypto"), ("js-key",)) as setup:
        yield setup


def run_crypto(url: str, region: str, *store: str) -> dict[str, Any]:
    node = require_executable("node")
    require(
        (JS_DIR / "node_modules" / "@aws-sdk" / "client-kms").exists(),
        "@aws-sdk/client-kms (make node-deps)",
    )
    result = subprocess.run(
        [node, str(JS_DIR / "kms_crypto.mjs"), url, region, *store],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=JS_DIR,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_javascript_sdk_encrypts_with_an_external_key(xks_setup: XksSetup) -> None:
    answer = run_crypto(xks_setup.server.url, xks_setup.region, xks_setup.store_id, "js-key")
    assert answer["origin"] == "EXTERNAL_KEY_STORE"
    assert answer["encryptKeyId"] == answer["decryptKeyId"] == answer["keyArn"]
    assert answer["plaintextMatches"] is True
    assert answer["algorithm"] == "SYMMETRIC_DEFAULT"
    assert answer["dataKeyLength"] == 32
    assert answer["dataKeyMatches"] is True
    # For an external key the proxy finds the authenticated data wrong (contract §8.4, §9.3).
    assert answer["wrongContext"] == "KMSInvalidStateException"
    # The described key really is the external one.
    described = xks_setup.kms.describe_key(KeyId=answer["keyArn"])["KeyMetadata"]
    assert described["XksKeyConfiguration"] == {"Id": "js-key"}
