"""`cks configure` and `cks login`: write the profile that `cks kms` and `cks cloudhsm` read.

Layer: cli. The commands the "You must specify a region ... "cks configure"" and "Unable to
locate credentials ... "cks login"" hints name. `configure` writes a profile's region, output
and endpoint_url to ~/.aws/config (AWS_CONFIG_FILE) and its keys to ~/.aws/credentials
(AWS_SHARED_CREDENTIALS_FILE); `login` writes the keys alone. On a terminal they ask what no
flag gave, like `aws configure` (`AWS Access Key ID [None]: `, the profile's value in brackets;
the secret is read without echo and never shown); otherwise they take flags. A value neither
given nor answered keeps what the profile has, else takes the local server's default (the
built-in test/test keys, us-east-1, http://127.0.0.1:4599). Other profiles, keys and comments
in the files are left as they are. A secret is never printed.
Must not import server code or botocore.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from kmscks.cli.errors import CLIError, ParamValidationError

DEFAULTS = {
    "aws_access_key_id": "test",
    "aws_secret_access_key": "test",
    "region": "us-east-1",
    "endpoint_url": "http://127.0.0.1:4599",
}
OUTPUT_CHOICES = ("json", "text", "table", "yaml", "yaml-stream")
_REGION = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")
_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")

# (file, key, flag, prompt, secret) in the order `aws configure` asks, plus the endpoint.
CREDENTIAL_FIELDS = (
    ("credentials", "aws_access_key_id", "access_key_id", "AWS Access Key ID", False),
    ("credentials", "aws_secret_access_key", "secret_access_key", "AWS Secret Access Key", True),
)
CONFIG_FIELDS = (
    ("config", "region", "region", "Default region name", False),
    ("config", "output", "output", "Default output format", False),
    ("config", "endpoint_url", "endpoint_url", "Endpoint URL", False),
)


def _parser(prog: str, with_config: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Write a profile (region, output, endpoint_url and keys) for cks kms and cks cloudhsm."
            if with_config
            else "Write a profile's access keys for cks kms and cks cloudhsm."
        ),
    )
    add = parser.add_argument
    add("--profile", help="the profile to write (else AWS_PROFILE, else default)")
    add("--access-key-id", help=f"default: the profile's, else {DEFAULTS['aws_access_key_id']}")
    add("--secret-access-key", help="default: the profile's, else the built-in test secret")
    if with_config:
        add("--region", help=f"default: the profile's, else {DEFAULTS['region']}")
        add("--output", choices=OUTPUT_CHOICES, help="default: the profile's, else none (json)")
        add("--endpoint-url", help=f"default: the profile's, else {DEFAULTS['endpoint_url']}")
    return parser


def _path(environ: dict[str, str], which: str) -> Path:
    if which == "config":
        return Path(os.path.expanduser(environ.get("AWS_CONFIG_FILE", "~/.aws/config")))
    default = "~/.aws/credentials"
    return Path(os.path.expanduser(environ.get("AWS_SHARED_CREDENTIALS_FILE", default)))


def _section_name(which: str, profile: str) -> str:
    # The config file says [profile NAME] except for [default]; the credentials file says [NAME].
    return profile if which == "credentials" or profile == "default" else f"profile {profile}"


def read_section(path: Path, section: str) -> dict[str, str]:
    from kmscks.cli.settings import _read_ini

    return _read_ini(str(path)).get(section, {})


def update_section(path: Path, section: str, values: dict[str, str], private: bool) -> None:
    """Set `values` in `[section]`, keeping every other line of the file as it was."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    start = next((i for i, line in enumerate(lines) if _section_of(line) == section), None)
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines.append(f"[{section}]")
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if _section_of(lines[i])), len(lines))
    pending = dict(values)
    for i in range(start + 1, end):
        key = lines[i].split("=", 1)[0].strip()
        if "=" in lines[i] and key in pending and not lines[i][:1].isspace():
            lines[i] = f"{key} = {pending.pop(key)}"
    insert_at = end
    while insert_at > start + 1 and not lines[insert_at - 1].strip():
        insert_at -= 1  # after the section's last setting, before the blank line
    lines[insert_at:insert_at] = [f"{key} = {value}" for key, value in pending.items()]
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    if private:
        os.chmod(path, 0o600)  # the credentials file may have existed with wider permissions


def _section_of(line: str) -> str | None:
    found = _SECTION.match(line)
    return found.group(1).strip() if found else None


