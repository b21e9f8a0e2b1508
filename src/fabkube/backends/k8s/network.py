"""The Kubernetes target behind the Network interface, over Cluster and the renderer.

Only `up` renders (crypto, configtxgen, manifests); status, logs and down work from the topology
and from the list of objects `up` applied (applied.json in the work dir).
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from fabkube.backends.actions import Action, run
from fabkube.backends.base import (
    ComponentStatus,
    Network,
    NetworkStatus,
    NotApplicable,
    OrgConnection,
    PeerConnection,
    UpOptions,
    UpResult,
)
from fabkube.backends.k8s.cluster import Cluster
from fabkube.backends.k8s.preflight import Finding, blockers, check
from fabkube.backends.k8s.render import Rendered, render
from fabkube.backends.k8s.watch import K8sWatch, newest
from fabkube.consensus.k8s import K8sOrdering, k8s_part
from fabkube.errors import RuntimeFailure, UserError
from fabkube.generate import Existing, network_toolchain
from fabkube.layout import Layout, purge_workdir
from fabkube.migration.host import OrdererReach
from fabkube.reconcile.plan import Plan
from fabkube.reporter import Reporter, SilentReporter
from fabkube.spec import LoadedSpec
from fabkube.toolchain import Toolchain
from fabkube.topology import Endpoint, Topology, build_topology

POD_NAME = "statefulset.kubernetes.io/pod-name"  # the label a StatefulSet's controller gives each pod


@dataclass(frozen=True)
class Placed:
    name: str
    kind: str
    namespace: str
    selector: str  # label selector of its pod: key=value[,key=value]


@dataclass
class UpContext:
    """What the actions of one Kubernetes `up` share."""

    net: K8sNetwork
    report: Reporter
    options: UpOptions
    objects: list[dict] = field(default_factory=list)
    applied: int = 0
    changed: int = 0
    job: str = "not run"
    plan: Plan = field(default_factory=Plan)


class K8sNetwork(Network):
    target = "k8s"

    def __init__(
        self,
        loaded: LoadedSpec,
        workdir: Path,
        context: str | None = None,
        kubeconfig: Path | None = None,
        tools: Toolchain | None = None,
    ):
        super().__init__(loaded, workdir)
        self.context, self.kubeconfig = context, kubeconfig
        self.tools = tools
        self._cluster: Cluster | None = None
        self._rendered: Rendered | None = None

    @property
    def target_file(self) -> Path:
        return self.workdir / "target.json"

    def remember(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.target_file.write_text(
            json.dumps(
                {
                    "target": "k8s",
                    "context": self.context,
                    "kubeconfig": str(self.kubeconfig) if self.kubeconfig else None,
                }
            )
        )

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            self._cluster = Cluster(self.context, self.kubeconfig)
        return self._cluster

    def rendered(self) -> Rendered:
        if self._rendered is None:
            self._rendered = render(self.loaded, self.workdir, self.tools, existing=self.existing())
        return self._rendered

    @functools.cached_property
    def layout(self) -> Layout:
        return Layout(self.workdir, self.topo)

    @functools.cached_property
    def topo(self) -> Topology:
        return build_topology(self.loaded.spec, "k8s")

    @property
    def applied_file(self) -> Path:
        return self.workdir / "applied.json"

    def was_up(self) -> bool:
        return self.applied_file.is_file()

    def existing(self) -> Existing:
        """Once objects were applied, the channels of the spec applied then exist (the Jobs made
        them from the artifacts of that time) and the orderers bootstrapped."""
        from fabkube.spec import load_spec

        recorded = self.recorded_spec()
        if recorded is None or not self.was_up():
            return Existing()
        return Existing(frozenset(c.name for c in load_spec(recorded).spec.channels), True)

    def preflight(self) -> list[Finding]:
        snapshot = self.cluster.snapshot()  # a bad kubeconfig or unreachable cluster fails before anything is written
        objects = self.rendered().objects()
        if any(o["kind"] == "PodMonitor" for o in objects):
            snapshot.podmonitor_api = self.cluster.serves_podmonitors()
        return check(objects, snapshot, self.loaded.spec.kubernetes.storageClass, self.loaded.spec.name)

    def actions(self) -> list[Action[UpContext]]:
        return [
            Action("render manifests", _render),
            Action(f"preflight against {self.cluster.host}", _preflight),
            Action("server-side apply (field manager fabkube)", _apply),
            Action("wait for rollouts", _wait_rollouts),
            Action(
                "consenters: new orderers join running channels",
                _grow_consenters,
                lambda c: c.options.lifecycle and any(ch.kind == "orderer" for ch in c.plan.changes),
            ),
            Action(
                "organizations: new orgs into running channels",
                _add_orgs,
                lambda c: c.options.lifecycle and bool(c.plan.org_additions() or c.plan.new_orgs()),
            ),
            Action(
                "lifecycle Jobs, one per org (create, join, anchors, chaincode, smoke query)",
                _lifecycle_job,
                lambda ctx: ctx.options.lifecycle,
            ),
        ]

    def up(self, report: Reporter | None = None, options: UpOptions | None = None) -> UpResult:
        from fabkube.backends.k8s.renewal import MARKER

        if (self.workdir / MARKER).is_file():
            # Its orderers must roll one at a time, each consenter entry updated first: `up` would
            # apply every changed orderer at once and leave the channels without a quorum.
            raise UserError(
                f"a `certs renew` of network {self.name} did not finish: run `fabkube certs renew --network "
                f"{self.name}` to finish it, then `up`"
            )
        ctx = UpContext(self, report or SilentReporter(), options or UpOptions())
        ctx.plan = self.check_plan(ctx.report)
        self.cluster.version()  # bad kubeconfig or unreachable cluster: fail before anything is written
        run(self.actions(), ctx, ctx.report)
        if ctx.options.lifecycle and ctx.job.startswith("succeeded"):
            self.record_applied()
        summary = (
            f"network {self.name} applied to {self.cluster.host}: "
            f"{ctx.applied} objects, {ctx.changed} changed; lifecycle Job {ctx.job}"
        )
        return UpResult(summary, details={"applied": ctx.applied, "changed": ctx.changed, "job": ctx.job})

    def applicable(self, objects: list[dict], report: Reporter) -> list[dict]:
        """`objects` without the Namespaces that exist and are not this network's (kafkaNamespace may
        name a shared one): those are used as they are, never labelled (their other pods keep their
        Pod Security level) nor deleted."""
        names = [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"]
        own = set(self.cluster.own_namespaces(names, self.name))
        for name in sorted(set(names) - own):
            report.info(f"namespace {name} exists and is not this network's: used as it is, never deleted")
        return [o for o in objects if o["kind"] != "Namespace" or o["metadata"]["name"] in own]

    def _record_applied(self, objects: list[dict]) -> None:
        """Remember every object (kind, name, namespace) so `down` needs no second render."""
        known = json.loads(self.applied_file.read_text()) if self.applied_file.is_file() else []
        refs = [
            {"apiVersion": o["apiVersion"], "kind": o["kind"], "metadata": _ref_meta(o["metadata"])} for o in objects
        ]
        merged = {(r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"]): r for r in known + refs}
        self.applied_file.write_text(json.dumps(list(merged.values()), indent=1))

    def _follow_job(self, job: dict, timeout: float, report: Reporter) -> str:
        """Wait for the Job, streaming its pod's new log lines as they appear (when a kubelet serves them)."""
        deadline = time.monotonic() + timeout
        ns = job["metadata"]["namespace"]
        shown = 0
        state = self.cluster.job_state(job)
        while True:
            shown = self._stream_job_log(ns, shown, report)
            if state not in ("pending", "running", "missing") or time.monotonic() >= deadline:
                break
            if not shown:
                report.info(f"lifecycle Job is {state}")
            time.sleep(2)
            state = self.cluster.job_state(job)
        if state == "failed":
            raise RuntimeFailure(f"the lifecycle Job in {ns} failed:{self._job_log_tail(ns)}")
        if state != "succeeded":
            return f"still {state} after {int(timeout)}s: follow it with `fabkube logs {self._lifecycle_name(ns)}`"
        return "succeeded" + self._job_log_tail(ns, 1)

    def _stream_job_log(self, ns: str, shown: int, report: Reporter) -> int:
        """Print the log lines of the newest Job pod past the first `shown`; returns the new count."""
        pods = self.cluster.pods(ns, "app.kubernetes.io/name=lifecycle")
        if not pods:
            return shown
        try:
            lines = self.cluster.pod_log(ns, pods[-1]["metadata"]["name"]).splitlines()
        except RuntimeFailure:
            return shown  # no kubelet serving logs (yet)
        for line in lines[shown:]:
            report.info(line)
        return max(shown, len(lines))

    def _job_log_tail(self, ns: str, lines: int = 5) -> str:
        pods = self.cluster.pods(ns, "app.kubernetes.io/name=lifecycle")
        if not pods:
            return ""
        log = self.cluster.pod_log(ns, pods[-1]["metadata"]["name"], tail=lines)
        return "".join(f"\n  {line}" for line in log.splitlines())

    # ------------------------------------------------------------ day to day
    def placed(self) -> list[Placed]:
        """Every long-running component: its name as the verbs say it (as locally: kafka-0,
        orderer0, peer0.org1, chaincode-mycc; a chaincode's server in a later org of its channel
        chaincode-mycc.org2), its kind, namespace and pod selector."""
        topo = self.topo
        part = k8s_part(topo.ordering.type)
        out = [Placed(s.name, s.kind, s.namespace, part.pod_selector(s)) for s in topo.ordering.services]
        for kind, nodes in (("orderer", topo.orderers), ("peer", topo.peers)):
            out += [Placed(n.name, kind, n.namespace, f"{POD_NAME}={n.hostname}-0") for n in nodes]
        for cc in topo.chaincodes:
            for i, org in enumerate(cc.orgs):
                name = f"chaincode-{cc.name}" + (f".{org.name.lower()}" if i else "")
                out.append(Placed(name, "chaincode", org.namespace, f"app.kubernetes.io/name=cc-{cc.name}"))
        return out

    def pod_of(self, name: str) -> tuple[str, str]:
        """Component name (as `placed` names them, or lifecycle[-org]) -> (namespace, pod selector)."""
        topo = self.topo
        placed = self.placed()
        for p in placed:
            if p.name == name:
                return p.namespace, p.selector
        for org in [*topo.orgs, *topo.orderer_orgs]:
            if name == self._lifecycle_name(org.namespace):
                return org.namespace, "app.kubernetes.io/name=lifecycle"
        known = [p.name for p in placed] + [self._lifecycle_name(o.namespace) for o in [*topo.orgs, *topo.orderer_orgs]]
        raise UserError(f"unknown component {name!r}; known: {', '.join(known)}")

    def _lifecycle_name(self, namespace: str) -> str:
        """`lifecycle` for the first org's Job (the one that creates channels and commits), else
        lifecycle-<org> (lowercase)."""
        topo = self.topo
        if namespace == topo.orgs[0].namespace:
            return "lifecycle"
        org = next(o for o in [*topo.orgs, *topo.orderer_orgs] if o.namespace == namespace)
        return f"lifecycle-{org.name.lower()}"

    def _pod_name(self, name: str) -> tuple[str, str]:
        ns, selector = self.pod_of(name)
        pod = newest(self.cluster.pods(ns, selector))
        if pod is None:
            raise RuntimeFailure(f"{name} has no pod in namespace {ns} yet")
        return ns, pod["metadata"]["name"]

    @contextmanager
    def orderer_reach(self) -> Iterator[list[OrdererReach]]:
        """Every orderer's client, admin and operations ports, port-forwarded to this machine."""
        from fabkube.backends.k8s.portforward import port_forward

        with contextlib.ExitStack() as stack:
            out = []
            for node in self.topo.orderers:
                ns, pod = self._pod_name(node.name)
                address, admin, ops = (
                    stack.enter_context(port_forward(self.cluster.core, ns, pod, port))
                    for port in (node.address.port, node.admin.port, node.operations.port)
                )
                out.append(OrdererReach(node.name, Endpoint.parse(address), Endpoint.parse(admin), Endpoint.parse(ops)))
            yield out

    def _renew_certificates(self, within, report: Reporter):
        from fabkube.backends.k8s.renewal import renew_k8s

        return renew_k8s(self, within, report)

    def logs(self, name: str, lines: int = 50) -> str:
        ns, pod = self._pod_name(name)
        return self.cluster.pod_log(ns, pod, tail=lines)

    def follow(self, name: str) -> Iterator[str]:
        ns, pod = self._pod_name(name)
        yield from self.cluster.follow_log(ns, pod)

    def namespaces(self) -> list[str]:
        topo = self.topo
        found = {
            *topo.ordering.namespaces,
            *(o.namespace for o in topo.orderer_orgs),
            *(o.namespace for o in topo.orgs),
        }
        return sorted(found)

    def status(self) -> NetworkStatus:
        rows = []
        for ns in self.namespaces():
            for pod in self.cluster.pods(ns, f"app.kubernetes.io/part-of={self.loaded.spec.name}"):
                labels = pod["metadata"].get("labels", {})
                statuses = pod.get("status", {}).get("containerStatuses") or []
                ready = bool(statuses) and all(c.get("ready") for c in statuses)
                phase = pod.get("status", {}).get("phase", "Unknown")
                kind = labels.get("app.kubernetes.io/component", "")
                rows.append(
                    ComponentStatus(
                        pod["metadata"]["name"],
                        kind,
                        f"{phase}{' ready' if ready else ''}",
                        pod.get("status", {}).get("podIP") or "",
                        namespace=ns,
                        node=pod.get("spec", {}).get("nodeName") or "-",
                        fabric=_fabric_of(pod, kind),
                    )
                )
        running = {r.name for r in rows if r.state.endswith("ready")}
        status = NetworkStatus(
            self.name, self.target, self.cluster.host, rows, orderers=self._orderer_channels(running)
        )
        status.channels = self._channel_summaries(running)
        return status

    def _channel_summaries(self, running: set[str]) -> dict[str, dict]:
        """Each channel's type and capabilities, read through a port-forward to a ready orderer."""
        from fabkube.backends.k8s.portforward import port_forward

        for node in self.topo.orderers:
            try:
                ns, pod = self._pod_name(node.name)
                if pod not in running:
                    continue
                with port_forward(self.cluster.core, ns, pod, node.address.port) as local:
                    return self.channel_summaries(local)
            except RuntimeFailure:
                continue
        return {}

    def _orderer_channels(self, running: set[str]) -> dict[str, dict[str, dict]]:
        """Each ready orderer's word on each channel, through port-forwards to its admin and
        operations ports (where its ordering type tells anything)."""
        from fabkube.backends.k8s.portforward import port_forward

        part, channels, out = k8s_part(self.topo.ordering.type), [c.name for c in self.topo.channels], {}
        if type(part).orderer_channels is K8sOrdering.orderer_channels:
            return out
        for node in self.topo.orderers:
            try:
                ns, pod = self._pod_name(node.name)
                if pod not in running:
                    continue
                with (
                    port_forward(self.cluster.core, ns, pod, node.admin.port) as admin,
                    port_forward(self.cluster.core, ns, pod, node.operations.port) as ops,
                ):
                    here = replace(node, admin=Endpoint.parse(admin), operations=Endpoint.parse(ops))
                    out[node.name] = part.orderer_channels(self.layout, here, channels)
            except RuntimeFailure:  # no pod, or it went away since it was listed: it says nothing now
                continue
        return out

    def down(self, purge: bool = False, report: Reporter | None = None) -> None:
        report = report or SilentReporter()
        objects = self._applied_objects()
        with report.step("delete what fabkube applied" + (" and the PVCs and namespaces" if purge else "")) as s:
            removed = self.cluster.delete(objects, self.loaded.spec.name, purge)
            s.detail = f"{len(removed)} objects"
        if purge:
            with report.step(f"remove {self.workdir}"):
                left = purge_workdir(self.workdir)
                if left:
                    report.info(f"kept {', '.join(left[:5])} in {self.workdir}: not fabkube's")

    def _applied_objects(self) -> list[dict]:
        if self.applied_file.is_file():
            return json.loads(self.applied_file.read_text())
        return self.rendered().objects()  # a work dir from before applied.json was kept

    def stop_components(self, names: list[str]) -> None:
        raise NotApplicable(
            "stop: on Kubernetes the controllers restart what stops; to see the network tolerate a loss, "
            "delete a pod (kubectl delete pod -n NAMESPACE POD) and it comes back"
        )

    def start_components(self, names: list[str]) -> None:
        raise NotApplicable("start: on Kubernetes the controllers keep every component running; nothing to start")

    def connection(self, org: str) -> OrgConnection:
        """In-cluster addresses; `fabkube invoke`/`query` reach them through a port-forward."""
        o = self.topo.org(org)
        tls = self.layout.tls_ca(o) if self.topo.spec.tls else None
        peers = [PeerConnection(p.name, str(p.address), tls, p.address.host) for p in self.topo.org_peers(o)]
        return OrgConnection(o.name, o.msp_id, self.layout.admin_msp(o), peers)

    def watch(self) -> K8sWatch:
        return K8sWatch(self)

    def resource_monitor(self, here: dict[str, int]):
        """The pods' CPU and working set from the kubelets' resource metrics, and `here` from /proc."""
        from fabkube.backends.k8s.metrics import PodMetricsMonitor
        from fabkube.bench.monitor import Monitors, ResourceMonitor

        return Monitors(PodMetricsMonitor(self.cluster.core, set(self.namespaces())), ResourceMonitor(here))

    @contextmanager
    def dial(self, peer: PeerConnection) -> Iterator[str]:
        """A port-forward to the peer's pod, for the Gateway client on this machine."""
        from fabkube.backends.k8s.portforward import port_forward

        ns, pod = self._pod_name(peer.name)
        port = self.peer_node(peer.name).address.port
        with port_forward(self.cluster.core, ns, pod, port) as address:
            yield address


