"""ZooKeeper locked to the brokers: SASL DIGEST-MD5 between brokers and ZooKeeper and among the
ZooKeeper nodes (quorum), sessions without it refused (`enforce.auth`, ZooKeeper 3.7+), and the
brokers' znodes ACL'd to them (`zookeeper.set.acl`). One random password per network, kept with the
orderer org's crypto (0600) and written into two JAAS files: ZooKeeper's (whom it accepts, how its
nodes log in to each other) and the brokers' (how they log in).

Before this, one unauthenticated write into ZooKeeper made the brokers delete a channel's topic
(FIELD-NOTES); now such a client gets no session.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BROKER_USER = "kafka"
QUORUM_USER = "zookeeper"
DIGEST = "org.apache.zookeeper.server.auth.DigestLoginModule"


def zookeeper_auth_properties(ensemble: int) -> dict[str, str]:
    props = {
        "authProvider.sasl": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
        "enforce.auth.enabled": "true",
        "enforce.auth.schemes": "sasl",
    }
    if ensemble > 1:
        props |= {
            "quorum.auth.enableSasl": "true",
            "quorum.auth.learnerRequireSasl": "true",
            "quorum.auth.serverRequireSasl": "true",
        }
    return props


def broker_auth_properties() -> dict[str, str]:
    return {"zookeeper.set.acl": "true"}


def jaas_option(path: str | Path) -> str:
    return f"-Djava.security.auth.login.config={path}"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def jaas_files(directory: Path) -> tuple[Path, Path]:
    """(ZooKeeper's JAAS file, the brokers' JAAS file) under `directory`; written by write_jaas."""
    return directory / "zookeeper.jaas", directory / "kafka.jaas"


def write_jaas(directory: Path) -> bool:
    """Make the password once (a change would lock the brokers out of a running ensemble) and write
    both JAAS files from it; part of generating crypto, never of reading a network. True if new."""
    secret = directory / "password"
    new = not secret.is_file()
    if new:
        _write_private(secret, secrets.token_urlsafe(32) + "\n")
    password = secret.read_text().strip()
    zookeeper, broker = jaas_files(directory)
    _write_private(
        zookeeper,
        f'Server {{\n  {DIGEST} required\n  user_{BROKER_USER}="{password}";\n}};\n'
        f'QuorumServer {{\n  {DIGEST} required\n  user_{QUORUM_USER}="{password}";\n}};\n'
        f'QuorumLearner {{\n  {DIGEST} required\n  username="{QUORUM_USER}"\n  password="{password}";\n}};\n',
    )
    _write_private(
        broker, f'Client {{\n  {DIGEST} required\n  username="{BROKER_USER}"\n  password="{password}";\n}};\n'
    )
    return new


def sasl_dir(layout) -> Path:
    """Where a network keeps its ZooKeeper password and JAAS files: beside the brokers' TLS pair."""
    return kafka_sasl_dir(layout.org_dir(layout.topo.ordering.orderer_org))


def kafka_sasl_dir(orderer_org_dir: Path) -> Path:
    return orderer_org_dir / "kafka" / "sasl"
