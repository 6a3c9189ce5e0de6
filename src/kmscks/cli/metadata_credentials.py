"""The end of botocore's credential chain: container (ECS/EKS) and EC2 instance metadata.

Layer: cli. Reached only when the environment and the ~/.aws files hold no credentials, as in
botocore: the container provider (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI from 169.254.170.2,
or AWS_CONTAINER_CREDENTIALS_FULL_URI on an allowed host, with
AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]), then IMDSv2 (a session token, the role name, the
role's credentials; AWS_EC2_METADATA_DISABLED turns it off, AWS_EC2_METADATA_SERVICE_ENDPOINT
moves it). http.client only, imported lazily; must not import botocore or server code.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from kmscks.cli.errors import CLIError
from kmscks.cli.settings import Credentials

CONTAINER_HOST = "169.254.170.2"
CONTAINER_ALLOWED_HOSTS = (CONTAINER_HOST, "localhost", "127.0.0.1")
CONTAINER_TIMEOUT_SECONDS = 2
CONTAINER_ATTEMPTS = 3
IMDS_DEFAULT_ENDPOINT = "http://169.254.169.254/"
IMDS_TIMEOUT_SECONDS = 1.0


def _request(method: str, url: str, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    import http.client

    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        connection.request(method, target, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _parses(url: str) -> bool:
    """Whether urllib can read the URL's port (it raises for a port like "1234latest")."""
    try:
        return isinstance(urlsplit(url).port, int | None)
    except ValueError:
        return False


def _parse(data: bytes) -> Credentials:
    document: dict[str, Any] = json.loads(data)
    return Credentials(document["AccessKeyId"], document["SecretAccessKey"], document.get("Token"))


def container_credentials(environ: dict[str, str]) -> Credentials | None:
    relative = environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    full = environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if relative:
        url = f"http://{CONTAINER_HOST}{relative}"
    elif full:
        url = full
        host = urlsplit(full).hostname
        if urlsplit(full).scheme != "https" and host not in CONTAINER_ALLOWED_HOSTS:
            raise CLIError(
                f"Unsupported host '{host}'.  Can only retrieve metadata from these hosts: "
                + ", ".join(CONTAINER_ALLOWED_HOSTS)
            )
    else:
        return None
    headers = {"Accept": "application/json"}
    token = environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    token_file = environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if token_file:
        with open(token_file, encoding="utf-8") as handle:
            token = handle.read()
    if token:
        headers["Authorization"] = token
    problem = ""
    for attempt in range(CONTAINER_ATTEMPTS):
        try:
            status, data = _request("GET", url, headers, CONTAINER_TIMEOUT_SECONDS)
            if status == 200:
                return _parse(data)
            problem = f"Received non 200 response {status} from container metadata: {data!r}"
        except (OSError, ValueError, KeyError) as error:
            problem = str(error)
        if attempt + 1 < CONTAINER_ATTEMPTS:
            time.sleep(1)
    raise CLIError(
        "Error when retrieving credentials from container-role: Error retrieving metadata: "
        + problem
    )


def instance_credentials(environ: dict[str, str], endpoint: str | None) -> Credentials | None:
    """IMDSv2 (falling back to v1 when the token call is refused), one attempt, 1 s timeout."""
    if environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        return None
    # Joined without adding a "/", as botocore does: "http://h:1234" gives an invalid URL.
    base = environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or endpoint or IMDS_DEFAULT_ENDPOINT
    token_url = base + "latest/api/token"
    if not _parses(token_url):
        raise CLIError(f"Invalid endpoint EC2 Instance Metadata endpoint: {token_url}")
    try:
        headers: dict[str, str] = {}
        status, token = _request(
            "PUT",
            token_url,
            {"x-aws-ec2-metadata-token-ttl-seconds": "21600"},
            IMDS_TIMEOUT_SECONDS,
        )
        if status == 200:
            headers["x-aws-ec2-metadata-token"] = token.decode()
        elif status not in (403, 404, 405):
            return None
        path = base + "latest/meta-data/iam/security-credentials/"
        status, roles = _request("GET", path, headers, IMDS_TIMEOUT_SECONDS)
        if status != 200 or not roles.strip():
            return None
        role = roles.decode().splitlines()[0]
        status, data = _request("GET", path + role, headers, IMDS_TIMEOUT_SECONDS)
        if status != 200:
            return None
        return _parse(data)
    except (OSError, ValueError, KeyError):
        return None
