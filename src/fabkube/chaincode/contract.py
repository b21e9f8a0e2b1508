"""The environment a chaincode server gets: every name a common `main` reads, on both targets.

A user's chaincode arrives with a `main` written to one of a few conventions, and fabkube must not
ask for a new one. Each convention's names are set together, so whichever the code reads, it finds:

- fabric-samples' chaincode-external (and hlf-operator's deployments): CHAINCODE_SERVER_ADDRESS,
  CHAINCODE_ID, CHAINCODE_TLS_DISABLED (read as true when unset), CHAINCODE_TLS_KEY,
  CHAINCODE_TLS_CERT, CHAINCODE_CLIENT_CA_CERT (PEM file paths);
- fabric-contract-api-go's `ContractChaincode.Start()` (v2.2.0 `loadChaincodeServerConfig`, and
  fabric-chaincode-java's ContractRouter in server mode): CHAINCODE_SERVER_ADDRESS,
  CORE_CHAINCODE_ID_NAME, CORE_PEER_TLS_ENABLED, CORE_TLS_CLIENT_KEY_FILE, CORE_TLS_CLIENT_CERT_FILE
  (the server's own pair, despite the name) and CORE_PEER_TLS_ROOTCERT_FILE (the CA that the peer's
  client certificate must chain to). Java also insists on CORE_TLS_CLIENT_KEY_PATH and
  CORE_TLS_CLIENT_CERT_PATH being set when TLS is on (base64 of the PEM, read only in client mode);
- fabric-shim's `fabric-chaincode-node server` (yargs with the CORE prefix): CORE_CHAINCODE_ADDRESS,
  CORE_CHAINCODE_ID, CORE_CHAINCODE_TLS_KEY_FILE, CORE_CHAINCODE_TLS_CERT_FILE and
  CORE_CHAINCODE_TLS_CLIENT_CACERT_FILE; TLS is on exactly when the key and cert are given.

CHAINCODE_TLS_CLIENT_CA, the name fabkube used before, stays as an alias.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerTLS:
    """Where a chaincode server finds its TLS material (paths as the server sees them)."""

    cert: str
    key: str
    client_ca: str  # peers' client certificates must chain to this (mutual TLS)
    cert_b64: str  # the same cert and key, base64 of the PEM (Java's *_PATH convention)
    key_b64: str


def server_env(address: str, package_id: str, tls: ServerTLS | None) -> dict[str, str]:
    """The chaincode server's environment: every convention's names, with TLS on or off."""
    env = {
        "CHAINCODE_SERVER_ADDRESS": address,
        "CHAINCODE_ID": package_id,
        "CORE_CHAINCODE_ID_NAME": package_id,
        "CORE_CHAINCODE_ADDRESS": address,
        "CORE_CHAINCODE_ID": package_id,
        "CHAINCODE_TLS_DISABLED": "true" if tls is None else "false",
        "CORE_PEER_TLS_ENABLED": "false" if tls is None else "true",
    }
    if tls is None:
        return env
    return env | {
        "CHAINCODE_TLS_CERT": tls.cert,
        "CHAINCODE_TLS_KEY": tls.key,
        "CHAINCODE_CLIENT_CA_CERT": tls.client_ca,
        "CHAINCODE_TLS_CLIENT_CA": tls.client_ca,
        "CORE_TLS_CLIENT_CERT_FILE": tls.cert,
        "CORE_TLS_CLIENT_KEY_FILE": tls.key,
        "CORE_PEER_TLS_ROOTCERT_FILE": tls.client_ca,
        "CORE_TLS_CLIENT_CERT_PATH": tls.cert_b64,
        "CORE_TLS_CLIENT_KEY_PATH": tls.key_b64,
        "CORE_CHAINCODE_TLS_CERT_FILE": tls.cert,
        "CORE_CHAINCODE_TLS_KEY_FILE": tls.key,
        "CORE_CHAINCODE_TLS_CLIENT_CACERT_FILE": tls.client_ca,
    }


def tls_at(server_dir: str, client_ca: str) -> ServerTLS:
    """The TLS material in a directory holding the pair as server.crt/server.key (and their .b64)."""
    return ServerTLS(
        f"{server_dir}/server.crt",
        f"{server_dir}/server.key",
        client_ca,
        f"{server_dir}/server.crt.b64",
        f"{server_dir}/server.key.b64",
    )