def _ref_meta(meta: dict) -> dict:
    return {k: meta[k] for k in ("name", "namespace") if k in meta}


# ---------------------------------------------------------------- the actions of `up`
def _render(ctx: UpContext) -> str:
    ctx.objects = ctx.net.rendered().objects()
    return f"{len(ctx.objects)} objects"


def _preflight(ctx: UpContext) -> str:
    findings = ctx.net.preflight()
    for f in findings:
        if f.level != "ok":
            ctx.report.info(str(f))
    if blockers(findings):
        raise UserError([str(f) for f in blockers(findings)])
    ctx.net.remember()
    return f"{len(findings)} checks passed"


def _apply(ctx: UpContext) -> str:
    ctx.objects = ctx.net.applicable(ctx.objects, ctx.report)
    if not ctx.net.topo.spec.kubernetes.networkPolicies:
        for gone in ctx.net.cluster.delete_network_policies(ctx.net.namespaces(), ctx.net.name):
            ctx.report.info(f"removed {gone} (kubernetes.networkPolicies is off)")
    if ctx.net.topo.spec.kubernetes.monitoring == "none" and ctx.net.was_up():
        for gone in ctx.net.cluster.delete_monitoring(ctx.net.namespaces(), ctx.net.name):
            ctx.report.info(f"removed {gone} (kubernetes.monitoring is none)")
    objects = [o for o in ctx.objects if o["kind"] != "Job"]
    ctx.net._record_applied(ctx.objects)  # first, so an interrupted apply can still be taken down
    applied = ctx.net.cluster.apply(objects)
    ctx.applied, ctx.changed = len(applied), sum(a.changed for a in applied)
    return f"{ctx.applied} objects, {ctx.changed} changed"


