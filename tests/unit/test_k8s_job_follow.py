"""Following the lifecycle Job: new log lines stream as they appear; failure shows the log's tail.
(The cluster is faked at its API boundary; the real API server is exercised in tests/e2e/test_k8s_sim.py.)"""

import pytest

from fabkube.backends.k8s.network import K8sNetwork
from fabkube.errors import RuntimeFailure
from fabkube.reporter import Reporter

JOB = {"metadata": {"name": "lifecycle", "namespace": "ns"}}


class FakeCluster:
    def __init__(self, states, logs):
        self.states, self.logs = list(states), list(logs)

    def job_state(self, job):
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def pods(self, ns, selector):
        return [{"metadata": {"name": "lifecycle-abc"}}]

    def pod_log(self, ns, name, tail=None):
        text = self.logs.pop(0) if len(self.logs) > 1 else self.logs[0]
        if text is None:
            raise RuntimeFailure("no log")
        return "\n".join(text.splitlines()[-tail:]) if tail else text


class Collect(Reporter):
    def __init__(self):
        super().__init__()
        self.lines = []

    def info(self, text):
        self.lines.append(text)


def follow(states, logs, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _s: None)
    net = K8sNetwork.__new__(K8sNetwork)
    net._cluster = FakeCluster(states, logs)
    report = Collect()
    return net._follow_job(JOB, 60, report), report.lines


def test_streams_each_line_once(monkeypatch):
    result, lines = follow(
        ["pending", "running", "running", "succeeded"],
        [
            None,
            "== create channel mychannel",
            "== create channel mychannel\n== peer0 joins",
            "== create channel mychannel\n== peer0 joins\n100",
        ],
        monkeypatch,
    )
    assert [x for x in lines if x.startswith("==") or x == "100"] == [
        "== create channel mychannel",
        "== peer0 joins",
        "100",
    ]
    assert result.startswith("succeeded")


def test_failure_shows_the_tail(monkeypatch):
    with pytest.raises(RuntimeFailure, match="the lifecycle Job in ns failed:\n  == install\n  Error: proposal failed"):
        follow(["running", "failed"], ["== install", "== install\nError: proposal failed"], monkeypatch)
