"""Real X.509 material of a simulated cluster: its key and CSR, and InitializeCluster's checks.

cloudhsm layer.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def new_cluster_key_and_csr(cluster_id: str) -> tuple[str, str]:
    """An RSA key for the cluster and a CSR naming it, both PEM (as CloudHSM's ClusterCsr)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, f"HSM:{cluster_id}:PARTN:0"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AWS CloudHSM (cks simulation)"),
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                ]
            )
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()


def _load_certificate(pem: str, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise ValueError(f"{what} is not a PEM-encoded X.509 certificate.")


def initialization_problem(csr_pem: str, signed_cert_pem: str, trust_anchor_pem: str) -> str | None:
    """Why InitializeCluster must refuse these certificates, or None when they are right."""
    try:
        signed = _load_certificate(signed_cert_pem, "SignedCert")
        anchor = _load_certificate(trust_anchor_pem, "TrustAnchor")
    except ValueError as error:
        return str(error)
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    public_format = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if signed.public_key().public_bytes(*public_format) != csr.public_key().public_bytes(
        *public_format
    ):
        return "SignedCert is not a certificate for the cluster's CSR."
    try:
        signed.verify_directly_issued_by(anchor)
    except (ValueError, TypeError, InvalidSignature):
        return "SignedCert is not signed by TrustAnchor."
    return None


def same_certificate(first_pem: str, second_pem: str) -> bool:
    """Whether two PEM texts hold the same certificate (whitespace and line breaks aside)."""
    try:
        first = _load_certificate(first_pem, "certificate")
        second = _load_certificate(second_pem, "certificate")
    except ValueError:
        return False
    return first.public_bytes(serialization.Encoding.DER) == second.public_bytes(
        serialization.Encoding.DER
    )