def _wait_rollouts(ctx: UpContext) -> str:
    ctx.net.cluster.wait_rollout(ctx.objects, ctx.options.rollout_timeout, ctx.report.info)
    return f"{sum(o['kind'] in ('StatefulSet', 'Deployment') for o in ctx.objects)} workloads ready"


def _grow_consenters(ctx: UpContext) -> str:
    """Orderers the spec added join each running channel as consenters, one at a time, as locally
    (Membership.grow: a config update naming it, then it joins from the newest config block and
    replicates), with every orderer reached through a port-forward to its pod. Before the Jobs: an
    org's Job then finds its new orderer on each channel already."""
    import subprocess

    from fabkube.channel.config import orderer_admin_configs
    from fabkube.consensus.raft.membership import Membership
    from fabkube.ops.commands import AdminTarget, OsnChannelJoin

    net = ctx.net
    if net.topo.ordering.system_channel:
        return "a type with a system channel does not grow by orderers"
    tools = (net.tools or network_toolchain(net.loaded.spec)).ensure(ctx.report.info)
    layout, log = net.layout, net.workdir / "logs" / "members.log"
    running = net.existing().channels
    added = []
    with net.orderer_reach() as reach:
        by_name = {r.name: r for r in reach}

        def join(node, channel: str, block: Path) -> None:
            tls = layout.admin_tls(node.org)
            target = AdminTarget(
                str(by_name[node.name].admin),
                str(layout.tls_ca(node.org)),
                str(tls / "client.crt"),
                str(tls / "client.key"),
            )
            argv = [str(tools.bin("osnadmin")), *OsnChannelJoin(channel, str(block), target).args()]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            output = proc.stdout + proc.stderr
            with log.open("a") as fh:
                fh.write(f"$ osnadmin {' '.join(argv[1:])}\n{output}\n")
            # osnadmin answers HTTP errors with exit status 0; 405: it has the channel already.
            if "Status: 201" not in output and "Status: 405" not in output:
                raise RuntimeFailure(f"{node.name} could not join {channel}: {output.strip()[-300:]}", log)

        members = Membership(
            layout,
            orderer_admin_configs(layout, tools, log),
            join,
            ctx.report.info,
            reach=lambda node: (str(by_name[node.name].address), by_name[node.name].admin),
            operations=lambda node: by_name[node.name].operations,
        )
        for ch in net.topo.channels:
            if ch.name in running:
                added += [f"{name} on {ch.name}" for name in members.grow(ch.name)]
    return ", ".join(added) or "every orderer is a consenter already"


