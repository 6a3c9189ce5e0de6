"""The `[keys]` settings are checked at start-up like every other setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmscks.config import ConfigError, load_config


def test_the_keys_section(tmp_path: Path) -> None:
    path = tmp_path / "cks.toml"
    path.write_text("[keys]\nday_seconds = 0.1\nmax_keys_per_region = 7\n")
    config = load_config(path)
    assert (config.day_seconds, config.max_keys_per_region) == (0.1, 7)
    assert (load_config(None).day_seconds, load_config(None).max_keys_per_region) == (
        86400.0,
        100_000,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("day_seconds = 0", "keys.day_seconds must be more than 0"),
        ("day_seconds = true", "keys.day_seconds must be more than 0"),
        ("day_seconds = 'short'", "keys.day_seconds must be of type int or float"),
        ("max_keys_per_region = 0", "keys.max_keys_per_region must be 1 or more"),
        ("days = 1", "unknown setting(s) in [keys]: days"),
    ],
)
def test_bad_keys_settings(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cks.toml"
    path.write_text(f"[keys]\n{text}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert message in str(raised.value)
