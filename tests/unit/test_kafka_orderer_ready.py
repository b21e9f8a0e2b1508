"""When a local Kafka network's orderer is ready: every channel's Kafka chain started in this run,
or (a migration to Raft interrupted after its switch, before it recorded Raft) the switched
channels are led as etcdraft chains. Real log lines of Fabric 2.5.9's orderer."""

import socket

from fabkube.consensus.kafka.local import KAFKA_LOCAL
from fabkube.consensus.kafka.probes import kafka_chain_started_line
from fabkube.nodes import Endpoint, OrdererNode

LED = "2026-12-01 06:15:04.680 UTC 0088 INFO [orderer.consensus.etcdraft] run -> Raft leader changed: 0 -> {n} channel={ch} node=1\n"  # noqa: E501
STARTED_RAFT = "INFO [orderer.consensus.etcdraft] Start -> Consensus-type migration detected, starting new raft node on an existing channel; height=7 channel={ch} node=1\n"  # noqa: E501


def test_a_switched_orderer_is_ready_once_each_channel_is_led(tmp_path):
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        node = OrdererNode.__new__(OrdererNode)
        node.address = Endpoint("127.0.0.1", listening.getsockname()[1])
        log = tmp_path / "orderer0.log"
        old_run = kafka_chain_started_line("system-channel") + kafka_chain_started_line("mychannel")
        channels = ["system-channel", "mychannel"]

        def ready(text: str) -> bool:
            log.write_text(old_run + text)
            return KAFKA_LOCAL.orderer_ready(node, log, len(old_run), channels, None)

        assert not ready("")  # the previous run's lines do not count
        assert ready(kafka_chain_started_line("system-channel") + kafka_chain_started_line("mychannel"))
        switched = STARTED_RAFT.format(ch="system-channel") + STARTED_RAFT.format(ch="mychannel")
        assert not ready(switched)  # started as etcdraft, no leader yet
        assert not ready(switched + LED.format(n=1, ch="system-channel"))
        assert ready(switched + LED.format(n=1, ch="system-channel") + LED.format(n=3, ch="mychannel"))
        assert not ready(switched + LED.format(n=0, ch="system-channel") + LED.format(n=3, ch="mychannel"))
    assert not ready(switched + LED.format(n=1, ch="system-channel") + LED.format(n=3, ch="mychannel"))  # port closed
