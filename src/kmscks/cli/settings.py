"""Configuration the way the AWS CLI resolves it: options, AWS_* variables, ~/.aws files.

Layer: cli. Reads `~/.aws/config` (AWS_CONFIG_FILE) and `~/.aws/credentials`
(AWS_SHARED_CREDENTIALS_FILE) with botocore's precedence: command-line option, then environment,
then the selected profile. Credentials follow botocore's chain: environment (skipped when
--profile is given), shared credentials file, config file, `credential_process`, then container
and EC2 instance metadata (metadata_credentials.py). A profile with role_arn, web identity, SSO
or a login session is handed to botocore's own resolver instead (_botocore_credentials).
Imports botocore only for such a profile, never server code; configparser is cheap enough for
the hot path.
"""

from __future__ import annotations

import configparser
import os
import re
from functools import cached_property
from typing import Any, NamedTuple

from kmscks.cli.errors import (
    CLIError,
    ConfigurationError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFoundError,
)

# botocore's validate_region_name: a host label of at most 63 characters, not all digits; the
# empty string passes (and signs with an empty region, as aws does).
_REGION_NAME = re.compile(r"^(?![0-9]+$)(?!-)[a-zA-Z0-9-]{,63}(?<!-)$")


class Credentials(NamedTuple):
    # A NamedTuple, not a dataclass: importing dataclasses costs ~10 ms of start-up.
    access_key: str
    secret_key: str
    token: str | None = None


def _read_ini(path: str) -> dict[str, dict[str, str]]:
    parser = configparser.RawConfigParser()
    try:
        parser.read([os.path.expanduser(path)], encoding="utf-8")
    except configparser.Error as error:
        raise CLIError(f"Unable to parse config file: {os.path.expanduser(path)}") from error
    return {section: dict(parser.items(section)) for section in parser.sections()}


def _nested(value: str) -> dict[str, str]:
    # botocore's "sub-section" values: `kms =\n  endpoint_url = ...`
    result = {}
    for line in value.splitlines():
        key, sep, item = line.partition("=")
        if sep:
            result[key.strip()] = item.strip()
    return result


