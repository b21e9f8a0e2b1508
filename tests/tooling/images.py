"""Container images for the test cluster, built here from our own binaries (nothing can be pulled).

Each follows the layout and command of the official image it stands in for, so the manifests
fabkube renders run unchanged; only the registry in their names is the spec's setting:
  hyperledger/fabric-{peer,orderer,tools}  Fabric's images/{peer,orderer,tools}/Dockerfile at our
      release: binaries in /usr/local/bin, FABRIC_CFG_PATH=/etc/hyperledger/fabric with the
      sampleconfig files, the ccaas builder at /opt/hyperledger/ccaas_builder/bin. Fabric's own
      builder is a nested Go module the proxy does not serve (403), so fabkube's implementation
      of the same builder contract (fabkube/chaincode/ccaas_builder.py) sits at that path.
  apache/kafka  /opt/kafka/{bin,libs,config}, user appuser (1000).
  library/zookeeper  /apache-zookeeper-<v>-bin with zkServer.sh on PATH, /conf, /data, user 1000.
  pause, coredns  static binaries alone, as upstream.
  chaincode images  from the recipe `fabkube chaincode dockerfile` writes (tooling/dockerfile.py).
The Debian base (debootstrap: bookworm minbase + python3 + OpenJDK 17 JRE) is one shared layer,
cached by its package list in the toolchain cache.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fabkube.errors import RuntimeFailure
from fabkube.toolchain import Toolchain
from tooling.oci import Image, Layer, known_layer, layer_from_dir

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "openjdk-17-jre-headless", "ca-certificates")
KAFKA_VERSION = "3.9.1"
ZOOKEEPER_VERSION = "3.8.4"  # the ZooKeeper Kafka 3.9.1 ships with (its jars run it)
APP_UID = 1000  # appuser in apache/kafka, zookeeper in the zookeeper image

Progress = Callable[[str], None]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class BaseLayer:
    """debootstrap's Debian root as one layer tar, built once per suite and package list."""

    def __init__(self, tools: Toolchain):
        self.dir = tools.root / "images" / f"debian-{DEBIAN_SUITE}-{_digest(*BASE_PACKAGES)}"
        self.tar = self.dir / "layer.tar"
        self.log = tools.logs / "debian-base.log"

    def ensure(self, progress: Progress) -> Layer:
        if self.tar.is_file():
            return known_layer(self.tar)
        if not shutil.which("debootstrap"):
            raise RuntimeFailure(
                "debootstrap is not installed: ./dev cluster installs it (apt-get install debootstrap)"
            )
        progress(f"building the Debian {DEBIAN_SUITE} base image with debootstrap (first time: minutes)")
        start = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        root = self.dir / "rootfs.partial"
        shutil.rmtree(root, ignore_errors=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("w") as log:
            proc = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    DEBIAN_SUITE,
                    str(root),
                    DEBIAN_MIRROR,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if proc.returncode != 0:
            raise RuntimeFailure(f"debootstrap failed (exit {proc.returncode})", self.log)
        # What an image needs no copy of: downloaded packages and apt lists.
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (root / sub).glob("*"):
                if p.is_file():
                    p.unlink()
        (root / "etc/nsswitch.conf").write_text("hosts: files dns\n")  # as Fabric's images set it
        layer_from_dir(root, self.tar)
        shutil.rmtree(root, ignore_errors=True)
        progress(f"Debian base built in {time.monotonic() - start:.0f}s")
        return known_layer(self.tar)


def _put(root: Path, rel: str, src: Path | None = None, text: str | None = None, mode: int = 0o755) -> None:
    dst = root / rel.lstrip("/")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src is not None:
        shutil.copyfile(src, dst)
    else:
        dst.write_text(text or "")
    dst.chmod(mode)


def _own(root: Path, rel: str, uid: int) -> None:
    d = root / rel.lstrip("/")
    d.mkdir(parents=True, exist_ok=True)
    for p in [d, *d.rglob("*")]:
        shutil.chown(p, uid, uid)


FABRIC_CFG = "/etc/hyperledger/fabric"

# Thin launchers with the interface of the distribution scripts the manifests call (the jars
# come from Maven Central; Apache's binary tarball is not reachable here).
KAFKA_RUN = """#!/bin/sh
# kafka-run-class.sh's job: java with the broker's heap and JVM options over /opt/kafka/libs.
exec java ${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G} ${KAFKA_JVM_PERFORMANCE_OPTS:-} \\
  -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties ${KAFKA_OPTS:-} \\
  -cp '/opt/kafka/libs/*' "$@"
"""
KAFKA_SERVER_START = """#!/bin/sh
exec /opt/kafka/bin/kafka-run-class.sh kafka.Kafka "$@"
"""
ZOOKEEPER_SHELL = """#!/bin/sh
# zookeeper-shell.sh SERVER [command]: Kafka's ZooKeeper client.
server=$1; shift
KAFKA_HEAP_OPTS="-Xmx64m" exec /opt/kafka/bin/kafka-run-class.sh \\
  org.apache.zookeeper.ZooKeeperMainWithTlsSupportForKafka -server "$server" "$@"
"""
LOG4J_CONSOLE = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
"""
ZK_SERVER = """#!/bin/sh
# zkServer.sh start-foreground [CONFIG]: the ensemble member in the foreground, logging to stdout.
[ "$1" = start-foreground ] || {{ echo "usage: zkServer.sh start-foreground [zoo.cfg]" >&2; exit 2; }}
cfg=${{2:-${{ZOO_CONF_DIR:-/conf}}/zoo.cfg}}
exec java -Xms32m ${{SERVER_JVMFLAGS:-}} -Dlog4j.configuration=file:${{ZOO_CONF_DIR:-/conf}}/log4j.properties \\
  -cp '{home}/lib/*' org.apache.zookeeper.server.quorum.QuorumPeerMain "$cfg"
"""
CCAAS_VERB = """#!/bin/sh
exec python3 /opt/hyperledger/ccaas_builder/ccaas_builder.py {verb} "$@"
"""


class ImageSet:
    """Build the images the seed and ha networks need, as OCI archives under the cache."""

    def __init__(self, tools: Toolchain, k8s_bin: Path, coredns: Path, registry: str = "docker.io"):
        self.tools, self.k8s_bin, self.coredns = tools, k8s_bin, coredns
        self.registry = registry.rstrip("/")
        self.base = BaseLayer(tools)
        self.layers = tools.root / "images" / "layers"

    def _layer(self, name: str, fill: Callable[[Path], None]) -> Layer:
        self.layers.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.layers.parent) as tmp:
            root = Path(tmp) / "root"
            root.mkdir()
            fill(root)
            return layer_from_dir(root, self.layers / f"{name}.tar")

    def system_images(self) -> list[Image]:
        """pause and CoreDNS: static binaries alone (under registry.k8s.io, as kubelet names them)."""
        pause = self._layer("pause", lambda r: _put(r, "pause", self.k8s_bin / "pause"))
        coredns = self._layer("coredns", lambda r: _put(r, "coredns", self.coredns))
        return [
            Image("registry.k8s.io/pause:3.10", [pause], entrypoint=["/pause"], user="65535"),
            Image("registry.k8s.io/coredns/coredns:v1.12.4", [coredns], entrypoint=["/coredns"], ports=[53]),
        ]

    def network_images(self, progress: Progress, more_fabric: tuple[Toolchain, ...] = ()) -> list[Image]:
        """Kafka, ZooKeeper and Fabric's images of this toolchain's version, plus Fabric's peer and
        orderer images of each toolchain in `more_fabric` (built ones): no tools image for Fabric 3,
        as upstream publishes none."""
        out = self._fabric_images(self.tools, progress)
        for t in more_fabric:
            out += self._fabric_images(t, progress)
        return out + self._kafka_images(progress)

    def _fabric_images(self, t: Toolchain, progress: Progress) -> list[Image]:
        base = self.base.ensure(progress)
        fab = t.fabric.version
        reg = self.registry
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FABRIC_CFG_PATH": FABRIC_CFG}
        env["FABRIC_VER"] = fab

        def peer(r: Path) -> None:
            _put(r, "/usr/local/bin/peer", t.bin("peer"))
            _put(r, f"{FABRIC_CFG}/core.yaml", t.config_dir / "core.yaml", mode=0o644)
            import fabkube.chaincode.ccaas_builder as builder

            _put(r, "/opt/hyperledger/ccaas_builder/ccaas_builder.py", Path(builder.__file__), mode=0o644)
            for verb in ("detect", "build", "release"):
                _put(r, f"/opt/hyperledger/ccaas_builder/bin/{verb}", text=CCAAS_VERB.format(verb=verb))

        def orderer(r: Path) -> None:
            _put(r, "/usr/local/bin/orderer", t.bin("orderer"))
            for f in ("orderer.yaml", "configtx.yaml"):
                _put(r, f"{FABRIC_CFG}/{f}", t.config_dir / f, mode=0o644)

        def tools_(r: Path) -> None:
            for b in sorted(t.bin_dir.iterdir()):
                _put(r, f"/usr/local/bin/{b.name}", b)
            for f in sorted(t.config_dir.iterdir()):
                _put(r, f"{FABRIC_CFG}/{f.name}", f, mode=0o644)

        fabric = {"peer": peer, "orderer": orderer, "tools": tools_}
        if t.fabric.major >= 3:
            del fabric["tools"]  # hyperledger/fabric-tools ends with 2.5 (Fabric 3.0 release notes)
        out = []
        for kind, fill in fabric.items():
            layer = self._layer(f"fabric-{kind}-{fab}", fill)
            cmd = {"peer": ["peer", "node", "start"], "orderer": ["orderer", "start"], "tools": None}[kind]
            out.append(Image(f"{reg}/hyperledger/fabric-{kind}:{fab}", [base, layer], cmd=cmd, env=env))
        return out

    def _kafka_images(self, progress: Progress) -> list[Image]:
        base = self.base.ensure(progress)
        t, reg = self.tools, self.registry
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

        def kafka(r: Path) -> None:
            for jar in sorted(t.kafka_libs.glob("*.jar")):
                _put(r, f"/opt/kafka/libs/{jar.name}", jar, mode=0o644)
            _put(r, "/opt/kafka/bin/kafka-run-class.sh", text=KAFKA_RUN)
            _put(r, "/opt/kafka/bin/kafka-server-start.sh", text=KAFKA_SERVER_START)
            _put(r, "/opt/kafka/bin/zookeeper-shell.sh", text=ZOOKEEPER_SHELL)
            _put(r, "/opt/kafka/config/log4j.properties", text=LOG4J_CONSOLE, mode=0o644)
            _own(r, "/var/lib/kafka/data", APP_UID)
            _add_user(r, base, "appuser", APP_UID)

        zk_home = f"/apache-zookeeper-{ZOOKEEPER_VERSION}-bin"

        def zookeeper(r: Path) -> None:
            # ZooKeeper runs from the jars Kafka ships it with (metrics, netty, logging included).
            for jar in sorted(t.kafka_libs.glob("*.jar")):
                _put(r, f"{zk_home}/lib/{jar.name}", jar, mode=0o644)
            _put(r, f"{zk_home}/bin/zkServer.sh", text=ZK_SERVER.format(home=zk_home))
            _put(r, "/conf/log4j.properties", text=LOG4J_CONSOLE, mode=0o644)
            for d in ("/data", "/datalog"):
                _own(r, d, APP_UID)
            _add_user(r, base, "zookeeper", APP_UID)

        out = []
        kafka_layer = self._layer(f"kafka-{KAFKA_VERSION}", kafka)
        out.append(
            Image(
                f"{reg}/apache/kafka:{KAFKA_VERSION}",
                [base, kafka_layer],
                cmd=["/opt/kafka/bin/kafka-server-start.sh", "/opt/kafka/config/server.properties"],
                user="appuser",
                env={"PATH": f"{env['PATH']}:/opt/kafka/bin"},
                ports=[9092],
            )
        )
        zk_layer = self._layer(f"zookeeper-{ZOOKEEPER_VERSION}", zookeeper)
        out.append(
            Image(
                f"{reg}/library/zookeeper:{ZOOKEEPER_VERSION}",
                [base, zk_layer],
                cmd=["zkServer.sh", "start-foreground"],
                user="zookeeper",
                env={"PATH": f"{env['PATH']}:{zk_home}/bin", "ZOO_CONF_DIR": "/conf", "ZOO_DATA_DIR": "/data"},
                ports=[2181, 2888, 3888],
            )
        )
        return out


def _add_user(root: Path, base: Layer, name: str, uid: int) -> None:
    """The base's passwd and group plus the image's user, in the image's own layer."""
    with tarfile.open(base.path) as tar:
        for f, line in (("passwd", f"{name}:x:{uid}:{uid}::/home/{name}:/bin/sh\n"), ("group", f"{name}:x:{uid}:\n")):
            member = tar.extractfile(f"./etc/{f}")
            assert member is not None
            _put(root, f"/etc/{f}", text=member.read().decode() + line, mode=0o644)
