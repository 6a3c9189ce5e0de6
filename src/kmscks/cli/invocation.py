"""One `cks kms <operation>` run, in the order the AWS CLI v2 checks things.

Layer: cli. Global values (--query, --endpoint-url, timeouts, cli_timestamp_format), the
operation's options, pagination flags, parameter files, --generate-cli-skeleton,
--cli-input-*, region, endpoint, validation, credentials, the call(s) and the output (through
the pager on a terminal). Must not import server code; botocore is never imported.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO
from urllib.parse import urlsplit

from kmscks import version_string
from kmscks.cli import arguments, errors, spec, wire
from kmscks.cli.errors import (
    CLIError,
    ConfigurationError,
    NoCredentialsError,
    ParamValidationError,
)
from kmscks.cli.output import Query, write_response
from kmscks.cli.paginate import PageIterator
from kmscks.cli.proxies import proxy_for
from kmscks.cli.settings import Settings
from kmscks.cli.shaping import shape_value
from kmscks.cli.transport import Endpoint
from kmscks.cli.validation import validate


class DebugLog:
    """--debug: botocore-style log lines on stderr (`asctime - thread - logger - level - msg`)."""

    def __call__(self, logger: str, message: str) -> None:
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        sys.stderr.write(
            f"{stamp},{int(now % 1 * 1000):03d} - MainThread - {logger} - DEBUG - {message}\n"
        )


def _timeout(value: str | None) -> float | None:
    if value is None:
        return 60.0
    seconds = int(value)  # a bad value fails with Python's own message (exit 255), like aws
    return float(seconds) if seconds else None


class Invocation:
    """The global options and settings of one run; `run()` executes the operation."""

    def __init__(
        self, options: argparse.Namespace, environ: dict[str, str], argv: list[str]
    ) -> None:
        self.options = options
        self.environ = environ
        self.argv = argv
        self.settings = Settings(environ, options.profile)
        self.query: Query | None = None
        self.debug: DebugLog | None = DebugLog() if options.debug else None
        self.timestamp_format = "iso8601"
        self.binary_format = "base64"

    def resolve_globals(self) -> None:
        """awscli's top-level-args-parsed and session-initialized handlers, in order."""
        options = self.options
        if self.debug:
            for _ in range(2):
                self.debug("awscli.clidriver", f"CLI version: {version_string()}")
                self.debug("awscli.clidriver", f"Arguments entered to CLI: {['kms', *self.argv]!r}")
        if options.query is not None:
            try:
                self.query = Query(options.query)
            except Exception as error:
                raise ParamValidationError(f"Bad value for --query {options.query}: {error}")
        if options.endpoint_url is not None and not urlsplit(options.endpoint_url).scheme:
            raise ParamValidationError(
                f'Bad value for --endpoint-url "{options.endpoint_url}": scheme is missing.  '
                "Must be of the form http://<hostname>/ or https://<hostname>/"
            )
        self.read_timeout = _timeout(options.read_timeout)
        self.connect_timeout = _timeout(options.connect_timeout)
        self.timestamp_format = self.settings.timestamp_format()
        self.binary_format = wire.binary_format(
            options.cli_binary_format, self.settings.profile_value
        )

    def run(self, command: str, argv: list[str]) -> int:
        operation = spec.operation(command)
        parsed = arguments.parse_operation(command, argv)
        _check_watch_options(parsed)
        paginate = bool(self.options.paginate) and operation["paginator"] is not None
        if operation["paginator"] is not None:
            paginate = self._check_pagination_options(operation, parsed, paginate)
        params = arguments.call_parameters(command, parsed)
        # awscli's calling-command handlers: --cli-input-* is applied before the skeleton.
        params = arguments.merge_cli_input(parsed, params)
        if parsed.generate_cli_skeleton:
            return self._skeleton(command, parsed.generate_cli_skeleton, params)
        paginator = operation["paginator"]
        if paginator and (paginator["input_token"] in params or paginator["limit_key"] in params):
            paginate = False  # raw Limit/Marker in --cli-input-json also turn pagination off
        max_items = getattr(parsed, "max_items", None)
        if paginate and max_items is not None and max_items <= 0:
            sys.stderr.write(
                "warning: Non-positive values for --max-items may result in undefined behavior.\n"
            )
        endpoint = self._endpoint()
        try:
            call = self._caller(endpoint, operation)
            if getattr(parsed, "watch", False):
                from kmscks.cli.watch import watch

                return watch(call, params, parsed, sys.stdout)
            response: dict[str, Any] | PageIterator
            if paginate:
                response = PageIterator(
                    call,
                    params,
                    paginator,
                    getattr(parsed, "page_size", None),
                    max_items,
                    getattr(parsed, "starting_token", None),
                )
            else:
                response = call(params)
            self._write(operation["name"], response)
        finally:
            endpoint.close()
        return 0

    def _check_pagination_options(
        self, operation: dict[str, Any], parsed: argparse.Namespace, paginate: bool
    ) -> bool:
        # awscli's check_should_enable_pagination: the raw input token or limit key turns
        # pagination off silently; --no-paginate with the CLI's own paging options is an error.
        paginator = operation["paginator"]
        for member in (paginator["input_token"], paginator["limit_key"]):
            option = next(o for o, m in operation["options"].items() if m == member)
            if getattr(parsed, arguments.option_dest(option)) is not None:
                paginate = False
        if not paginate:
            used = [
                name
                for name in ("starting_token", "page_size", "max_items")
                if getattr(parsed, name, None)
            ]
            if used:
                raise ParamValidationError(
                    "Cannot specify --no-paginate along with pagination arguments: "
                    + ", ".join("--" + name.replace("_", "-") for name in used)
                )
        return paginate

    def _endpoint(self) -> Endpoint:
        options = self.options
        credentials = self.settings.find_credentials() if options.sign_request else None
        region = self.settings.region(options.region)
        url = self.settings.endpoint_url(options.endpoint_url, region)
        endpoint = Endpoint(
            url=url,
            region=region,
            credentials=credentials,
            user_agent=version_string(),
            verify_ssl=options.verify_ssl,
            ca_bundle=self.settings.ca_bundle(options.ca_bundle),
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_attempts=self.settings.max_attempts(),
            debug=self.debug,
            proxy=proxy_for(url, self.environ),
            retry_mode=self.settings.retry_mode(),
        )
        if self.debug:
            self.debug("botocore.regions", f"Endpoint provider result: {endpoint.full_url}")
        return endpoint

    def _caller(self, endpoint: Endpoint, operation: dict[str, Any]) -> Any:
        target_prefix = spec.service()["target_prefix"]
        sign = bool(self.options.sign_request)

        def call(params: dict[str, Any]) -> dict[str, Any]:
            if self.binary_format == "base64":
                params = wire.decode_blobs(params, operation["input"])
            validate(params, operation["input"])
            if sign and endpoint.credentials is None:
                raise NoCredentialsError()
            request = wire.to_wire(params, operation["input"])
            body = endpoint.call(operation["name"], target_prefix, request)
            shaped: dict[str, Any] = shape_value(body, operation["output"], self.timestamp_format)
            return shaped

        return call

    def _write(self, operation_name: str, response: dict[str, Any] | PageIterator) -> None:
        fmt = self.settings.output(self.options.output)
        if fmt not in arguments.OUTPUT_CHOICES:  # from AWS_DEFAULT_OUTPUT or the profile
            raise CLIError(f"Unknown output type: {fmt}")
        if fmt == "table":
            from kmscks.cli import table

            # awscli makes the formatter before it fetches the first page.
            errors.STREAMS_AUTORESET = table.colorama_would_init(
                self.options.color, _isatty(sys.stdout)
            )
        pager = self._pager()
        stream: Any = pager if pager is not None else sys.stdout
        try:
            write_response(
                fmt,
                operation_name,
                response,
                self.query,
                stream,
                self.options.color,
                _isatty(sys.stdout),
            )
        finally:
            if pager is not None:
                pager.close()

    def _pager(self) -> LazyPager | None:
        """The pager when stdout is a terminal and one is configured (AWS_PAGER, cli_pager,
        PAGER, else `less`); like awscli it starts on the first write, with LESS=FRX."""
        if self.options.no_cli_pager or not _isatty(sys.stdout):
            return None
        command = self.settings.pager()
        return LazyPager(command, self.environ) if command else None

    def _skeleton(self, command: str, kind: str, params: dict[str, Any]) -> int:
        operation = spec.operation(command)
        if kind == "input":
            sys.stdout.write(operation["skeleton_input"])
            return 0
        if kind == "yaml-input":
            sys.stdout.write(operation["skeleton_yaml_input"])
            return 0
        # `output`: awscli stubs a response made of member names and validates it against the
        # output shape first, which fails for DescribeCustomKeyStores (aws-cli-behaviour.md §6).
        self.settings.region(self.options.region)
        fake = _fake_output(operation["output"])
        validate(fake, operation["output"])
        validate(params, operation["input"])
        self._write(
            operation["name"], shape_value(fake, operation["output"], self.timestamp_format)
        )
        return 0


def _check_watch_options(parsed: argparse.Namespace) -> None:
    """--until-state and --watch-interval only mean something with --watch; silently ignoring
    them would leave a script waiting for a state it never checks."""
    if getattr(parsed, "watch", False):
        interval = getattr(parsed, "watch_interval", None)
        if interval is not None and not interval > 0:
            raise ParamValidationError(f"--watch-interval must be more than 0 seconds: {interval}")
        return
    for name in ("until_state", "watch_interval"):
        if getattr(parsed, name, None) is not None:
            raise ParamValidationError(f"--{name.replace('_', '-')} can only be used with --watch")


def _fake_output(shape: spec.Shape, name: str = "") -> Any:
    kind = shape["type"]
    if kind == "structure":
        return {member: _fake_output(inner, member) for member, inner in shape["members"]}
    if kind == "list":
        # ArgumentGenerator(use_member_names=True) names list items after their shape.
        return [_fake_output(shape["member"], shape.get("member_name", ""))]
    if kind == "map":
        return {"KeyName": _fake_output(shape["value"])}
    if kind == "string":
        return name
    if kind in ("integer", "long"):
        return 0
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return 0
    return None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class LazyPager:
    """awscli's LazyPager: the pager process (shlex-split, no shell) starts on the first write."""

    def __init__(self, command: str, environ: dict[str, str]) -> None:
        self._command = command
        self._environ = environ
        self._process: Any = None

    def write(self, text: str) -> None:
        if self._process is None:
            import shlex
            import subprocess

            env = dict(self._environ)
            env.setdefault("LESS", "FRX")
            try:
                self._process = subprocess.Popen(
                    shlex.split(self._command), stdin=subprocess.PIPE, env=env, text=True
                )
            except OSError as error:
                raise ConfigurationError(
                    "Unable to redirect output to pager. Received the following error when "
                    f"opening pager:\n{error}\n\nLearn more about configuring the output pager "
                    'by running "cks help config-vars".'
                )
        try:
            self._process.stdin.write(text)
        except BrokenPipeError:
            pass  # the user quit the pager early

    def flush(self) -> None:
        if self._process is not None:
            try:
                self._process.stdin.flush()
            except BrokenPipeError:
                pass

    def close(self) -> None:
        if self._process is not None:
            try:
                self._process.stdin.close()
            except BrokenPipeError:
                pass
            self._process.wait()
