"""Pinned versions of everything the toolchain builds or downloads.

Fabric is built from the Go module proxy. Its module path has no /v2, so a 2.x commit is
addressed by a pseudo-version whose base is the last v1 tag that is its ancestor.
ARCHITECTURE.md asked for 2.5.16 (commit f871cf92); the module proxy reachable from our
machines refuses every pseudo-version of the release-2.5 line after 2.5.9 (HTTP 403 "This
module version is not available"), so 2.5.9 is the newest 2.5 LTS we can really build.
It still has the Kafka consenter and the system channel.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FabricVersion:
    version: str
    commit: str
    module_version: str  # what the Go module proxy serves for that commit
    unavailable: str | None = None
    go: tuple[int, int] = (1, 22)  # the oldest Go its go.mod allows

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


FABRIC_VERSIONS: dict[str, FabricVersion] = {
    "2.5.9": FabricVersion(
        "2.5.9",
        "7c3876255bf064b789a839ce347b6a02adb6333c",
        "v1.4.0-rc1.0.20240618194258-7c3876255bf0",
    ),
    "2.5.16": FabricVersion(
        "2.5.16",
        "f871cf92a026aba7b12e6f06d71ded3e6e659d71",
        "v1.4.0-rc1.0.20260617221605-f871cf92a026",
        unavailable="the Go module proxy refuses this commit (403, not available)",
    ),
    # Fabric 3: no Kafka, no system channel, BFT (SmartBFT) ordering; V3_0 channel capability.
    # The proxy serves 3.1.1 and 3.1.0 (3.0.0 and 3.1.2-3.1.5 answer 403); 3.1.1 is the newest.
    "3.1.1": FabricVersion(
        "3.1.1",
        "435a7f1a780a",  # the 12 hex digits the pseudo-version pins
        "v1.4.0-rc1.0.20250510200036-435a7f1a780a",
        go=(1, 24),
    ),
}
DEFAULT_FABRIC_VERSION = "2.5.9"

FABRIC_MODULE = "github.com/hyperledger/fabric"
FABRIC_COMMANDS = ("peer", "orderer", "configtxgen", "configtxlator", "cryptogen", "osnadmin")

# Kafka 3.9 is the last line with ZooKeeper mode; 4.x is KRaft-only and dropped protocol
# versions that the orderer's sarama client speaks.
KAFKA_VERSION = "3.9.1"
ZOOKEEPER_VERSION = "3.8.4"  # what kafka_2.13:3.9.1 depends on
SCALA_VERSION = "2.13"
# Metrics of the Kafka services (Maven Central): ZooKeeper's Prometheus provider is not in Kafka's
# dependencies, and 3.8.3 is the newest 3.8 Maven serves (3.8.4's is absent); the JMX exporter agent
# for the brokers (1.0.1 is the newest served).
ZOOKEEPER_METRICS_VERSION = "3.8.3"
JETTY_VERSION = "9.4.53.v20231009"  # what ZooKeeper 3.8.4's parent pom names (provided scope there)
JMX_EXPORTER_VERSION = "1.0.1"
JMX_EXPORTER_JAR = f"jmx_prometheus_javaagent-{JMX_EXPORTER_VERSION}.jar"
