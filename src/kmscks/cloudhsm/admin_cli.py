"""`cks cloudhsm ...`: the admin commands, and `quickstart` (an ACTIVE two-HSM cluster with a
kmsuser in one command).

A client of a running server over HTTP, like the AWS CLI: SigV4-signed AWS JSON 1.1 requests
to the admin API (X-Amz-Target `CksCloudHsmAdmin.<Op>`) and, for quickstart, to the CloudHSM v2
API. Commands are the admin model's operation names in kebab case. --endpoint-url, --region and
--profile work before or after the command; region, endpoint and credentials are resolved by
`cks kms`'s own Settings (kmscks.cli.settings: options, AWS_* variables, ~/.aws profiles, the
credential chain), and no credentials is an error, as in `cks kms`. Each admin command prints
the service's JSON answer on stdout and a line saying what it did on stderr.
Imports nothing of the server's api, service or store layers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import secrets
import string
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kmscks import sigv4, version_string
from kmscks.main import cks_command

DEFAULT_ENDPOINT = "http://127.0.0.1:4599"
DEFAULT_SUBNETS = ("subnet-00000000000000001", "subnet-00000000000000002")


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"An error occurred ({code}): {message}")
        self.code = code


def kebab(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", operation).lower()


class Client:
    """Signs and sends AWS JSON 1.1 requests to one endpoint."""

    def __init__(
        self, endpoint: str, region: str, access_key: str, secret: str, token: str | None = None
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self._access_key = access_key
        self._secret = secret
        self._token = token

    def call(self, target: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params).encode()
        parts = urlsplit(self.endpoint)
        headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
        if self._token:  # temporary credentials (assume-role, SSO, credential_process)
            headers["X-Amz-Security-Token"] = self._token
        headers = sigv4.sign(
            method="POST",
            host=parts.netloc,
            path=(parts.path or "") + "/",
            headers=headers,
            body=body,
            access_key_id=self._access_key,
            secret=self._secret,
            region=self.region,
            service="cloudhsm",
            now=time.time(),
        )
        request = urllib.request.Request(self.endpoint + "/", body, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return dict(json.loads(answer.read() or b"{}"))
        except urllib.error.HTTPError as error:
            try:
                detail = json.loads(error.read())
            except ValueError:
                detail = {}
            raise ApiError(
                str(detail.get("__type", error.code)),
                str(detail.get("message", detail.get("Message", ""))),
            )

    def admin(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.call(f"CksCloudHsmAdmin.{operation}", params)

    def cloudhsm(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.call(f"BaldrApiService.{operation}", params)


def _admin_commands() -> dict[str, tuple[str, str]]:
    """kebab-case command -> (operation, its documentation), from the admin model."""
    from kmscks.cloudhsm.admin import ADMIN_MODEL

    return {
        kebab(name): (name, str(spec.get("documentation", "")))
        for name, spec in ADMIN_MODEL["operations"].items()
    }


def _global_options() -> argparse.ArgumentParser:
    """Options that work before or after the command, like the AWS CLI's global options.
    SUPPRESS: an option the command line leaves out does not overwrite one given earlier."""
    options = argparse.ArgumentParser(add_help=False)
    add = options.add_argument
    add(
        "--endpoint-url",
        default=argparse.SUPPRESS,
        help="the cks server (else AWS_ENDPOINT_URL_CLOUDHSM_V2, AWS_ENDPOINT_URL, the "
        f"profile's endpoint_url, or {DEFAULT_ENDPOINT})",
    )
    add(
        "--region",
        default=argparse.SUPPRESS,
        help="the region (else AWS_REGION, AWS_DEFAULT_REGION or the profile's region)",
    )
    add(
        "--profile",
        default=argparse.SUPPRESS,
        help="a profile of ~/.aws/config and ~/.aws/credentials (else AWS_PROFILE); "
        "credentials are found as `cks kms` finds them",
    )
    return options


def _parser(commands: dict[str, tuple[str, str]]) -> argparse.ArgumentParser:
    common = _global_options()
    parser = argparse.ArgumentParser(
        prog="cks cloudhsm",
        description="Admin commands for the simulated CloudHSM clusters of a running cks serve.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=version_string())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from kmscks.cloudhsm.admin import ADMIN_MODEL

    shapes = ADMIN_MODEL["shapes"]
    for command, (operation, documentation) in commands.items():
        command_parser = sub.add_parser(
            command, help=documentation, description=documentation, parents=[common]
        )
        request = shapes[ADMIN_MODEL["operations"][operation]["input"]["shape"]]
        for member in request["members"]:
            command_parser.add_argument(
                f"--{kebab(member)}", dest=member, required=member in request.get("required", [])
            )
    quickstart_help = (
        "Create an ACTIVE two-HSM cluster with a kmsuser, ready for a CloudHSM key store, and"
        " print its id, the trust anchor file, the password and the command that makes the store."
    )
    quick = sub.add_parser(
        "quickstart", help=quickstart_help, description=quickstart_help, parents=[common]
    )
    quick.add_argument("--password", help="the kmsuser password (default: a fresh random one)")
    quick.add_argument(
        "--trust-anchor-file",
        type=Path,
        help="where to write the trust anchor certificate (default: ./<cluster-id>-customerCA.crt)",
    )
    quick.add_argument(
        "--hsm-type", default="hsm2m.medium", help="the cluster's HSM type (default: hsm2m.medium)"
    )
    quick.add_argument(
        "--subnet-ids",
        nargs=2,
        default=list(DEFAULT_SUBNETS),
        metavar="SUBNET",
        help="two subnets in different Availability Zones, one HSM in each"
        f" (default: {' '.join(DEFAULT_SUBNETS)})",
    )
    return parser


def _client(args: argparse.Namespace) -> Client:
    """Region, endpoint and credentials resolved exactly as `cks kms` resolves them (the same
    Settings: options, AWS_* variables, the profile, the credential chain)."""
    from kmscks.cli.errors import NoCredentialsError
    from kmscks.cli.settings import Settings

    settings = Settings(dict(os.environ), getattr(args, "profile", None))
    region = settings.region(getattr(args, "region", None))
    endpoint = settings.endpoint_url(
        getattr(args, "endpoint_url", None), region, service="cloudhsm_v2", default=DEFAULT_ENDPOINT
    )
    credentials = settings.find_credentials()
    if credentials is None:
        raise NoCredentialsError()
    return Client(
        endpoint, region, credentials.access_key, credentials.secret_key, credentials.token
    )


def _confirmation(command: str, answer: dict[str, Any]) -> str:
    """One line saying what the command did (stdout keeps the JSON answer for scripts)."""
    cluster = answer.get("ClusterId", "")
    if command == "create-kms-user":
        return (
            f"Created the kmsuser crypto user in {cluster} (the password is not shown). "
            "A CloudHSM key store on this cluster takes that password as --key-store-password."
        )
    if command == "change-kms-user-password":
        return (
            f"Changed the kmsuser password in {cluster} (and unlocked the user). Give the key "
            "store the new one: `cks kms update-custom-key-store --key-store-password ...` "
            "while it is disconnected."
        )
    if command == "list-keys":
        return f"list-keys: {len(answer.get('Keys', []))} key(s) in {cluster}."
    if command == "delete-key":
        key = answer.get("Key", {})
        return (
            f"delete-key: deleted the key {key.get('KeyHandle')} labelled {key.get('Label')}"
            f" from {cluster}."
        )
    subnet = answer.get("SubnetId")
    if subnet is not None:
        done = {
            "delete-subnet": "is deleted (restore-subnet brings it back)",
            "exhaust-subnet": "has no free IP address left (restore-subnet frees them)",
            "restore-subnet": "is back, with its free IP addresses",
        }
        return f"{command}: {subnet} {done.get(command, 'changed')}."
    state = answer.get("State")
    return f"{command}: done for {cluster}" + (f" (now {state})." if state else ".")


def main(argv: list[str]) -> int:
    from kmscks.cli.errors import CLIError

    commands = _admin_commands()
    args = _parser(commands).parse_args(argv)
    try:
        client = _client(args)
    except CLIError as error:  # no region or credentials, an unknown profile: as `cks kms`
        sys.stderr.write("".join(error.writes()))
        return error.rc
    try:
        if args.command == "quickstart":
            return quickstart(client, args)
        operation = commands[args.command][0]
        params = {name: value for name, value in vars(args).items() if name[:1].isupper() and value}
        answer = client.admin(operation, **params)
    except ApiError as error:
        sys.stderr.write(f"\n{error}\n")
        return 254
    except urllib.error.URLError as error:
        sys.stderr.write(
            f'\nCould not connect to the endpoint URL: "{client.endpoint}/" ({error.reason})\n'
        )
        return 255
    sys.stdout.write(json.dumps(answer, indent=4) + "\n")
    sys.stderr.write(_confirmation(args.command, answer) + "\n")
    return 0


def _wait_for(
    client: Client, cluster_id: str, ready: Any, what: str, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        clusters = client.cloudhsm("DescribeClusters", Filters={"clusterIds": [cluster_id]})
        cluster = clusters["Clusters"][0]
        if ready(cluster):
            return dict(cluster)
        if time.monotonic() > deadline:
            raise ApiError("Timeout", f"cluster {cluster_id} did not reach {what}")
        time.sleep(0.1)


def _sign_csr(csr_pem: str) -> tuple[str, str]:
    """A fresh self-signed CA (the trust anchor) and the cluster certificate it signs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    csr = x509.load_pem_x509_csr(csr_pem.encode())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cks quickstart customer CA")])
    now = datetime.datetime.now(datetime.UTC)
    anchor = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    signed = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(name)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return anchor.public_bytes(pem).decode(), signed.public_bytes(pem).decode()


