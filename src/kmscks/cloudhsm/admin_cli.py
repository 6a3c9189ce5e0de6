"""`cks cloudhsm ...`: the admin commands, and `quickstart` (an ACTIVE two-HSM cluster with a
kmsuser in one command).

A client of a running server over HTTP, like the AWS CLI: SigV4-signed AWS JSON 1.1 requests
to the admin API (X-Amz-Target `CksCloudHsmAdmin.<Op>`) and, for quickstart, to the CloudHSM v2
API. Commands are the admin model's operation names in kebab case. Imports nothing of the
server's api, service or store layers.
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

from kmscks import sigv4

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

    def __init__(self, endpoint: str, region: str, access_key: str, secret: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self._access_key = access_key
        self._secret = secret

    def call(self, target: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params).encode()
        parts = urlsplit(self.endpoint)
        headers = sigv4.sign(
            method="POST",
            host=parts.netloc,
            path=(parts.path or "") + "/",
            headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
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


def _parser(commands: dict[str, tuple[str, str]]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cks cloudhsm",
        description="Admin commands for the simulated CloudHSM clusters of a running cks serve.",
    )
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL", DEFAULT_ENDPOINT),
        help=f"the server ({DEFAULT_ENDPOINT}; or AWS_ENDPOINT_URL)",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="region (AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from kmscks.cloudhsm.admin import ADMIN_MODEL

    shapes = ADMIN_MODEL["shapes"]
    for command, (operation, documentation) in commands.items():
        command_parser = sub.add_parser(command, help=documentation, description=documentation)
        request = shapes[ADMIN_MODEL["operations"][operation]["input"]["shape"]]
        for member in request["members"]:
            command_parser.add_argument(
                f"--{kebab(member)}", dest=member, required=member in request.get("required", [])
            )
    quick = sub.add_parser(
        "quickstart",
        help="Create an ACTIVE two-HSM cluster with a kmsuser, ready for a CloudHSM key store.",
    )
    quick.add_argument("--password", help="the kmsuser password (default: a fresh random one)")
    quick.add_argument(
        "--trust-anchor-file",
        type=Path,
        help="where to write the trust anchor certificate (default: ./<cluster-id>-customerCA.crt)",
    )
    quick.add_argument("--hsm-type", default="hsm2m.medium")
    quick.add_argument("--subnet-ids", nargs=2, default=list(DEFAULT_SUBNETS), metavar="SUBNET")
    return parser


def main(argv: list[str]) -> int:
    commands = _admin_commands()
    args = _parser(commands).parse_args(argv)
    client = Client(
        args.endpoint_url,
        args.region,
        os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
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
            f'\nCould not connect to the endpoint URL: "{args.endpoint_url}/" ({error.reason})\n'
        )
        return 255
    sys.stdout.write(json.dumps(answer, indent=4) + "\n")
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
        f"  aws kms create-custom-key-store --endpoint-url {client.endpoint}"
        f" --custom-key-store-name my-cloudhsm-store \\\n"
        f"    --cloud-hsm-cluster-id {cluster_id} \\\n"
        f"    --trust-anchor-certificate file://{anchor_file.resolve()} \\\n"
        f"    --key-store-password {password}\n"
    )
    return 0