def _add_orgs(ctx: UpContext) -> str:
    """Orgs the spec added go into the consortium (system channel) and into each running channel's
    config, signed here with the work dir's admin keys and sent through a port-forward to an
    orderer; the new orgs' Jobs then join, install and approve."""
    from fabkube.backends.k8s.portforward import port_forward
    from fabkube.reconcile.members import Members

    net = ctx.net
    tools = (net.tools or network_toolchain(net.loaded.spec)).ensure(ctx.report.info)
    members = Members(net.layout, tools, net.workdir / "logs" / "members.log", ctx.report.info)
    node = net.topo.orderers[0]
    ns, pod = net._pod_name(node.name)
    done = []
    with port_forward(net.cluster.core, ns, pod, node.address.port) as orderer:
        if net.topo.ordering.system_channel and ctx.plan.new_orgs():
            done += [f"{o} to the consortium" for o in members.add_to_consortium(orderer)]
        running = net.existing().channels
        # Only what the plan adds: which channels exist is known here from the spec files alone (a
        # Job that never finished may not have made them), unlike locally.
        check = set(ctx.plan.org_additions())
        for ch in net.topo.channels:
            if ch.name in running and ch.name in check:
                done += [f"{o} to {ch.name}" for o in members.add_to_channel(ch, orderer)]
    return ", ".join(done) or "every org is in its channels already"


