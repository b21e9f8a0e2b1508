"""ECDSA P-256 certificate authorities and certificates with cryptogen's fields.

Field for field what Fabric's cryptogen issues (internal/cryptogen/ca): a self-signed CA
with SKI = SHA-256 of the public point, subject C=US/ST=California/L=San Francisco, ten
years of validity backdated five minutes; leaf certs carry the CA's subject fields, the
node's CN and NodeOU, and the SANs we ask for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=3650)
KEY_FILE = "priv_sk"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """PKCS#8 PEM, mode 0600 from the first byte (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def read_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def write_cert(path: Path, cert: x509.Certificate) -> None:
    """Whole or not at all: a renewal interrupted mid-write leaves the old certificate, not half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tmp.replace(path)


def read_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def ski(public_key: ec.EllipticCurvePublicKey) -> bytes:
    point = public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return hashlib.sha256(point).digest()


def _base_subject(common_name: str, org: str | None = None, ous: list[str] | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "San Francisco"),
    ]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    for ou in ous or []:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _validity(length: dt.timedelta = VALIDITY) -> tuple[dt.datetime, dt.datetime]:
    """Backdated five minutes as cryptogen does (clocks differ a little), then `length` from now."""
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    return now - dt.timedelta(minutes=5), now + length


def _key_usage(*, digital_signature=False, key_encipherment=False, cert_sign=False, crl_sign=False):
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class CA:
    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, directory: Path, name: str, org: str) -> CA:
        key = new_key()
        subject = _base_subject(name, org)
        not_before, not_after = _validity()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                _key_usage(digital_signature=True, key_encipherment=True, cert_sign=True, crl_sign=True), critical=True
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier(ski(key.public_key())), critical=False)
            .sign(key, hashes.SHA256())
        )
        write_key(directory / KEY_FILE, key)
        write_cert(directory / f"{name}-cert.pem", cert)
        return cls(name, key, cert)

    @classmethod
    def load(cls, directory: Path, name: str) -> CA:
        return cls(name, read_key(directory / KEY_FILE), read_cert(directory / f"{name}-cert.pem"))

    @classmethod
    def load_or_create(cls, directory: Path, name: str, org: str) -> CA:
        if (directory / KEY_FILE).exists() and (directory / f"{name}-cert.pem").exists():
            return cls.load(directory, name)
        return cls.create(directory, name, org)

    @property
    def org(self) -> str:
        return self.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value

    def renew(self, cert: x509.Certificate, validity: dt.timedelta) -> x509.Certificate:
        """The same certificate (subject, key, extensions) with a new serial and validity: what it
        identifies and what trusts it stay the same (Fabric's cluster and MSP checks go by key and
        chain, raft_configuration.md: no config update is needed for the same key)."""
        not_before, not_after = _validity(validity)
        builder = (
            x509.CertificateBuilder()
            .subject_name(cert.subject)
            .issuer_name(self.cert.subject)
            .public_key(cert.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(min(not_after, self.cert.not_valid_after_utc))
        )
        for ext in cert.extensions:
            builder = builder.add_extension(ext.value, ext.critical)
        return builder.sign(self.key, hashes.SHA256())

    def issue(
        self,
        common_name: str,
        public_key: ec.EllipticCurvePublicKey,
        *,
        ous: list[str] | None = None,
        sans: list[str] | None = None,
        tls: bool = False,
        org: str | None = None,
        validity: dt.timedelta = VALIDITY,
    ) -> x509.Certificate:
        """A leaf certificate valid for `validity` (never past the CA's own end)."""
        not_before, not_after = _validity(validity)
        not_after = min(not_after, self.cert.not_valid_after_utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_base_subject(common_name, org, ous))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier(ski(self.key.public_key()), None, None), critical=False)
        )
        if tls:
            builder = builder.add_extension(_key_usage(digital_signature=True, key_encipherment=True), critical=True)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
        else:
            builder = builder.add_extension(_key_usage(digital_signature=True), critical=True)
        if sans:
            names: list[x509.GeneralName] = []
            for san in sans:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(san)))
                except ValueError:
                    names.append(x509.DNSName(san))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256())
