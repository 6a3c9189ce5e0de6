"""The CLI's exception tree and how each one is reported (stderr text and exit code).

Layer: cli. Mirrors awscli v2's error handler chain as of 2.33 (before 2.34 put `[ERROR]` on
every message): every message is written as a blank line, the text, and a newline; argparse
errors read `cks: [ERROR]: <message>`, then the usage block. Where a message names the program
it says `cks`. Imports nothing heavy.

    CLIError                      exit 255 unless a subclass says otherwise
    ├── ParamValidationError      252  bad option values, --query, --endpoint-url, input JSON
    │   ├── ArgParseError         252  argparse errors: `cks: [ERROR]: ...`, then the usage
    │   └── ParamError            252  "Error parsing parameter '<name>': <why>"
    ├── UnknownArgumentError      252  "Unknown options: ...", after the usage block
    ├── ConfigurationError        253  e.g. an invalid cli_timestamp_format
    ├── NoRegionError             253
    ├── NoCredentialsError        253
    ├── ServiceError              254  an error response from the service
    ├── ProfileNotFoundError      255  (not 253: the AWS CLI reports it as a general error)
    ├── EndpointConnectionError   255
    └── PaginationError           255
"""

from __future__ import annotations

PROG = "cks"
HELP_BLURB = (
    "To see help text, you can run:\n"
    "\n"
    f"  {PROG} help\n"
    f"  {PROG} <command> help\n"
    f"  {PROG} <command> <subcommand> help\n"
)
USAGE = f"{PROG} [options] <command> <subcommand> [<subcommand> ...] [parameters]\n{HELP_BLURB}"

# Set once awscli would have called colorama.init(autoreset=True) (it does so when it makes a
# coloured table formatter): from then on a reset follows every write to stdout and stderr.
STREAMS_AUTORESET = False
RESET = "\x1b[0m"

PARAM_VALIDATION_RC = 252
CONFIGURATION_RC = 253
CLIENT_ERROR_RC = 254
GENERAL_RC = 255
SIGINT_RC = 130


class CLIError(Exception):
    rc = GENERAL_RC

    def writes(self) -> list[str]:
        """The stderr text, as the separate writes awscli's handler makes (colorama's autoreset
        adds a reset after each one; see table.py)."""
        return ["\n", str(self), "\n"]

    def render(self) -> str:
        return "".join(self.writes())


class ParamValidationError(CLIError):
    rc = PARAM_VALIDATION_RC


class ArgParseError(ParamValidationError):
    pass


class ResourceLoadingError(CLIError):
    """A `file://` or `fileb://` value that cannot be read where awscli does not wrap the error
    in a ParamError (a shorthand `key@=file://...` value): exit 255."""


class ParamError(ParamValidationError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"Error parsing parameter '{name}': {message}")


class UnknownArgumentError(CLIError):
    rc = PARAM_VALIDATION_RC

    def writes(self) -> list[str]:
        return ["\n", f"usage: {USAGE}\n{self}\n", "\n"]


class ConfigurationError(CLIError):
    rc = CONFIGURATION_RC


class NoRegionError(CLIError):
    rc = CONFIGURATION_RC

    def __init__(self) -> None:
        super().__init__(
            "You must specify a region. You can also configure your region by running "
            f'"{PROG} configure".'
        )


class NoCredentialsError(CLIError):
    rc = CONFIGURATION_RC

    def __init__(self) -> None:
        # 2.33 says "aws login" here (2.9.19 still says "aws configure"); the contract follows 2.33.
        super().__init__(
            "Unable to locate credentials. You can configure credentials by running "
            f'"{PROG} login".'
        )


class ProfileNotFoundError(CLIError):
    def __init__(self, profile: str) -> None:
        super().__init__(f"The config profile ({profile}) could not be found")


class EndpointConnectionError(CLIError):
    def __init__(self, url: str) -> None:
        super().__init__(f'Could not connect to the endpoint URL: "{url}"')


class ReadTimeoutError(CLIError):
    def __init__(self, url: str) -> None:
        super().__init__(f'Read timeout on endpoint URL: "{url}"')


class PaginationError(CLIError):
    pass


class ServiceError(CLIError):
    """An error response from the service, in botocore's ClientError wording."""

    rc = CLIENT_ERROR_RC

    def __init__(
        self, code: str, message: str, operation: str, status: int, retries: int | None = None
    ) -> None:
        # botocore adds the retry count only when the last attempt was the maximum one.
        retry_info = f" (reached max retries: {retries})" if retries is not None else ""
        super().__init__(
            f"An error occurred ({code}) when calling the {operation} operation{retry_info}: "
            f"{message}"
        )
        self.code = code
        self.error_message = message
        self.status = status