def _lifecycle_job(ctx: UpContext) -> str:
    """Every org's lifecycle Job at once (they wait on each other's steps), then followed one by one:
    the orderer org's, then the peer orgs' in the spec's order."""
    jobs = [o for o in ctx.objects if o["kind"] == "Job"]
    job_applied = ctx.net.cluster.apply(jobs, ("Job",))
    ctx.applied += len(job_applied)
    ctx.changed += sum(a.changed for a in job_applied)
    deadline = time.monotonic() + ctx.options.job_timeout
    states = []
    for job in jobs:
        ns = job["metadata"]["namespace"]
        if len(jobs) > 1:
            ctx.report.info(f"-- lifecycle Job of {ns}")
        states.append(ctx.net._follow_job(job, max(1.0, deadline - time.monotonic()), ctx.report))
    by_ns = {j["metadata"]["namespace"]: state for j, state in zip(jobs, states, strict=True)}
    if len(states) == 1:
        ctx.job = states[0]
    elif all(state.startswith("succeeded") for state in states):
        ctx.job = by_ns.get(ctx.net.topo.orgs[0].namespace, states[-1])  # its tail: the smoke query
    else:
        ctx.job = "; ".join(f"{ns}: {state}" for ns, state in by_ns.items())
    return ctx.job


def _fabric_of(pod: dict, kind: str) -> str:
    """An orderer's or peer's Fabric version, as the tag of the image its container runs."""
    if kind not in ("orderer", "peer"):
        return ""
    for c in pod.get("spec", {}).get("containers", []):
        image = c.get("image", "")
        if f"fabric-{kind}:" in image:
            return image.rsplit(":", 1)[1]
    return ""
