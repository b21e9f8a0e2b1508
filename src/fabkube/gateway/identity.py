"""Client identity (MSP ID + X.509 certificate) and the ECDSA signer Fabric verifies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from fabric_protos.msp import identities_pb2

# Group orders of the curves Fabric's software BCCSP accepts for ECDSA identities.
CURVE_ORDERS: dict[str, int] = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
}


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


@dataclass(frozen=True)
class Identity:
    """Who signs: the MSP ID and the PEM certificate, serialized the way peers expect the creator."""

    msp_id: str
    cert_pem: bytes = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cert_pem", _as_bytes(self.cert_pem))

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    def serialize(self) -> bytes:
        """msp.SerializedIdentity bytes: the `creator` in headers and the `identity` in signed requests."""
        return identities_pb2.SerializedIdentity(mspid=self.msp_id, id_bytes=self.cert_pem).SerializeToString()


def normalize_low_s(der_signature: bytes, order: int) -> bytes:
    """Return the DER signature with s replaced by n - s when s > n/2.

    Fabric rejects high-S signatures (they are malleable: (r, n - s) verifies too), and
    OpenSSL does not normalise, so every signature goes through here.
    """
    r, s = decode_dss_signature(der_signature)
    if s > order // 2:
        s = order - s
    return encode_dss_signature(r, s)


class Signer:
    """Signs messages with ECDSA over SHA-256 and low-S DER output, as Fabric's BCCSP does."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"Fabric identities sign with ECDSA keys, not {type(private_key).__name__}")
        order = CURVE_ORDERS.get(private_key.curve.name)
        if order is None:
            raise ValueError(f"unsupported curve {private_key.curve.name}; Fabric uses P-256 or P-384")
        self._key = private_key
        self._order = order

    @classmethod
    def from_pem(cls, key_pem: bytes | str, password: bytes | None = None) -> Signer:
        key = serialization.load_pem_private_key(_as_bytes(key_pem), password=password)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"Fabric identities sign with ECDSA keys, not {type(key).__name__}")
        return cls(key)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def sign(self, message: bytes) -> bytes:
        """DER ECDSA signature of SHA-256(message), low-S."""
        der = self._key.sign(message, ec.ECDSA(hashes.SHA256()))
        return normalize_low_s(der, self._order)


def _read_cert(msp_dir: Path) -> bytes:
    certs = sorted((msp_dir / "signcerts").glob("*.pem"))
    if not certs:
        raise FileNotFoundError(f"no certificate in {msp_dir / 'signcerts'} (expected *.pem)")
    return certs[0].read_bytes()


def _key_candidates(msp_dir: Path) -> list[Path]:
    keystore = msp_dir / "keystore"
    files = sorted(p for p in keystore.glob("*") if p.is_file()) if keystore.is_dir() else []
    if not files:
        raise FileNotFoundError(f"no private key in {keystore} (expected priv_sk or *_sk)")
    # cryptogen writes priv_sk, fabric-ca-client writes <ski>_sk; try those before stray files.
    return sorted(files, key=lambda p: not (p.name == "priv_sk" or p.name.endswith("_sk")))


def identity_from_msp_dir(msp_id: str, msp_dir: str | Path) -> tuple[Identity, Signer]:
    """Load the identity and signer of an MSP directory (signcerts/*.pem, keystore/*).

    With several keys in the keystore, the one matching the certificate's public key wins;
    a keystore without a matching key is an error here rather than a signature failure at the peer.
    """
    msp_dir = Path(msp_dir)
    identity = Identity(msp_id, _read_cert(msp_dir))
    cert_key = identity.certificate.public_key()
    if not isinstance(cert_key, ec.EllipticCurvePublicKey):
        raise ValueError(f"certificate in {msp_dir / 'signcerts'} has no ECDSA public key")
    for path in _key_candidates(msp_dir):
        try:
            signer = Signer.from_pem(path.read_bytes())
        except (ValueError, TypeError):
            continue
        if signer.public_key.public_numbers() == cert_key.public_numbers():
            return identity, signer
    raise ValueError(f"no key in {msp_dir / 'keystore'} matches the certificate in {msp_dir / 'signcerts'}")
