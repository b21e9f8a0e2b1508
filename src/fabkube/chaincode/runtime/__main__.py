"""Run a Python chaincode directory as a chaincode server (CCaaS) on fabkube's runtime.

    python -m fabkube.chaincode.runtime DIR --address HOST:PORT --id PACKAGE_ID

DIR holds chaincode.py, which names its Chaincode subclass as CHAINCODE (or defines exactly one).
Every option defaults to the chaincode-external environment (as in a CCaaS pod; see
fabkube.chaincode.contract): CHAINCODE_SERVER_ADDRESS, CHAINCODE_ID, CHAINCODE_TLS_CERT,
CHAINCODE_TLS_KEY and CHAINCODE_CLIENT_CA_CERT, unless CHAINCODE_TLS_DISABLED is true;
CHAINCODE_METRICS_ADDRESS turns on Prometheus metrics there (fabkube's runtime only).
Only relative imports: chaincode images copy this package under another name and run it with -m.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import logging
import os
import sys
from pathlib import Path

from fabric_chaincode_python.fabric_shim.interfaces import Chaincode

from . import start


def load_chaincode(directory: Path) -> type[Chaincode]:
    module_path = directory / "chaincode.py"
    if not module_path.is_file():
        raise SystemExit(f"{module_path} does not exist: a chaincode directory needs a chaincode.py")
    sys.path.insert(0, str(directory))
    spec = importlib.util.spec_from_file_location("fabkube_user_chaincode", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    chosen = getattr(module, "CHAINCODE", None)
    if chosen is None:
        found = [
            v for v in vars(module).values() if inspect.isclass(v) and issubclass(v, Chaincode) and v is not Chaincode
        ]
        if len(found) != 1:
            raise SystemExit(f"{module_path}: set CHAINCODE = YourClass (found {len(found)} Chaincode classes)")
        chosen = found[0]
    return chosen


def main(argv: list[str] | None = None) -> None:
    env = dict(os.environ)
    if env.get("CHAINCODE_TLS_DISABLED", "").lower() == "true":
        for key in ("CHAINCODE_TLS_CERT", "CHAINCODE_TLS_KEY", "CHAINCODE_CLIENT_CA_CERT", "CHAINCODE_TLS_CLIENT_CA"):
            env.pop(key, None)
    parser = argparse.ArgumentParser(prog="python -m fabkube.chaincode.runtime")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--address", default=env.get("CHAINCODE_SERVER_ADDRESS"))
    parser.add_argument(
        "--id", default=env.get("CHAINCODE_ID") or env.get("CORE_CHAINCODE_ID_NAME"), help="the chaincode package ID"
    )
    parser.add_argument("--tls-cert", default=env.get("CHAINCODE_TLS_CERT"), help="server certificate (PEM)")
    parser.add_argument("--tls-key", default=env.get("CHAINCODE_TLS_KEY"), help="server key (PEM)")
    parser.add_argument(
        "--tls-client-ca",
        default=env.get("CHAINCODE_CLIENT_CA_CERT") or env.get("CHAINCODE_TLS_CLIENT_CA"),
        help="CA bundle (PEM) that client certificates must chain to; makes client auth required",
    )
    parser.add_argument(
        "--metrics-address",
        default=env.get("CHAINCODE_METRICS_ADDRESS"),
        help="serve Prometheus metrics (plain HTTP) on HOST:PORT; off when unset",
    )
    args = parser.parse_args(argv)
    if not args.address or not args.id:
        parser.error("--address and --id (or CHAINCODE_SERVER_ADDRESS and CHAINCODE_ID) are required")
    logging.basicConfig(
        level=os.environ.get("CHAINCODE_LOG_LEVEL", "INFO").upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    chaincode = load_chaincode(args.directory)
    logging.info("serving %s as %s on %s", chaincode.__name__, args.id, args.address)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    logging.info(
        "TLS %s", ("on, client certificates required" if args.tls_client_ca else "on") if args.tls_cert else "off"
    )
    start(
        chaincode,
        cc_id=args.id,
        address=args.address,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        client_ca=args.tls_client_ca,
        metrics_address=args.metrics_address,
    )


if __name__ == "__main__":
    main()