def quickstart(client: Client, args: argparse.Namespace) -> int:
    password = args.password or "".join(
        secrets.choice(string.ascii_letters + string.digits) for _ in range(16)
    )
    created = client.cloudhsm("CreateCluster", HsmType=args.hsm_type, SubnetIds=args.subnet_ids)
    cluster_id = created["Cluster"]["ClusterId"]
    cluster = _wait_for(
        client, cluster_id, lambda c: c["State"] == "UNINITIALIZED", "UNINITIALIZED"
    )
    zones = sorted(cluster["SubnetMapping"])
    client.cloudhsm("CreateHsm", ClusterId=cluster_id, AvailabilityZone=zones[0])
    cluster = _wait_for(
        client, cluster_id, lambda c: "ClusterCsr" in c.get("Certificates", {}), "a CSR"
    )
    anchor, signed = _sign_csr(cluster["Certificates"]["ClusterCsr"])
    client.cloudhsm(
        "InitializeCluster", ClusterId=cluster_id, SignedCert=signed, TrustAnchor=anchor
    )
    _wait_for(client, cluster_id, lambda c: c["State"] == "INITIALIZED", "INITIALIZED")
    client.admin("ActivateCluster", ClusterId=cluster_id)
    client.cloudhsm("CreateHsm", ClusterId=cluster_id, AvailabilityZone=zones[1])
    _wait_for(
        client,
        cluster_id,
        lambda c: sum(h["State"] == "ACTIVE" for h in c["Hsms"]) >= 2,
        "two active HSMs",
    )
    client.admin("CreateKmsUser", ClusterId=cluster_id, Password=password)
    anchor_file = args.trust_anchor_file or Path(f"{cluster_id}-customerCA.crt")
    anchor_file.write_text(anchor)
    sys.stdout.write(
        f"ClusterId:              {cluster_id}\n"
        f"TrustAnchorCertificate: {anchor_file.resolve()}\n"
        f"KeyStorePassword:       {password}\n"
        "\nCreate a CloudHSM key store with it:\n"
        f"  {cks_command()} kms create-custom-key-store \\\n"
        f"    --endpoint-url {client.endpoint} --region {client.region} \\\n"
        "    --custom-key-store-name my-cloudhsm-store \\\n"
        f"    --cloud-hsm-cluster-id {cluster_id} \\\n"
        f"    --trust-anchor-certificate file://{anchor_file.resolve()} \\\n"
        f"    --key-store-password {password}\n"
    )
    return 0
