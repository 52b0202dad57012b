"""The network's PKI: a CA, certificates it issues with their keys (demo, coordinator), and
certificates it signs for a node's own key from the node's certificate signing request.

Pure: keys and certificates come back as PEM bytes and the caller passes the time, so the
CLI decides where files go. A peer's identity is its certificate's common name (a node id,
or "coordinator"); the same name is a DNS SAN, so a client can pin the peer it expects
whatever address the directory lists.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

COORDINATOR = "coordinator"


class PkiError(ValueError):
    """Bad PKI input; names the problem, never key material."""


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def new_ca(network: str, *, now: dt.datetime, days: int = 3650) -> tuple[bytes, bytes]:
    """A self-signed CA for one network: (key_pem, cert_pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Samenloop"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"Samenloop network CA {network}"),
    ])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def _leaf(ca_key_pem: bytes, ca_cert_pem: bytes, identity: str,
          public: ec.EllipticCurvePublicKey, hosts: tuple[str, ...], now: dt.datetime,
          days: int) -> bytes:
    """A TLS server-and-client certificate for `identity`'s public key, every field written
    by the CA, never a CA itself: the one shape of every node and coordinator certificate."""
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise PkiError("CA key must be an EC key")
    names: list[x509.GeneralName] = [x509.DNSName(identity)]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Samenloop"),
            x509.NameAttribute(NameOID.COMMON_NAME, identity),
        ]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def issue(
    ca_key_pem: bytes,
    ca_cert_pem: bytes,
    identity: str,
    *,
    now: dt.datetime,
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
    days: int = 365,
) -> tuple[bytes, bytes]:
    """A key and certificate for `identity` (node id or "coordinator"), usable as TLS
    server and client: (key_pem, cert_pem)."""
    if not identity or not identity.replace("-", "").replace("_", "").isalnum():
        raise PkiError("identity must be letters, digits, '-' or '_'")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _leaf(ca_key_pem, ca_cert_pem, identity, key.public_key(), hosts, now, days)
    return _key_pem(key), cert


def node_key_and_csr(identity: str) -> tuple[bytes, bytes]:
    """A node's own TLS key and a certificate signing request for its identity:
    (key_pem, csr_pem). The key never leaves the node; only the CSR is sent."""
    if not identity or not identity.replace("-", "").replace("_", "").isalnum():
        raise PkiError("identity must be letters, digits, '-' or '_'")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(identity)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _key_pem(key), csr.public_bytes(serialization.Encoding.PEM)


def csr_identity(csr_pem: bytes) -> str:
    """The identity a CSR asks for, after checking everything else it asks for: a valid
    self-signature, a P-256 key, a subject of only that common name, and no extension but a
    subject alternative name equal to it. Anything else (CA flags, other names, other key
    usages) is refused rather than ignored, so the requester learns it did not get it."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise PkiError("not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise PkiError("the CSR's signature does not verify")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise PkiError("the CSR's key must be an EC P-256 key")
    attributes = list(csr.subject)
    if len(attributes) != 1 or attributes[0].oid != NameOID.COMMON_NAME:
        raise PkiError("the CSR's subject must be only a common name (CN=node id)")
    identity = str(attributes[0].value)
    for extension in csr.extensions:
        if not isinstance(extension.value, x509.SubjectAlternativeName):
            raise PkiError(f"the CSR asks for a {type(extension.value).__name__} extension; "
                           "only a subject alternative name equal to the node id is signed")
        names = list(extension.value)
        if names != [x509.DNSName(identity)]:
            raise PkiError("the CSR's subject alternative name must be only the node id "
                           f"{identity!r}")
    return identity


def sign_csr(
    ca_key_pem: bytes,
    ca_cert_pem: bytes,
    csr_pem: bytes,
    identity: str,
    *,
    now: dt.datetime,
    hosts: tuple[str, ...] = (),
    days: int = 365,
) -> bytes:
    """A node certificate for the key in a CSR the caller has checked (`csr_identity` and the
    node id rules): the CA writes every field itself, usable only as a TLS server and
    client, never as a CA. Returns cert_pem."""
    if csr_identity(csr_pem) != identity:
        raise PkiError(f"the CSR is not for {identity!r}")
    public = x509.load_pem_x509_csr(csr_pem).public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):  # csr_identity checked it already
        raise PkiError("the CSR's key must be an EC P-256 key")
    return _leaf(ca_key_pem, ca_cert_pem, identity, public, hosts, now, days)


def certificate_identity(cert_pem: bytes) -> str:
    """The common name a certificate was issued to."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise PkiError("certificate has no common name")
    return str(names[0].value)


def certificate_not_after(cert_pem: bytes) -> dt.datetime:
    return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc
