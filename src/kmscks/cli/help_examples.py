"""The EXAMPLES section of `cks kms <command> help`: examples cks writes itself.

Layer: cli (help only). Each example runs as printed against a local `cks serve` (`make run`,
http://127.0.0.1:4599) once a profile with a region and the test credentials exists
(`cks configure`); values that only the user's own setup can supply (a cluster or store id) are
written like the output of the command that makes them. Commands without an entry here get an
example built from the model's required options. Imports nothing.
"""

from __future__ import annotations

ENDPOINT = "http://127.0.0.1:4599"
E = f"--endpoint-url {ENDPOINT}"

NOTE = (
    "These examples talk to a local cks server (`make run`, or `cks serve`, listens on "
    f"{ENDPOINT}). They need a region and credentials: `cks configure` writes a profile with "
    "both (the server accepts the built-in test/test keys), or export AWS_DEFAULT_REGION, "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Put the endpoint in the profile "
    "(`cks configure --endpoint-url ...`) and --endpoint-url can be left out."
)

# command -> [(title, explanation, command line(s)), ...]
EXAMPLES: dict[str, list[tuple[str, str, str]]] = {
    "describe-custom-key-stores": [
        (
            "To list every custom key store",
            "Lists the custom key stores of the account and region, with their connection state.",
            f"cks kms describe-custom-key-stores {E}",
        ),
        (
            "To get one key store by name, as a table",
            "A name or an id selects one store; an unknown one is a "
            "CustomKeyStoreNotFoundException (exit 254).",
            f"cks kms describe-custom-key-stores {E} \\\n"
            "    --custom-key-store-name ExampleCloudHSMKeyStore --output table",
        ),
        (
            "To print only the id and state of each store",
            "--query takes a JMESPath expression; --output text prints one store per line.",
            f"cks kms describe-custom-key-stores {E} \\\n"
            "    --query 'CustomKeyStores[].[CustomKeyStoreId,ConnectionState]' --output text",
        ),
        (
            "To wait until a store is connected (cks only)",
            "--watch prints each store and then each state change; --until-state ends the "
            "command once every store it watches is in that state.",
            f"cks kms describe-custom-key-stores {E} \\\n"
            "    --custom-key-store-name ExampleCloudHSMKeyStore --watch --until-state CONNECTED",
        ),
    ],
    "create-custom-key-store": [
        (
            "To create a CloudHSM key store",
            "`cks cloudhsm quickstart` makes an ACTIVE cluster with two HSMs and a kmsuser, "
            "writes the trust anchor certificate, and prints the cluster id to use below.",
            "cks cloudhsm quickstart --password kmsPswd1 --trust-anchor-file customerCA.crt\n"
            f"cks kms create-custom-key-store {E} \\\n"
            "    --custom-key-store-name ExampleCloudHSMKeyStore \\\n"
            "    --cloud-hsm-cluster-id cluster-1a23b4cdefg \\\n"
            "    --trust-anchor-certificate file://customerCA.crt \\\n"
            "    --key-store-password kmsPswd1",
        ),
        (
            "To create an external key store with public endpoint connectivity",
            "`cks xks-proxy init DIR` writes a proxy configuration and prints this command "
            "with the proxy's URI path and fresh credentials filled in.",
            f"cks kms create-custom-key-store {E} \\\n"
            "    --custom-key-store-name ExampleExternalKeyStore \\\n"
            "    --custom-key-store-type EXTERNAL_KEY_STORE \\\n"
            "    --xks-proxy-connectivity PUBLIC_ENDPOINT \\\n"
            "    --xks-proxy-uri-endpoint https://xks.example.test \\\n"
            "    --xks-proxy-uri-path /cks/store1/kms/xks/v1 \\\n"
            "    --xks-proxy-authentication-credential \\\n"
            "        AccessKeyId=ABCDE12345670EXAMPLE,"
            "RawSecretAccessKey=DXjSUawnel2fr6SKC7G25CNxTyWKE5PF9XX6H/u9pSo=",
        ),
    ],
    "connect-custom-key-store": [
        (
            "To connect a custom key store",
            "Connecting is asynchronous: the store goes to CONNECTING, then CONNECTED or FAILED "
            "(see `cks kms explain-connection-error CODE`).",
            f"cks kms connect-custom-key-store {E} --custom-key-store-id cks-1234567890abcdef0\n"
            f"cks kms describe-custom-key-stores {E} \\\n"
            "    --custom-key-store-id cks-1234567890abcdef0 --watch --until-state CONNECTED",
        ),
    ],
    "disconnect-custom-key-store": [
        (
            "To disconnect a custom key store",
            "A store must be disconnected before it is updated or deleted. Disconnecting is "
            "asynchronous: the store is DISCONNECTING until the server has let go of it, so wait "
            "for DISCONNECTED before the next change.",
            f"cks kms disconnect-custom-key-store {E} --custom-key-store-id cks-1234567890abcdef0\n"
            f"cks kms describe-custom-key-stores {E} \\\n"
            "    --custom-key-store-id cks-1234567890abcdef0 --watch --until-state DISCONNECTED",
        ),
    ],
    "update-custom-key-store": [
        (
            "To rename a custom key store",
            "A CloudHSM key store must be disconnected first; an external key store can change "
            "its name, credential and URI path while connected.",
            f"cks kms update-custom-key-store {E} --custom-key-store-id cks-1234567890abcdef0 \\\n"
            "    --new-custom-key-store-name ExampleRenamedKeyStore",
        ),
        (
            "To change the kmsuser password of a CloudHSM key store",
            "Tells the key store the password that the cluster's kmsuser now has.",
            f"cks kms update-custom-key-store {E} --custom-key-store-id cks-1234567890abcdef0 \\\n"
            "    --key-store-password ExamplePassword",
        ),
    ],
    "delete-custom-key-store": [
        (
            "To delete a custom key store",
            "The store must be disconnected and hold no KMS keys. The command prints nothing "
            "when it succeeds.",
            f"cks kms delete-custom-key-store {E} --custom-key-store-id cks-1234567890abcdef0",
        ),
    ],
    "create-key": [
        (
            "To create a symmetric encryption KMS key",
            "Without options, a symmetric encryption key in KMS's own key material.",
            f"cks kms create-key {E} --description 'example key'",
        ),
        (
            "To create a KMS key in a CloudHSM key store",
            "The key material is generated in the store's cluster; the store must be CONNECTED.",
            f"cks kms create-key {E} --origin AWS_CLOUDHSM \\\n"
            "    --custom-key-store-id cks-1234567890abcdef0",
        ),
    ],
    "describe-key": [
        (
            "To get the details of a KMS key",
            "The key is named by its id, ARN, alias name or alias ARN.",
            f"cks kms describe-key {E} --key-id 1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
    ],
    "list-keys": [
        (
            "To list the KMS keys of the account and region",
            "--page-size and --max-items page through long lists, as for every list command.",
            f"cks kms list-keys {E}",
        ),
    ],
    "encrypt": [
        (
            "To encrypt a file",
            "fileb:// reads the plaintext as bytes; the ciphertext comes back base64-encoded, so "
            "--query and base64 -d write it as a binary file.",
            f"cks kms encrypt {E} --key-id 1234abcd-12ab-34cd-56ef-1234567890ab \\\n"
            "    --plaintext fileb://secret.txt --query CiphertextBlob --output text \\\n"
            "    | base64 -d > secret.txt.encrypted",
        ),
    ],
    "decrypt": [
        (
            "To decrypt a file",
            "A symmetric ciphertext names its key itself; the plaintext comes back base64-encoded.",
            f"cks kms decrypt {E} --ciphertext-blob fileb://secret.txt.encrypted \\\n"
            "    --query Plaintext --output text | base64 -d",
        ),
    ],
}
