"""Raft (etcdraft) ordering: the orderers replicate among themselves, no backing services and no
system channel. Each channel's genesis block is made by configtxgen and joined by every orderer
through the channel participation API (osnadmin), the shape Fabric 3 requires.

model.py is the model (consenters, options, orderer settings); local.py and k8s.py the deployments.
"""
