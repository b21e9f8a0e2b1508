"""The ports of Kafka ordering's backing services, per node, with their in-cluster numbers.

The model allocates one endpoint for each entry, and spec.py counts the local ports from the
same tables, so the count and the allocation cannot drift apart. Imports nothing.
"""

ZOOKEEPER_PORTS = {"client": 2181, "peer": 2888, "election": 3888}
BROKER_PORTS = {"kafka": 9092}
# Prometheus endpoints: ZooKeeper's own provider (its default port) and the JMX exporter agent on
# each broker. Locally they come from the top of the services' block downward, so that adding them
# moved no port an existing network had.
METRICS_PORTS = {"zookeeper": 7000, "kafka": 7071}


def local_ports(zookeeper_nodes: int, brokers: int) -> int:
    """Ports the ensemble and the brokers take locally, in the services' block (spec.local_blocks)."""
    return zookeeper_nodes * len(ZOOKEEPER_PORTS) + brokers * len(BROKER_PORTS)


def metrics_fit(zookeeper_nodes: int, brokers: int, block: int) -> bool:
    """Whether a metrics port for every node fits in a local services block of `block` ports above
    the ensemble's and the brokers' own (taken from its top down)."""
    return local_ports(zookeeper_nodes, brokers) + zookeeper_nodes + brokers <= block
