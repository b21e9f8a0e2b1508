"""The ports of Kafka ordering's backing services, per node, with their in-cluster numbers.

The model allocates one endpoint for each entry, and spec.py counts the local ports from the
same tables, so the count and the allocation cannot drift apart. Imports nothing.
"""

ZOOKEEPER_PORTS = {"client": 2181, "peer": 2888, "election": 3888}
BROKER_PORTS = {"kafka": 9092}


def local_ports(zookeeper_nodes: int, brokers: int) -> int:
    """Ports the ensemble and the brokers take locally, in the services' block (spec.local_blocks)."""
    return zookeeper_nodes * len(ZOOKEEPER_PORTS) + brokers * len(BROKER_PORTS)
