"""Sending one KMS request: SigV4 signing, HTTP(S) with http.client, retries, error parsing.

Layer: cli. Behaves like botocore under the AWS CLI v2: AWS JSON 1.1 POSTs, "standard" retry
mode (3 attempts by default, exponential backoff with jitter) for connection errors, 5xx and
throttling, and ClientError's message for error responses (__type / message;
../shared/contract/kms-custom-key-stores.md §1). Derives the SigV4 signing key itself:
kmscks.sigv4 would do, but importing it pulls in dataclasses and enum (~10 ms of start-up,
measured with -X importtime). Must not import botocore, urllib3 or server code.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import re
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from kmscks.cli.errors import CLIError, EndpointConnectionError, ReadTimeoutError, ServiceError
from kmscks.cli.proxies import Proxy, masked
from kmscks.cli.settings import Credentials
from kmscks.sigv4_sign import ALGORITHM, canonical_request, credential_scope, signature

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
# botocore's standard-mode throttling and transient error codes.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
MAX_BACKOFF_SECONDS = 20.0


class Endpoint:
    """Where requests go and how; one kept-alive connection for all pages of a command."""

    def __init__(
        self,
        url: str,
        region: str,
        credentials: Credentials | None,
        user_agent: str,
        verify_ssl: bool = True,
        ca_bundle: str | None = None,
        connect_timeout: float | None = 60.0,
        read_timeout: float | None = 60.0,
        max_attempts: int = 3,
        debug: Any = None,  # a callable(logger, message) when --debug is on
        proxy: Proxy | None = None,
        retry_mode: str = "standard",
    ) -> None:
        self.url = url
        self.region = region
        self.credentials = credentials
        self.user_agent = user_agent
        self.verify_ssl = verify_ssl
        self.ca_bundle = ca_bundle
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.debug = debug
        self.proxy = proxy
        self.retry_mode = retry_mode
        self._connection: http.client.HTTPConnection | None = None
        if not _valid_endpoint_url(url):
            # botocore's EndpointCreator: a ValueError before any request (exit 255)
            raise CLIError(f"Invalid endpoint: {url}")
        self._parse_url()

    def _parse_url(self) -> None:
        parts = urlsplit(self.url)
        self.scheme = parts.scheme
        self.hostname = parts.hostname or ""
        self.port = parts.port
        default_port = 443 if self.scheme == "https" else 80
        self.host_header = self.hostname if self.port in (None, default_port) else parts.netloc
        if ":" in self.hostname and self.port in (None, default_port):
            self.host_header = f"[{self.hostname}]"
        base = parts.path
        # botocore's _urljoin of the endpoint path and the operation's requestUri "/".
        if not base or base == "/":
            self.path = "/"
        elif base.endswith("/"):
            self.path = base
        else:
            self.path = base + "/"
        self.full_url = f"{parts.scheme}://{parts.netloc}{self.path}"

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            connection: http.client.HTTPConnection
            # Through a proxy: TCP to the proxy, then CONNECT for https; absolute-URI requests
            # for http (request_target below).
            host, port = (
                (self.proxy.host, self.proxy.port) if self.proxy else (self.hostname, self.port)
            )
            if self.scheme == "https":
                connection = http.client.HTTPSConnection(
                    host, port, timeout=self.connect_timeout, context=self._tls_context()
                )
                if self.proxy is not None:
                    auth = self.proxy.authorization
                    connection.set_tunnel(
                        self.hostname,
                        self.port or 443,
                        headers={"Proxy-Authorization": auth} if auth else None,
                    )
            else:
                connection = http.client.HTTPConnection(host, port, timeout=self.connect_timeout)
            connection.connect()
            if connection.sock is not None:
                connection.sock.settimeout(self.read_timeout)
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connection = connection
        return self._connection

    def _tls_context(self) -> Any:
        import ssl

        context = ssl.create_default_context(cafile=self.ca_bundle)
        if not self.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            # urllib3 warns like this under aws (its exact text names its own file).
            sys.stderr.write(
                f"InsecureRequestWarning: Unverified HTTPS request is being made to host "
                f"'{self.hostname}'. Adding certificate verification is strongly advised.\n"
            )
        return context

    @property
    def request_target(self) -> str:
        return self.full_url if self.proxy and self.scheme == "http" else self.path

    def call(self, operation: str, target_prefix: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send one operation with retries; the parsed JSON body, or ServiceError/CLIError."""
        body = json.dumps(params).encode("utf-8")
        if self.debug:
            self.debug(
                "botocore.endpoint",
                f"Making request for OperationModel(name={operation}) with params: "
                f"{{'url_path': '/', 'query_string': '', 'method': 'POST', 'headers': "
                f"{{'X-Amz-Target': '{target_prefix}.{operation}', "
                f"'Content-Type': 'application/x-amz-json-1.1', 'User-Agent': "
                f"'{self.user_agent}'}}, 'body': {body!r}, 'url': '{self.full_url}'}}",
            )
        attempt = 0
        while True:
            attempt += 1
            try:
                status, data = self._send(operation, target_prefix, body)
            except (
                _ConnectFailed,
                _UnsupportedScheme,
                TimeoutError,
                OSError,
                http.client.HTTPException,
            ) as error:
                self.close()
                if attempt < self.max_attempts:
                    self._sleep(attempt)
                    continue
                raise _connection_error(error, self.full_url, self.proxy)
            if status < 300:
                parsed = _json_body(data)
                return parsed if isinstance(parsed, dict) else {}
            code, message = _error_code_and_message(status, data)
            retryable = status in RETRYABLE_STATUS or code in RETRYABLE_CODES
            if retryable and attempt < self.max_attempts:
                self._sleep(attempt)
                continue
            # botocore's standard (and adaptive) mode marks MaxAttemptsReached whenever the
            # last attempt was the maximum one, retryable or not.
            at_max = attempt >= self.max_attempts
            raise ServiceError(code, message, operation, status, attempt - 1 if at_max else None)

    def _sleep(self, attempt: int) -> None:
        delay = min(random.random() * (2 ** (attempt - 1)), MAX_BACKOFF_SECONDS)
        if self.debug:
            self.debug(
                "botocore.retries.standard",
                f"Retry needed, retrying request after delay of: {delay}",
            )
        time.sleep(delay)

    def _send(self, operation: str, target_prefix: str, body: bytes) -> tuple[int, bytes]:
        headers = {
            "X-Amz-Target": f"{target_prefix}.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
            "User-Agent": self.user_agent,
            "Content-Length": str(len(body)),
        }
        if self.credentials is not None:
            headers.update(self._sign(headers, body))
        if self.scheme.lower() not in ("http", "https"):
            # urllib3's URLSchemeUnknown, which botocore retries like a connection error
            raise _UnsupportedScheme(self.scheme)
        try:
            connection = self._connect()
        except OSError as error:
            raise _ConnectFailed(error) from error
        connection.putrequest(
            "POST", self.request_target, skip_host=True, skip_accept_encoding=True
        )
        connection.putheader("Host", self.host_header)
        if self.proxy and self.scheme == "http" and self.proxy.authorization:
            connection.putheader("Proxy-Authorization", self.proxy.authorization)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        if self.debug:
            self.debug(
                "urllib3.connectionpool",
                f'{self.full_url} "POST {self.path} HTTP/1.1" {response.status} {len(data)}',
            )
            self.debug("botocore.parsers", f"Response headers: {dict(response.getheaders())!r}")
            self.debug("botocore.parsers", f"Response body:\n{data!r}")
        if response.will_close:
            self.close()
        return response.status, data

    def _sign(self, headers: dict[str, str], body: bytes) -> dict[str, str]:
        assert self.credentials is not None
        now = time.gmtime()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", now)
        date = amz_date[:8]
        signed = {
            "content-type": headers["Content-Type"],
            "host": self.host_header,
            "x-amz-date": amz_date,
            "x-amz-target": headers["X-Amz-Target"],
        }
        extra = {"X-Amz-Date": amz_date}
        if self.credentials.token:
            signed["x-amz-security-token"] = self.credentials.token
            extra["X-Amz-Security-Token"] = self.credentials.token
        names = sorted(signed)
        canonical = canonical_request(
            "POST", self.path, "", signed, tuple(names), hashlib.sha256(body).hexdigest()
        )
        signed_with = signature(
            self.credentials.secret_key, amz_date, self.region, "kms", canonical
        )
        extra["Authorization"] = (
            f"{ALGORITHM} Credential={self.credentials.access_key}/"
            f"{credential_scope(date, self.region, 'kms')}, "
            f"SignedHeaders={';'.join(names)}, Signature={signed_with}"
        )
        return extra


