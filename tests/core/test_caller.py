"""The Caller every operation receives: account, region, the credential's principal ARN and the
request id the client gets back (what an XKS proxy sees as awsPrincipalArn and kmsRequestId)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmscks.config import ConfigError, load_config


def test_a_credential_names_its_principal_or_stands_for_the_account_root(
    tmp_path: Path,
) -> None:
    config = tmp_path / "cks.toml"
    config.write_text(
        '[[credentials]]\naccess_key_id = "A1"\nsecret_access_key = "s"\n'
        'account_id = "111122223333"\n'
        '[[credentials]]\naccess_key_id = "A2"\nsecret_access_key = "s"\n'
        'account_id = "111122223333"\nprincipal_arn = "arn:aws:iam::111122223333:role/Admin"\n'
    )
    builtin, first, second = load_config(config).credentials
    assert builtin.principal_arn == "arn:aws:iam::000000000000:root"
    assert first.principal_arn == "arn:aws:iam::111122223333:root"
    assert second.principal_arn == "arn:aws:iam::111122223333:role/Admin"


@pytest.mark.parametrize(
    "arn",
    ["arn:aws:iam::444455556666:user/Other", "user/Alice", "", "7"],
)
def test_a_principal_arn_must_be_an_iam_arn_of_its_account(tmp_path: Path, arn: str) -> None:
    config = tmp_path / "cks.toml"
    config.write_text(
        '[[credentials]]\naccess_key_id = "A1"\nsecret_access_key = "s"\n'
        f'account_id = "111122223333"\nprincipal_arn = "{arn}"\n'
    )
    with pytest.raises(ConfigError, match=r"credentials\[0\]\.principal_arn"):
        load_config(config)
