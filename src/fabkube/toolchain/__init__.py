"""Obtain, verify and cache the real Fabric binaries and the parts an ordering type runs.

Fabric is built with the installed Go from the Go module proxy (checksums pinned by our
go.sum and the Go checksum database). The parts beyond it (PARTS) are fetched only when
asked for: a network's toolchain holds the ones its ordering type names (Kafka ordering:
"kafka", the Kafka and ZooKeeper jars, from Maven Central with strict checksum checking).
Everything lands under one cache dir ($FABKUBE_CACHE, default ~/.cache/fabkube) and a
second install does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fabkube.errors import RuntimeFailure
from fabkube.runlog import run_logged
from fabkube.toolchain.versions import (
    DEFAULT_FABRIC_VERSION,
    FABRIC_COMMANDS,
    FABRIC_MODULE,
    FABRIC_VERSIONS,
    JETTY_VERSION,
    JMX_EXPORTER_JAR,
    JMX_EXPORTER_VERSION,
    KAFKA_VERSION,
    SCALA_VERSION,
    ZOOKEEPER_METRICS_VERSION,
    ZOOKEEPER_VERSION,
)

MIN_GO = (1, 22)
Progress = Callable[[str], None]
# What the toolchain can fetch beyond Fabric. Without a spec (`fabkube toolchain install`) it holds all.
PARTS: tuple[str, ...] = ("kafka",)


def cache_root() -> Path:
    return Path(os.environ.get("FABKUBE_CACHE") or Path.home() / ".cache" / "fabkube").expanduser()


def _data(name: str) -> str:
    return resources.files("fabkube.toolchain").joinpath("data", name).read_text()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _need(tool: str, what: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise RuntimeFailure(f"{tool} not found on PATH: {what}")
    return found


def _run(cmd: list[str], log: Path, cwd: Path | None = None, env: dict | None = None) -> None:
    run_logged(cmd, log, cwd=cwd, env=env)


@dataclass
class ToolStatus:
    name: str
    version: str
    path: Path
    ok: bool


class Toolchain:
    def __init__(
        self, fabric_version: str = DEFAULT_FABRIC_VERSION, root: Path | None = None, parts: Iterable[str] = PARTS
    ):
        self.fabric = FABRIC_VERSIONS[fabric_version]
        self.root = root or cache_root()
        self.parts = tuple(parts)
        unknown = [p for p in self.parts if p not in PARTS]
        if unknown:
            raise ValueError(f"unknown toolchain parts {unknown}; known: {', '.join(PARTS)}")

    # ------------------------------------------------------------ paths
    @property
    def fabric_dir(self) -> Path:
        return self.root / f"fabric-{self.fabric.version}"

    @property
    def bin_dir(self) -> Path:
        return self.fabric_dir / "bin"

    @property
    def config_dir(self) -> Path:
        """Fabric's sampleconfig (core.yaml, orderer.yaml, configtx.yaml) from the same module version."""
        return self.fabric_dir / "config"

    def bin(self, command: str) -> Path:
        return self.bin_dir / command

    @property
    def kafka_dir(self) -> Path:
        return self.root / f"kafka-{KAFKA_VERSION}"

    @property
    def kafka_libs(self) -> Path:
        return self.kafka_dir / "libs"

    @property
    def jmx_exporter_agent(self) -> Path:
        return self.kafka_libs / JMX_EXPORTER_JAR

    @property
    def kafka_classpath(self) -> str:
        return str(self.kafka_libs / "*")

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    # ------------------------------------------------------------ state
    def stamp(self, directory: Path) -> dict | None:
        try:
            return json.loads((directory / "INSTALLED.json").read_text())
        except (OSError, ValueError):
            return None

    def fabric_ready(self) -> bool:
        stamp = self.stamp(self.fabric_dir)
        if not stamp or stamp.get("commit") != self.fabric.commit:
            return False
        return (
            all(
                (self.bin_dir / c).is_file() and sha256_file(self.bin_dir / c) == stamp["sha256"].get(c)
                for c in FABRIC_COMMANDS
            )
            and (self.config_dir / "core.yaml").is_file()
        )

    def kafka_ready(self) -> bool:
        stamp = self.stamp(self.kafka_dir)
        # The pom's digest: a machine fetched with an older list of jars fetches again.
        if not stamp or stamp.get("kafka") != KAFKA_VERSION or stamp.get("pom") != _pom_digest():
            return False
        return all((self.kafka_libs / j).is_file() for j in stamp["jars"])

    def ready(self) -> bool:
        return self.fabric_ready() and ("kafka" not in self.parts or self.kafka_ready())

    # ------------------------------------------------------------ install
    def install(self, progress: Progress = lambda _m: None) -> dict[str, float]:
        """Install what is missing; returns seconds spent per part (0 when already there)."""
        times = {"fabric": 0.0, **dict.fromkeys(self.parts, 0.0)}
        if not self.fabric_ready():
            start = time.monotonic()
            progress(f"building Fabric {self.fabric.version} from the Go module proxy (first time: a few minutes)")
            self._install_fabric()
            times["fabric"] = time.monotonic() - start
        if "kafka" in self.parts and not self.kafka_ready():
            start = time.monotonic()
            progress(f"fetching Kafka {KAFKA_VERSION} and ZooKeeper {ZOOKEEPER_VERSION} from Maven Central")
            self._install_kafka()
            times["kafka"] = time.monotonic() - start
        return times

    def ensure(self, progress: Progress = lambda _m: None) -> Toolchain:
        if not self.ready():
            self.install(progress)
        return self

    def _go_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["GOFLAGS"] = "-mod=mod"
        return env  # GOTOOLCHAIN as the user (or ./dev) set it: a newer toolchain may come from the proxy

    def _check_go(self) -> str:
        go = _need("go", "install Go 1.22 or newer (the Go toolchain builds Fabric from the Go module proxy)")
        out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
        m = re.match(r"go(\d+)\.(\d+)", out)
        need = max(MIN_GO, self.fabric.go)
        if not m or (int(m.group(1)), int(m.group(2))) < need:
            raise RuntimeFailure(
                f"Go {out or '(unknown)'} is too old: Fabric {self.fabric.version} needs Go "
                f"{need[0]}.{need[1]} or newer"
            )
        return go

    def go_build(self, src: Path, packages: list[str], ldflags: str, log: Path, staging: Path) -> str:
        """`go build` the packages of the module in src into a staging bin dir; returns the go binary."""
        go = self._check_go()
        shutil.rmtree(staging, ignore_errors=True)
        _run(
            [go, "build", "-trimpath", "-ldflags", ldflags, "-o", f"{staging}/", *packages],
            log,
            cwd=src,
            env=self._go_env(),
        )
        return go

    def go_build_binary(self, src: Path, out: Path, log: Path) -> None:
        """`go build` the main package of the module in src into the file `out`."""
        go = self._check_go()
        _run([go, "build", "-trimpath", "-o", str(out), "."], log, cwd=src, env=self._go_env())

    def module_dir(self, go: str, src: Path, module: str) -> Path:
        """Where the Go module cache holds a dependency of the module in src (for its shipped data)."""
        out = subprocess.run(
            [go, "list", "-m", "-f", "{{.Dir}}", module],
            cwd=src,
            env=self._go_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        return Path(out.stdout.strip())

    @staticmethod
    def publish(staging: Path, bin_dir: Path, commands: tuple[str, ...], stamp: dict) -> None:
        """Swap the staging dir in and record checksums: an interrupted install is never taken as done."""
        shutil.rmtree(bin_dir, ignore_errors=True)
        staging.rename(bin_dir)
        stamp["sha256"] = {c: sha256_file(bin_dir / c) for c in commands}
        (bin_dir.parent / "INSTALLED.json").write_text(json.dumps(stamp, indent=2))

    def _install_fabric(self) -> None:
        go = self._check_go()
        log = self.logs / f"fabric-{self.fabric.version}-build.log"
        src = self.fabric_dir / "src"
        src.mkdir(parents=True, exist_ok=True)
        (src / "go.mod").write_text(
            f"module fabkube.local/fabricbuild\n\ngo {self.fabric.go[0]}.{self.fabric.go[1]}\n\n"
            f"require {FABRIC_MODULE} {self.fabric.module_version}\n"
        )
        go_sum = f"fabric-{self.fabric.version}.go.sum"
        (src / "go.sum").write_text(_data(go_sum))
        _run([go, "mod", "download", FABRIC_MODULE], log, cwd=src, env=self._go_env())
        staging = self.fabric_dir / "bin.partial"
        ldflags = (
            f"-X {FABRIC_MODULE}/common/metadata.Version={self.fabric.version} "
            f"-X {FABRIC_MODULE}/common/metadata.CommitSHA={self.fabric.commit[:7]}"
        )
        self.go_build(src, [f"{FABRIC_MODULE}/cmd/{c}" for c in FABRIC_COMMANDS], ldflags, log, staging)
        module_dir = self.module_dir(go, src, FABRIC_MODULE)
        config = self.fabric_dir / "config"
        shutil.rmtree(config, ignore_errors=True)
        config.mkdir(parents=True)
        for name in ("core.yaml", "orderer.yaml", "configtx.yaml"):
            shutil.copyfile(module_dir / "sampleconfig" / name, config / name)
        out = subprocess.run([str(staging / "peer"), "version"], capture_output=True, text=True).stdout
        if f"Version: {self.fabric.version}" not in out:
            raise RuntimeFailure(f"the built peer reports the wrong version:\n{out}", log)
        self.publish(
            staging,
            self.bin_dir,
            FABRIC_COMMANDS,
            {
                "version": self.fabric.version,
                "commit": self.fabric.commit,
                "module": f"{FABRIC_MODULE}@{self.fabric.module_version}",
            },
        )

    def _install_kafka(self) -> None:
        mvn = _need("mvn", "install Apache Maven (it fetches Kafka and ZooKeeper from Maven Central)")
        _need("java", "install a Java 17 runtime (Kafka and ZooKeeper run on the JVM)")
        log = self.logs / f"kafka-{KAFKA_VERSION}-fetch.log"
        self.kafka_dir.mkdir(parents=True, exist_ok=True)
        pom = self.kafka_dir / "pom.xml"
        pom.write_text(_kafka_pom())
        staging = self.kafka_dir / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        # -C: fail on a checksum mismatch instead of warning.
        _run(
            [
                mvn,
                "-B",
                "-q",
                "-C",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            log,
        )
        jars = sorted(p.name for p in staging.glob("*.jar"))
        wanted = (
            f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar",
            f"zookeeper-{ZOOKEEPER_VERSION}.jar",
            f"zookeeper-prometheus-metrics-{ZOOKEEPER_METRICS_VERSION}.jar",
            f"jetty-server-{JETTY_VERSION}.jar",
            JMX_EXPORTER_JAR,
        )
        for needed in wanted:
            if needed not in jars:
                raise RuntimeFailure(f"Maven did not deliver {needed}", log)
        shutil.rmtree(self.kafka_libs, ignore_errors=True)
        staging.rename(self.kafka_libs)
        stamp = {"kafka": KAFKA_VERSION, "zookeeper": ZOOKEEPER_VERSION, "pom": _pom_digest(), "jars": jars}
        (self.kafka_dir / "INSTALLED.json").write_text(json.dumps(stamp, indent=2))

    # ------------------------------------------------------------ report
    def status(self) -> list[ToolStatus]:
        rows: list[ToolStatus] = []
        fabric_ok = self.fabric_ready()
        for c in FABRIC_COMMANDS:
            rows.append(ToolStatus(c, self.fabric.version, self.bin(c), fabric_ok))
        if "kafka" in self.parts:
            rows += self._kafka_status()
        return rows

    def _kafka_status(self) -> list[ToolStatus]:
        kafka_ok = self.kafka_ready()
        java = shutil.which("java")
        return [
            ToolStatus(
                "kafka", KAFKA_VERSION, self.kafka_libs / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar", kafka_ok
            ),
            ToolStatus(
                "zookeeper", ZOOKEEPER_VERSION, self.kafka_libs / f"zookeeper-{ZOOKEEPER_VERSION}.jar", kafka_ok
            ),
            ToolStatus("java", _java_version(java) if java else "missing", Path(java or "-"), bool(java)),
        ]


def _kafka_pom() -> str:
    values = {
        "KAFKA_VERSION": KAFKA_VERSION,
        "SCALA_VERSION": SCALA_VERSION,
        "ZOOKEEPER_METRICS_VERSION": ZOOKEEPER_METRICS_VERSION,
        "JETTY_VERSION": JETTY_VERSION,
        "JMX_EXPORTER_VERSION": JMX_EXPORTER_VERSION,
    }
    text = _data("kafka-pom.xml")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def _pom_digest() -> str:
    return hashlib.sha256(_kafka_pom().encode()).hexdigest()[:16]


def _java_version(java: str) -> str:
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "([^"]+)"', out)
    return m.group(1) if m else "unknown"