def _shown(key: str, value: str | None, secret: bool) -> str:
    """What the prompt shows in brackets: never a secret, and only the end of a key id."""
    if not value:
        return "None"
    if secret:
        return "*" * 16
    if key == "aws_access_key_id" and len(value) > 4:
        return "*" * 16 + value[-4:]
    return value


def _ask(prompt: str, key: str, current: str | None, secret: bool) -> str | None:
    import getpass

    question = f"{prompt} [{_shown(key, current, secret)}]: "
    try:
        answer = getpass.getpass(question) if secret else input(question)
    except EOFError:
        answer = ""
    return answer.strip() or current or DEFAULTS.get(key)


def _check(key: str, value: str) -> None:
    if key == "endpoint_url" and not re.match(r"^https?://[^/\s]+", value):
        raise ParamValidationError(
            f'Bad value for --endpoint-url "{value}": scheme is missing.  '
            "Must be of the form http://<hostname>/ or https://<hostname>/"
        )
    if key == "region" and not _REGION.match(value):
        raise ParamValidationError(
            f"Provided region_name '{value}' doesn't match a supported format."
        )
    if key == "output" and value not in OUTPUT_CHOICES:
        raise ParamValidationError(f"Unknown output type: {value}")
    if key.startswith("aws_") and (not value or any(ch.isspace() for ch in value)):
        raise ParamValidationError(f"The {key} must be a single word without spaces.")


def run(argv: list[str], with_config: bool) -> int:
    prog = "cks configure" if with_config else "cks login"
    args = _parser(prog, with_config).parse_args(argv)
    environ = dict(os.environ)
    profile = args.profile or environ.get("AWS_PROFILE") or "default"
    fields = CREDENTIAL_FIELDS + (CONFIG_FIELDS if with_config else ())
    interactive = sys.stdin.isatty()
    current = {
        which: read_section(_path(environ, which), _section_name(which, profile))
        for which in ("config", "credentials")
    }
    chosen: dict[str, dict[str, str]] = {"config": {}, "credentials": {}}
    for which, key, flag, prompt, secret in fields:
        given = getattr(args, flag)
        had = current[which].get(key)
        if given is not None:
            value: str | None = given
        elif interactive:
            value = _ask(prompt, key, had, secret)
        else:
            value = had or DEFAULTS.get(key)
        if value:
            _check(key, value)
            chosen[which][key] = value
    _warn_if_shared(profile, current, chosen)
    written = []
    for which in ("config", "credentials"):
        if chosen[which]:
            path = _path(environ, which)
            update_section(
                path, _section_name(which, profile), chosen[which], private=which == "credentials"
            )
            keys = ", ".join(
                f"{key} = {'(not shown)' if key == 'aws_secret_access_key' else value}"
                for key, value in chosen[which].items()
            )
            written.append(f"  {path}: [{_section_name(which, profile)}] {keys}")
    sys.stdout.write(f'Wrote profile "{profile}":\n' + "\n".join(written) + "\n")
    return 0


def _warn_if_shared(
    profile: str, current: dict[str, dict[str, str]], chosen: dict[str, dict[str, str]]
) -> None:
    """A profile that already holds other keys is probably one for the real AWS: pointing it
    at a local endpoint changes where the AWS CLI and SDKs send that profile's requests."""
    endpoint = chosen["config"].get("endpoint_url")
    keys = current["credentials"].get("aws_access_key_id")
    if (
        endpoint
        and endpoint != current["config"].get("endpoint_url")
        and keys
        not in (
            None,
            DEFAULTS["aws_access_key_id"],
        )
    ):
        sys.stderr.write(
            f'Note: profile "{profile}" already has access keys of its own; with endpoint_url '
            f"set, every client that honours it (the AWS CLI 2.13+, SDKs) now sends this "
            f"profile's requests to {endpoint}. `--profile cks` keeps the two apart.\n"
        )


def _main(argv: list[str], with_config: bool) -> int:
    try:
        return run(argv, with_config)
    except CLIError as error:
        sys.stderr.write("".join(error.writes()))
        return error.rc
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        return 130


def main(argv: list[str]) -> int:
    """`cks configure`: region, output, endpoint_url and keys."""
    return _main(argv, with_config=True)


def login(argv: list[str]) -> int:
    """`cks login`: the keys alone."""
    return _main(argv, with_config=False)