class Settings:
    """Everything the CLI reads from the environment and the ~/.aws files."""

    def __init__(self, environ: dict[str, str], profile_option: str | None) -> None:
        self.environ = environ
        self.profile_option = profile_option
        # awscli applies --profile only when non-empty; botocore then takes AWS_PROFILE or
        # AWS_DEFAULT_PROFILE when set, even to '' (a profile that cannot be found).
        self.profile_name = profile_option or next(
            (environ[name] for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") if name in environ),
            "default",
        )

    @cached_property
    def _config_file(self) -> dict[str, dict[str, str]]:
        return _read_ini(self.environ.get("AWS_CONFIG_FILE", "~/.aws/config"))

    @cached_property
    def _credentials_file(self) -> dict[str, dict[str, str]]:
        return _read_ini(self.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"))

    def _config_profile(self, name: str) -> dict[str, str] | None:
        sections = self._config_file
        if name == "default" and "default" in sections:
            return sections["default"]
        return sections.get(f"profile {name}")

    @cached_property
    def profile(self) -> dict[str, str]:
        """The selected profile's config values; an unknown explicit profile is an error."""
        found = self._config_profile(self.profile_name)
        if found is None:
            if self.profile_name != "default" and self.profile_name not in self._credentials_file:
                raise ProfileNotFoundError(self.profile_name)
            return {}
        return found

    def profile_value(self, key: str) -> str | None:
        return self.profile.get(key)

    def timestamp_format(self) -> str:
        try:
            value = self.profile.get("cli_timestamp_format", "iso8601")
        except ProfileNotFoundError:
            # awscli falls back to the default here; the unknown profile fails later.
            value = "iso8601"
        if value not in ("wire", "iso8601"):
            raise ConfigurationError(
                f'Unknown cli_timestamp_format value: {value}, valid values are "wire" or "iso8601"'
            )
        return value

    def output(self, option: str | None) -> str:
        if option is not None:
            return option
        env = self.environ.get("AWS_DEFAULT_OUTPUT")
        if env is not None:  # set to '' it is an unknown output type, as in aws
            return env
        try:
            configured = self.profile_value("output")
            return "json" if configured is None else configured
        except ProfileNotFoundError:
            return "json"

    def region(self, option: str | None) -> str:
        """The region (also part of the SigV4 scope, so needed with --endpoint-url too)."""
        # botocore takes the first source that is set, even to an empty string.
        found = option
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if found is None:
                found = self.environ.get(name)
        if found is None:
            found = self.profile_value("region")
        if found is None:
            raise NoRegionError()
        if not _REGION_NAME.match(found):
            # botocore's validate_region_name; it also keeps "us east" out of a hostname.
            raise CLIError(f"Provided region_name '{found}' doesn't match a supported format.")
        return found

    def endpoint_url(
        self, option: str | None, region: str, service: str = "kms", default: str | None = None
    ) -> str:
        """botocore's configured endpoints: the option, AWS_ENDPOINT_URL_<SERVICE>,
        AWS_ENDPOINT_URL, the profile's `services` section, its endpoint_url, else `default`
        (the service's AWS endpoint). `service` is botocore's config key (`kms`,
        `cloudhsm_v2`)."""
        if option:
            return option
        if (
            self.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true"
            and (self.profile_value("ignore_configured_endpoint_urls") or "").lower() != "true"
        ):
            for name in (f"AWS_ENDPOINT_URL_{service.upper()}", "AWS_ENDPOINT_URL"):
                if self.environ.get(name):
                    return self.environ[name]
            services = self.profile_value("services")
            if services:
                section = self._config_file.get(f"services {services}", {})
                nested = _nested(section.get(service, ""))
                if nested.get("endpoint_url"):
                    return nested["endpoint_url"]
            if self.profile_value("endpoint_url"):
                return str(self.profile_value("endpoint_url"))
        return default or f"https://{service}.{region}.amazonaws.com"

    def ca_bundle(self, option: str | None) -> str | None:
        return option or self.environ.get("AWS_CA_BUNDLE") or self.profile_value("ca_bundle")

    def _setting(self, variable: str, key: str) -> str | None:
        """botocore's config chain: the variable when set (even to ''), else the profile's."""
        value = self.environ.get(variable)
        return self.profile_value(key) if value is None else value

    def retry_mode(self) -> str:
        """botocore's Config accepts only standard and adaptive (aws-cli 2.33.31 and 2.9.19
        alike refuse boto3's `legacy`); cks retries the same way in both."""
        mode = self._setting("AWS_RETRY_MODE", "retry_mode")
        if mode is None:
            return "standard"
        if mode not in ("standard", "adaptive"):
            raise CLIError(
                f'Invalid value provided to "mode": "{mode}" must be one of: '
                '"standard" or "adaptive"'
            )
        return mode

    def max_attempts(self) -> int:
        """Total attempts, 3 unless configured; int() errors are the raw Python message."""
        value = self._setting("AWS_MAX_ATTEMPTS", "max_attempts")
        if value is None:
            return 3
        attempts = int(value)
        if attempts < 1:
            raise CLIError(
                f'Value provided to "max_attempts": {attempts} must be an integer greater '
                "than or equal to one."
            )
        return attempts

    def pager(self) -> str:
        if "AWS_PAGER" in self.environ:
            return self.environ["AWS_PAGER"]
        configured = self.profile.get("cli_pager")
        if configured is not None:
            return configured
        return self.environ.get("PAGER", "less")

    def credentials(self) -> Credentials:
        """botocore's chain, as far as cks implements it; NoCredentialsError when it ends."""
        found = self.find_credentials()
        if found is None:
            raise NoCredentialsError()
        return found

    def find_credentials(self) -> Credentials | None:
        """The chain without the final error: botocore resolves credentials when the client
        is created (so broken sources fail before a missing region) but reports their absence
        only when signing."""
        if not self.profile_option:
            found = self._env_credentials()
            if found:
                return found
        if self._delegated():
            return _botocore_credentials(self.profile_option)
        shared = self._credentials_file.get(self.profile_name, {})
        for source in (shared, self.profile):
            found = _profile_credentials(source)
            if found:
                return found
        process = self.profile.get("credential_process")
        if process:
            return _process_credentials(process)
        from kmscks.cli import metadata_credentials

        return metadata_credentials.container_credentials(
            self.environ
        ) or metadata_credentials.instance_credentials(
            self.environ, self.profile.get("ec2_metadata_service_endpoint")
        )

    def _delegated(self) -> bool:
        """Whether botocore's own providers must resolve this profile's credentials: they call
        STS, the SSO portal or read an OIDC token, which cks does not re-implement."""
        if any(key in self.profile for key in _DELEGATED_KEYS):
            return True
        # EKS-style web identity from the environment (ignored for an explicit --profile).
        return not self.profile_option and bool(self.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE"))

    def _env_credentials(self) -> Credentials | None:
        # botocore's EnvProvider: no (or an empty) access key means no env credentials at all;
        # only a missing secret beside an access key is "partial".
        access = self.environ.get("AWS_ACCESS_KEY_ID")
        secret = self.environ.get("AWS_SECRET_ACCESS_KEY")
        if not access:
            return None
        if not secret:
            raise CLIError("Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY")
        token = self.environ.get("AWS_SESSION_TOKEN") or self.environ.get("AWS_SECURITY_TOKEN")
        return Credentials(access, secret, token)


def _profile_credentials(section: dict[str, str]) -> Credentials | None:
    access = section.get("aws_access_key_id")
    secret = section.get("aws_secret_access_key")
    if not access and not secret:
        return None
    if not access or not secret:
        missing = "aws_access_key_id" if not access else "aws_secret_access_key"
        raise CLIError(f"Partial credentials found in shared-credentials-file, missing: {missing}")
    return Credentials(access, secret, section.get("aws_session_token"))


# Profile settings that make botocore, not cks, resolve the credentials: assume-role
# (role_arn with source_profile or credential_source), web identity, IAM Identity Center (SSO)
# and `aws login` sessions. Static keys and credential_process stay on cks's fast path.
_DELEGATED_KEYS = ("role_arn", "web_identity_token_file", "sso_start_url", "sso_session",
                   "login_session")  # fmt: skip


def _botocore_credentials(profile_option: str | None) -> Credentials | None:
    """botocore's credential chain for the profile; botocore (~0.3 s) is imported only here.
    Like awscli, an explicit --profile turns environment credentials off (botocore does that
    when the session's profile is set), and botocore reads AWS_PROFILE itself otherwise.
    STS and SSO are reached wherever botocore's configured endpoints say
    (AWS_ENDPOINT_URL_STS, the profile's endpoint_url or services section)."""
    import botocore.exceptions
    import botocore.session

    session = botocore.session.Session(profile=profile_option)
    try:
        found = session.get_credentials()
        frozen = found.get_frozen_credentials() if found is not None else None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise CLIError(str(error)) from error
    if frozen is None or not frozen.access_key:
        return None
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token)


def _process_credentials(command: str) -> Credentials:
    """botocore's ProcessProvider: run the command (no shell), read its JSON; the same
    error texts (the process's stderr is passed on as it is)."""
    import json
    import shlex
    import subprocess

    completed = subprocess.run(shlex.split(command), capture_output=True, check=False)
    prefix = "Error when retrieving credentials from custom-process: "
    if completed.returncode != 0:
        raise CLIError(prefix + completed.stderr.decode("utf-8"))
    data: dict[str, Any] = json.loads(completed.stdout.decode("utf-8"))
    version = data.get("Version", "<Version key not provided>")
    if version != 1:
        raise CLIError(
            f"{prefix}Unsupported version '{version}' for credential process provider, "
            "supported versions: 1"
        )
    try:
        return Credentials(data["AccessKeyId"], data["SecretAccessKey"], data.get("SessionToken"))
    except KeyError as error:
        raise CLIError(f"{prefix}Missing required key in response: {error}") from error
