"""Kafka ordering: a ZooKeeper ensemble and Kafka brokers behind the orderers, with the system channel.

model.py (nodes, broker TLS pair, configtx, orderer settings) and ports.py are the model;
settings.py the broker and ZooKeeper settings both deployments share; probes.py their readiness;
local.py and k8s.py the deployments.
"""
