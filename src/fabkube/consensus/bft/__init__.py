"""BFT (SmartBFT) ordering, Fabric 3: the orderers agree among themselves and tolerate f faulty
(even malicious) ones out of 3f+1; no backing services and no system channel. Each channel's
genesis block (channel capability V3_0, a ConsenterMapping of every orderer's ID, host, port,
enrollment and TLS certificates) is made by configtxgen and joined by every orderer through the
channel participation API, as for Raft.

model.py is the model; local.py and k8s.py the deployments.
"""
