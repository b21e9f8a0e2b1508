"""Typed peer commands: each builds its flags in one place, the same for the executor and the Job script."""

from fabkube.ops import commands as cmds

TLS = cmds.OrdererFlags("orderer0:7050", "/ca.pem")
PLAIN = cmds.OrdererFlags("orderer0:7050")


def test_orderer_flags_add_tls_only_with_a_ca():
    assert TLS.args() == ["-o", "orderer0:7050", "--tls", "--cafile", "/ca.pem"]
    assert PLAIN.args() == ["-o", "orderer0:7050"]


def test_invoke_lists_every_endorser_and_waits_by_default():
    peers = (cmds.PeerTarget("p0:7051", "/org1.pem"), cmds.PeerTarget("p1:7051"))
    argv = cmds.ChaincodeInvoke("ch", "cc", ("move", "a", "b", "1"), TLS, peers, is_init=True).args()
    assert argv[:2] == ["chaincode", "invoke"] and argv[-1] == "--waitForEvent"
    assert argv[argv.index("-c") + 1] == '{"Args": ["move", "a", "b", "1"]}'
    assert "--isInit" in argv
    assert argv.count("--peerAddresses") == 2 and argv.count("--tlsRootCertFiles") == 1
    no_wait = cmds.ChaincodeInvoke("ch", "cc", ("f",), PLAIN, wait=False).args()
    assert "--waitForEvent" not in no_wait and "--tls" not in no_wait


def test_definition_flags_for_approve_and_commit():
    d = cmds.Definition("ch", "cc", "1.0", 2, init_required=True, signature_policy="AND('A.peer','B.peer')")
    approve = cmds.ChaincodeApprove(d, "cc_1.0:abc", TLS).args()
    assert approve[approve.index("--sequence") + 1] == "2" and "--init-required" in approve
    assert approve[approve.index("--package-id") + 1] == "cc_1.0:abc"
    assert approve[approve.index("--signature-policy") + 1] == "AND('A.peer','B.peer')"
    commit = cmds.ChaincodeCommit(cmds.Definition("ch", "cc", "1.0", 1), PLAIN, (cmds.PeerTarget("p0:7051"),)).args()
    assert "--init-required" not in commit and commit[-2:] == ["--peerAddresses", "p0:7051"]


def test_collections_ride_on_approve_and_commit():
    d = cmds.Definition("ch", "cc", "1.0", 1, collections_config="/a/cc-1-collections.json")
    for cmd in (cmds.ChaincodeApprove(d, "id", PLAIN), cmds.ChaincodeCommit(d, PLAIN, ())):
        argv = cmd.args()
        assert argv[argv.index("--collections-config") + 1] == "/a/cc-1-collections.json"
