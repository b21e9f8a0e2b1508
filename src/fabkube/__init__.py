"""fabkube: one YAML spec to a running Hyperledger Fabric network with Kafka ordering."""

__version__ = "0.1.0"
