"""`cks xks-proxy init DIR`: write a ready-to-run proxy directory (layer: xksproxy/cli).

Writes fresh SigV4 credentials, a CA with a server certificate for the chosen host name and a
client certificate (for mTLS), config.toml, and the KMS console's proxy configuration JSON;
then prints what CreateCustomKeyStore needs. Must not import the HTTP layer.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shlex
import sys
from pathlib import Path

from kmscks.main import cks_command
from kmscks.xksproxy import certs
from kmscks.xksproxy.config import API_ROOT, ConfigError, parse

CONFIG_TEMPLATE = """\
# cks xks-proxy configuration; every setting is described in docs/xks-proxy.md.
# Written by `cks xks-proxy init`. Keep this file private: it holds the SigV4 secret.

[server]
host = "{host}"
port = {port}
region = "{region}"
tls_cert = "server.pem"
tls_key = "server-key.pem"
# Uncomment to require client certificates issued by this CA (mutual TLS);
# client.pem / client-key.pem are such a certificate, for `cks serve`'s [xks] client_cert.
# mtls_client_ca = "ca.pem"
# mtls_client_name = "cks.kms.{region}.amazonaws.com"

[software]
data_dir = "data"   # software keys, wrapped under data/wrapping.key; created on first start

# [pkcs11]
# module = "/usr/lib/softhsm/libsofthsm2.so"
# token_label = "xks-proxy"
# pin = "1234"

[[stores]]
uri_path_prefix = "{prefix}"
credentials = [
  {{ access_key_id = "{access_key_id}", secret_access_key = "{secret}" }},
]

[[stores.keys]]
id = "{key_id}"
usage = ["ENCRYPT", "DECRYPT"]
backend = "software"
"""


# Where `make run` and a plain `cks serve` listen (docs/configuration.md).
DEFAULT_KMS_ENDPOINT = "http://127.0.0.1:4599"


def new_access_key_id() -> str:
    # 15 random bytes are exactly 24 base32 characters from [A-Z2-7], without padding.
    return base64.b32encode(os.urandom(15)).decode()


def new_secret() -> str:
    # 256 bits of entropy, as the spec recommends (`openssl rand 32 | base64`): 44 characters.
    return base64.b64encode(os.urandom(32)).decode()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="cks xks-proxy init", description="Write a ready XKS proxy configuration directory."
    )
    parser.add_argument("directory")
    parser.add_argument("--hostname", default="xks.example.test", help="name on the certificate")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9443)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--uri-path-prefix", default="/cks/store1")
    parser.add_argument("--key-id", default="cks-key-1")
    parser.add_argument("--force", action="store_true", help="overwrite an existing config")
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL_KMS")
        or os.environ.get("AWS_ENDPOINT_URL")
        or DEFAULT_KMS_ENDPOINT,
        help="the `cks serve` that will hold the key store, for the printed command "
        f"(AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, else {DEFAULT_KMS_ENDPOINT})",
    )
    args = parser.parse_args(argv)

    directory = Path(args.directory).resolve()
    config_path = directory / "config.toml"
    if config_path.exists() and not args.force:
        sys.stderr.write(f"cks xks-proxy init: {config_path} exists (use --force to replace)\n")
        return 2
    access_key_id, secret = new_access_key_id(), new_secret()
    text = CONFIG_TEMPLATE.format(
        host=args.host,
        port=args.port,
        region=args.region,
        prefix=args.uri_path_prefix,
        access_key_id=access_key_id,
        secret=secret,
        key_id=args.key_id,
    )
    try:
        import tomllib

        parse(tomllib.loads(text), config_path)  # refuse to write a config the proxy would reject
    except (ConfigError, tomllib.TOMLDecodeError) as exc:
        sys.stderr.write(f"cks xks-proxy init: {exc}\n")
        return 2

    directory.mkdir(parents=True, exist_ok=True)
    ca = certs.new_ca(f"cks xks-proxy CA for {args.hostname}")
    server = certs.issue(
        ca, args.hostname, dns_names=(args.hostname, "localhost"), ip_addresses=("127.0.0.1",)
    )
    client = certs.issue(ca, f"cks.kms.{args.region}.amazonaws.com", client=True)
    uri_path = args.uri_path_prefix + API_ROOT
    proxy_json = {
        "XksProxyUriPath": uri_path,
        "XksProxyAuthenticationCredential": {
            "AccessKeyId": access_key_id,
            "RawSecretAccessKey": secret,
        },
    }
    files = {
        "ca.pem": (ca.cert_pem(), 0o644),
        "ca-key.pem": (ca.key_pem(), 0o600),
        "server.pem": (server.cert_pem(), 0o644),
        "server-key.pem": (server.key_pem(), 0o600),
        "client.pem": (client.cert_pem(), 0o644),
        "client-key.pem": (client.key_pem(), 0o600),
        "config.toml": (text.encode(), 0o600),
        "xks-proxy-configuration.json": (json.dumps(proxy_json, indent=2).encode() + b"\n", 0o600),
    }
    for name, (data, mode) in files.items():
        _write(directory / name, data, mode)

    endpoint = f"https://{args.hostname}"
    # Every command printed here runs as pasted: the absolute path of this cks (the bare name is
    # often not on PATH), and the local server's URL, without which the AWS CLI and `cks kms`
    # send the request to the real AWS KMS in that region.
    cks = cks_command()
    sys.stdout.write(
        f"Wrote {directory}\n\n"
        f"Start the proxy:  {cks} xks-proxy --config {shlex.quote(str(config_path))}\n"
        f"  (it listens on {args.host}:{args.port}; map {args.hostname} to it in `cks serve`'s\n"
        f'   [xks] resolve table, and give [xks] ca_bundle = "{directory / "ca.pem"}")\n\n'
        "Values for CreateCustomKeyStore (CustomKeyStoreType EXTERNAL_KEY_STORE):\n"
        f"  XksProxyUriEndpoint:  {endpoint}\n"
        f"  XksProxyUriPath:      {uri_path}\n"
        f"  AccessKeyId:          {access_key_id}\n"
        f"  RawSecretAccessKey:   {secret}\n"
        f"  XksKeyId (CreateKey): {args.key_id}\n"
        f"  CA certificate:       {directory / 'ca.pem'}\n\n"
        f"Create the key store on the cks server at {args.endpoint_url} (it signs with your\n"
        "configured credentials: the built-in test/test work, `cks configure` sets them up):\n"
        f"  {cks} kms create-custom-key-store \\\n"
        f"    --endpoint-url {shlex.quote(args.endpoint_url)} --region {args.region} \\\n"
        "    --custom-key-store-name my-xks \\\n"
        "    --custom-key-store-type EXTERNAL_KEY_STORE \\\n"
        "    --xks-proxy-connectivity PUBLIC_ENDPOINT \\\n"
        f"    --xks-proxy-uri-endpoint {endpoint} --xks-proxy-uri-path {uri_path} \\\n"
        "    --xks-proxy-authentication-credential \\\n"
        f"      AccessKeyId={access_key_id},RawSecretAccessKey={secret}\n"
    )
    return 0


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # O_CREAT's mode is ignored when the file already existed
