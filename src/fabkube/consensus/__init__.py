"""What is specific to an ordering type, split by floor so imports only flow downward.

- model.py: the ordering MODEL, plain data derived from the spec (nodes of the backing services,
  extra TLS pairs, configtx Orderer keys, orderer environment, system channel or channel
  participation, toolchain parts). The topology holds one as `topo.ordering`.
- local.py, k8s.py: how a type is DEPLOYED as local processes and as Kubernetes objects; the
  backends load a type's parts from them, the topology never sees them.
- <type>/: one package per type (kafka/): model.py, local.py, k8s.py and their helpers.

A new type touches its own package and spec.py's `ordering.type` only.
"""