_HOST_LABELS = re.compile(r"^((?!-)[A-Z\d-]{1,63}(?<!-)\.)*((?!-)[A-Z\d-]{1,63}(?<!-))$", re.I)


def _valid_endpoint_url(url: str) -> bool:
    """botocore's is_valid_endpoint_url or is_valid_ipv6_endpoint_url."""
    if set("\t\r\n") & set(url):
        return False
    try:
        hostname = urlsplit(url).hostname
    except ValueError:
        return False
    if hostname is None or len(hostname) > 255:
        return False
    if _HOST_LABELS.match(hostname.removesuffix(".")):
        return True
    import ipaddress

    try:
        ipaddress.IPv6Address(hostname.replace("%25", "%"))
    except ValueError:
        return False
    return True


class _UnsupportedScheme(Exception):
    def __init__(self, scheme: str) -> None:
        super().__init__(f"Not supported URL scheme {scheme}")


class _ConnectFailed(Exception):
    def __init__(self, cause: OSError) -> None:
        super().__init__("connect failed")
        self.cause = cause


def _connection_error(error: Exception, url: str, proxy: Proxy | None) -> CLIError:
    """botocore's wording for each way a request can fail before a response arrives."""
    if isinstance(error, _UnsupportedScheme):
        return CLIError(f"An HTTP Client raised an unhandled exception: {error}")
    if isinstance(error, _ConnectFailed) and proxy is not None:
        return CLIError(f'Failed to connect to proxy URL: "{masked(proxy.url)}"')
    if isinstance(error, _ConnectFailed):
        if isinstance(error.cause, TimeoutError):
            return CLIError(f'Connect timeout on endpoint URL: "{url}"')
        if type(error.cause).__name__.startswith("SSL"):
            return CLIError(f"SSL validation failed for {url} {error.cause}")
        return EndpointConnectionError(url)
    if isinstance(error, TimeoutError):
        return ReadTimeoutError(url)
    return CLIError(
        f'Connection was closed before we received a valid response from endpoint URL: "{url}".'
    )


def _json_body(data: bytes) -> Any:
    if not data:
        return {}
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError:
        return {}


def _error_code_and_message(status: int, data: bytes) -> tuple[str, str]:
    """botocore's JSON error parsing: `__type` (after '#', before ':'), else the status; a body
    that is not JSON becomes the message."""
    body: Any = {}
    if data:
        text = data.decode("utf-8", "replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = {"message": text}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("__type") or status)
    code = code.split(":")[0].rsplit("#", 1)[-1]
    message = body.get("message", body.get("Message", ""))
    return code, str(message)
