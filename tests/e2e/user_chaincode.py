"""Users' chaincode directories in every language fabkube serves, as the language tests use them
locally and in real pods."""

import shutil
import textwrap
from pathlib import Path

from fabkube.chaincode import BUILTINS

HERE = Path(__file__).parent / "chaincode" / "languages"
# chaincode name -> its directory under HERE
LANGUAGES = {
    "gostart": "go-start",
    "goexternal": "go-external",
    "javascript": "javascript",
    "typescript": "typescript",
    "java": "java",
}
SUBMITS, IN_FLIGHT = 2000, 50


def chaincode_dirs(root: Path) -> dict[str, Path]:
    """The directories as users hold them. The Go ones are fabkube's Go asset contract with each
    test's own main.go, as a user's module with its contract and main side by side."""
    dirs = {}
    for name, sub in LANGUAGES.items():
        dest = root / sub
        if sub.startswith("go-"):
            shutil.copytree(BUILTINS["asset-transfer-basic-go"], dest, ignore=shutil.ignore_patterns("main.go"))
            shutil.copy(HERE / sub / "main.go", dest / "main.go")
        else:
            shutil.copytree(HERE / sub, dest)
        dirs[name] = dest
    return dirs


def spec_text(name: str, tls: bool, port: int, dirs: dict[str, Path]) -> str:
    chaincodes = "".join(f"  - {{name: {cc}, path: {d}, channel: ch}}\n" for cc, d in dirs.items())
    return (
        textwrap.dedent(f"""\
        name: {name}
        tls: {str(tls).lower()}
        ordering: {{type: kafka, orderers: 1, batchTimeout: 250ms, maxMessageCount: 100}}
        kafka: {{brokers: 1, replicationFactor: 1, minInsyncReplicas: 1}}
        zookeeper: {{nodes: 1}}
        local: {{basePort: {port}}}
        organizations: [{{name: Org1, domain: org1.example.com, peers: 2}}]
        channels: [{{name: ch, organizations: [Org1]}}]
        chaincodes:
        """)
        + chaincodes
    )
