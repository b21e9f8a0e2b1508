"""The fabkube command line: parse, call the library, render. Nothing else lives here."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fabkube.backends import new_network, open_network
from fabkube.backends.base import Network, NetworkStatus, UpOptions
from fabkube.crypto.inventory import certificates, expiring
from fabkube.errors import RuntimeFailure, UserError
from fabkube.layout import default_workdir, fabkube_home
from fabkube.reporter import Reporter, StepHandle
from fabkube.spec import json_schema, load_spec

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="One YAML spec to a running Hyperledger Fabric network with Kafka or Raft ordering, "
    "as local processes (default) or on Kubernetes.",
)
toolchain_app = typer.Typer(no_args_is_help=True, help="The Fabric binaries and Kafka/ZooKeeper jars fabkube uses.")
app.add_typer(toolchain_app, name="toolchain")
# Not a terminal (a file, a pipe, CI): Rich would cut tables to 80 columns ("Thro…"); lines are
# as wide as their content instead. COLUMNS still wins when set.
_WIDE = 10_000


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else _WIDE
    return Console(stderr=stderr, width=width)


out = _console()
err = _console(stderr=True)


class RichReporter(Reporter):
    def __init__(self, console: Console):
        super().__init__()
        self.console = console
        self._status = None

    def started(self, handle: StepHandle) -> None:
        if self.console.is_terminal:
            self._status = self.console.status(handle.title + " ...")
            self._status.start()

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def finished(self, handle: StepHandle) -> None:
        self._stop()
        detail = f" - {handle.detail}" if handle.detail else ""
        self.console.print(f"[green]✓[/] {handle.title}{detail} [dim]({handle.seconds:.1f}s)[/]", highlight=False)

    def failed(self, handle: StepHandle, exc: BaseException) -> None:
        self._stop()
        self.console.print(f"[red]✗[/] {handle.title} [dim]({handle.seconds:.1f}s)[/]", highlight=False)

    def info(self, text: str) -> None:
        if self._status is not None:
            self._status.update(escape(text) + " ...")
        else:
            self.console.print(f"  [dim]{escape(text)}[/]", highlight=False, soft_wrap=True)


def _fail(exc: UserError | RuntimeFailure) -> None:
    for line in str(exc).splitlines():
        err.print(f"[red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _warn(lines: list[str]) -> None:
    for line in lines:
        err.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)


def _load(spec: Path):
    loaded = load_spec(spec)
    _warn(loaded.warnings)
    return loaded


def _network_dir(network: str | None, workdir: Path | None) -> Path:
    if workdir:
        if not (workdir / "spec.yaml").is_file():
            raise UserError(f"--workdir {workdir}: no fabkube network there (no spec.yaml)")
        return workdir
    if network:
        path = default_workdir(network)
        if not (path / "spec.yaml").is_file():
            raise UserError(f"--network {network}: no such network under {fabkube_home() / 'networks'}")
        return path
    # A network is a work dir something was brought up from (render/preflight alone leave only artifacts).
    found = sorted(
        p.parent
        for p in (fabkube_home() / "networks").glob("*/spec.yaml")
        if (p.parent / "state.json").exists() or (p.parent / "target.json").exists()
    )
    if not found:
        raise UserError("no network found: run `fabkube up SPEC` first, or pass --workdir")
    if len(found) > 1:
        raise UserError("several networks (" + ", ".join(p.name for p in found) + "): pass --network NAME")
    return found[0]


def _open_network(network: str | None, workdir: Path | None) -> Network:
    return open_network(_network_dir(network, workdir))


class Target(StrEnum):
    local = "local"
    k8s = "k8s"


NETWORK_OPT = typer.Option(None, "--network", "-N", help="Network name (its work dir under $FABKUBE_HOME).")
WORKDIR_OPT = typer.Option(None, "--workdir", "-w", help="The network's work dir.")


def _guard(func):
    """Map library errors to exit codes: 2 for bad input, 1 for runtime failures."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (UserError, RuntimeFailure) as exc:
            _fail(exc)
        except KeyboardInterrupt:
            err.print("[red]interrupted[/]: components started by this run were stopped")
            raise typer.Exit(130) from None

    return wrapper


@app.command()
@_guard
def schema() -> None:
    """Print the JSON Schema of the spec (for editor completion)."""
    out.print_json(json.dumps(json_schema()))


@app.command()
@_guard
def validate(spec: Path = typer.Argument(..., help="The network spec (YAML).")) -> None:
    """Check a spec; print warnings; exit 2 on errors."""
    loaded = _load(spec)
    out.print(f"{spec}: valid ({loaded.spec.name})")


@app.command()
@_guard
def generate(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    target: Target = typer.Option(Target.local, "--target", "-t", help="Where the network will run."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Directory to write artifacts into."),
) -> None:
    """Write crypto material, configtx.yaml, the genesis block and channel transactions."""
    from fabkube.generate import generate as do_generate

    loaded = _load(spec)
    reporter = RichReporter(err)
    with reporter.step(f"generate {loaded.spec.name} for {target.value}") as s:
        # Into the work dir of a network that runs: what its channels started from stays.
        existing = new_network(loaded, target.value, out_dir.resolve()).existing() if out_dir.is_dir() else None
        gen = do_generate(loaded, target.value, out_dir, progress=reporter.info, existing=existing)
        s.detail = f"{len(gen.files)} channel artifacts, {gen.new_identities} new identities"
    for f in gen.files:
        out.print(str(f))


TARGET_OPT = typer.Option(Target.local, "--target", "-t", help="local processes, or a Kubernetes cluster.")
SPEC_WORKDIR_OPT = typer.Option(
    None, "--workdir", "-w", help="Work dir (default $FABKUBE_HOME/networks/NAME, NAME-k8s for k8s)."
)


def _spec_workdir(loaded, target: Target, workdir: Path | None) -> Path:
    """The work dir of a spec's network on a target: given, or NAME (local) / NAME-k8s under $FABKUBE_HOME."""
    name = loaded.spec.name if target is Target.local else f"{loaded.spec.name}-k8s"
    return (workdir or default_workdir(name)).resolve()


@app.command()
@_guard
def up(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    target: Target = TARGET_OPT,
    workdir: Path | None = SPEC_WORKDIR_OPT,
    context: str | None = typer.Option(None, "--context", help="kubeconfig context (k8s)."),
    kubeconfig: Path | None = typer.Option(None, "--kubeconfig", help="kubeconfig file (k8s; default KUBECONFIG)."),
    rollout_timeout: float = typer.Option(600, "--rollout-timeout", help="Seconds to wait for pods (k8s)."),
    job_timeout: float = typer.Option(600, "--job-timeout", help="Seconds to follow the lifecycle Jobs (k8s)."),
    no_lifecycle: bool = typer.Option(
        False, "--no-lifecycle", help="Start the components only; no channel or chaincode steps."
    ),
) -> None:
    """Bring the network up and run the channel and chaincode lifecycle; idempotent and resumable."""
    loaded = _load(spec)
    path = _spec_workdir(loaded, target, workdir)
    net = new_network(
        loaded, target.value, path, spec_dir=spec.resolve().parent, context=context, kubeconfig=kubeconfig
    )
    start = time.monotonic()
    options = UpOptions(not no_lifecycle, rollout_timeout, job_timeout)
    result = net.up(RichReporter(err), options)
    for cc, value in result.smoke.items():
        out.print(f"{cc}: value is {value}")
    err.print(f"{result.summary} in {time.monotonic() - start:.1f}s", highlight=False, soft_wrap=True)


@app.command()
@_guard
def plan(
    spec: Path = typer.Argument(..., help="The network spec (YAML), changed."),
    target: Target = TARGET_OPT,
    workdir: Path | None = SPEC_WORKDIR_OPT,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """What `up SPEC` would change on the running network, without changing anything.

    Exit code 2 when `up` would refuse the change (removals, another ordering type: `migrate`)."""
    loaded = _load(spec)
    path = _spec_workdir(loaded, target, workdir)
    changes = new_network(loaded, target.value, path, spec_dir=spec.resolve().parent).plan()
    if as_json:
        out.print_json(data=changes.as_dict())
    else:
        for line in changes.lines():
            out.print(line, highlight=False, soft_wrap=True)
    if changes.refusals:
        raise UserError(changes.refusals)


@app.command()
@_guard
def down(
    purge: bool = typer.Option(False, "--purge", help="Also delete the work dir (ledgers, crypto, logs)."),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Stop every component in reverse order; keep the data unless --purge."""
    _open_network(network, workdir).down(purge=purge, report=RichReporter(err))


@app.command()
@_guard
def status(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Each component with its state, where it runs and its address; each peer's ledger height per
    channel; a warning for each certificate that ends within 30 days."""
    net = _open_network(network, workdir)
    st = net.status()
    soon = expiring(certificates(net.layout), EXPIRY_WARNING)
    if as_json:
        print(json.dumps({**st.as_dict(), "certificates_expiring": [c.as_dict() for c in soon]}, indent=2))
        return
    _print_status(st)
    _warn_expiring(soon)


@app.command()
@_guard
def top(
    interval: float = typer.Option(2.0, "--interval", "-i", min=0.5, max=60, help="Seconds between refreshes."),
    once: bool = typer.Option(
        False,
        "--once",
        help="Print one view and exit: rates over one interval; on Kubernetes over up to 45 s, while it "
        "waits for the kubelets' CPU figures.",
    ),
    svg: Path | None = typer.Option(None, "--svg", help="With --once: also save the view as an SVG picture."),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Live figures in the terminal: per channel the height, transactions committed per second and
    blocks per second; per component its state (red with the reason when not running), CPU and
    memory, and each node's heights. Local networks (processes) and Kubernetes (pods: the kubelets'
    resource metrics, port-forwards to the operations endpoints)."""
    from fabkube.monitoring.live import LiveSampler

    if svg is not None and not once:
        raise UserError("--svg: only with --once (it saves one view)")
    net = _open_network(network, workdir)
    sampler = LiveSampler(net)
    try:
        _top(net, sampler, interval, once, svg)
    finally:
        sampler.close()


def _top(net, sampler, interval: float, once: bool, svg: Path | None) -> None:
    import time

    from rich.live import Live

    from fabkube.monitoring.live import view
    from fabkube.monitoring.screen import render

    before = sampler.sample()
    if once:
        # The first look may miss what is still opening (a port-forward): rates need a counter in
        # both samples, so the first complete sample is where they start. Where CPU figures come
        # later (a kubelet refreshes them every 10-30 s), wait for them a bounded while; not when
        # two looks in a row could not read them alike (no nodes/proxy right): none will come.
        started, unread = time.monotonic(), before.usage_errors
        while True:
            time.sleep(interval)
            now = sampler.sample()
            in_time = time.monotonic() - started < sampler.watch.settle_seconds
            if before.errors and not now.errors and in_time:
                before, unread = now, now.usage_errors
                continue
            shown_view = view(net.name, before, now)
            pending = any(r.state == "running" and r.cpu_percent is None for r in shown_view.rows)
            lasting = bool(now.usage_errors) and now.usage_errors == unread
            if not pending or not in_time or lasting:
                break
            unread = now.usage_errors
        shown = render(shown_view)
        out.print(shown)
        if svg is not None:
            from rich.console import Console

            picture = Console(record=True, width=140, file=open(os.devnull, "w"))  # noqa: SIM115
            picture.print(shown)
            picture.save_svg(str(svg), title=f"fabkube top - {net.name}")
            err.print(f"wrote {svg}")
        return
    with Live(console=out, auto_refresh=False, screen=False) as live:
        try:
            while True:
                time.sleep(interval)
                now = sampler.sample()
                live.update(render(view(net.name, before, now)), refresh=True)
                before = now
        except KeyboardInterrupt:
            pass


@app.command()
@_guard
def console(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but loopback needs --token."),
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="Port (0: any free one)."),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="FABKUBE_CONSOLE_TOKEN",
        help="Required of every request when set (at least 16 characters).",
    ),
    interval: float = typer.Option(2.0, "--interval", "-i", min=0.5, max=60, help="Seconds between samples."),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """A live web page about the network: the topology with each component's state (red with the
    reason), each channel's newest blocks and their transactions, committed tx/s, blocks/s and
    endorsement latency, CPU and memory, and a component's log. Served by fabkube; local or Kubernetes
    networks."""
    from fabkube.monitoring.console import ConsoleState, is_loopback, make_server

    if token is not None and not re.fullmatch(r"[A-Za-z0-9._~-]{16,}", token):
        raise UserError(
            "--token: at least 16 characters of letters, digits and . _ ~ - (it is all that guards the page "
            "off this machine, and it goes into a URL)"
        )
    if not is_loopback(host) and token is None:
        raise UserError(f"--host {host}: not a loopback address; serving the console beyond this machine needs --token")
    net = _open_network(network, workdir)
    state = ConsoleState(net, interval).start()
    try:
        server = make_server(state, host, port, token)
    except OSError as exc:
        state.stop()
        raise UserError(f"--port {port}: cannot listen on {host}:{port}: {exc.strerror}") from None
    bound = server.server_address[1]
    bare = host.strip("[]")
    shown = f"[{bare}]" if ":" in bare else bare
    url = f"http://{shown}:{bound}/" + (f"?token={token}" if token else "")
    # One line, never wrapped at the terminal's width: the URL is there to be copied.
    err.print(f"console of {net.name} on {url} (Ctrl-C to stop)", highlight=False, soft_wrap=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        state.stop()


EXPIRY_WARNING = dt.timedelta(days=30)


def _warn_expiring(soon) -> None:
    for c in soon:
        days = c.left().total_seconds() / 86400
        when = f"ended {-days:.1f} days ago" if days < 0 else f"ends in {days:.1f} days"
        err.print(
            f"[yellow]warning[/]: certificate {c.kind} of {c.owner} ({c.subject}) {when}, "
            f"{c.not_after:%Y-%m-%d %H:%M} UTC: see `fabkube certs`"
        )


certs_app = typer.Typer(help="Certificates: list them (no subcommand), or renew them.")
app.add_typer(certs_app, name="certs")


def _within(within: str | None) -> dt.timedelta | None:
    from fabkube.spec import LIFETIME, duration_seconds

    if within is None:
        return None
    if not LIFETIME.match(within):
        raise UserError(f"--within {within!r}: a number and m, h, d or y, e.g. 30d")
    return dt.timedelta(seconds=duration_seconds(within))


@certs_app.callback(invoke_without_command=True)
@_guard
def certs(
    ctx: typer.Context,
    within: str | None = typer.Option(None, "--within", help="Only those ending within this, e.g. 30d, 12h."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Every certificate of the network: CAs, node and user enrollment, TLS, chaincode and
    Kafka/ZooKeeper, with subject, issuer, expiry and days left."""
    if ctx.invoked_subcommand is not None:
        return
    listed = certificates(_open_network(network, workdir).layout)
    if (span := _within(within)) is not None:
        listed = expiring(listed, span)
    if as_json:
        print(json.dumps([c.as_dict() for c in listed], indent=2))
        return
    table = Table(title=f"{len(listed)} certificates")
    for col in ("kind", "of", "subject", "issuer", "not after (UTC)", "days left"):
        table.add_column(col)
    for c in listed:
        days = c.left().total_seconds() / 86400
        colour = "red" if days < 0 else "yellow" if days <= EXPIRY_WARNING.days else "green"
        table.add_row(c.kind, c.owner, c.subject, c.issuer, f"{c.not_after:%Y-%m-%d %H:%M}", f"[{colour}]{days:.1f}[/]")
    out.print(table)


@certs_app.command("renew")
@_guard
def certs_renew(
    within: str = typer.Option("30d", "--within", help="Renew what ends within this, e.g. 30d, 12h."),
    every: bool = typer.Option(False, "--all", help="Renew every leaf certificate, whatever its end."),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Renew certificates on the running network from the same CAs (same keys), restarting what
    uses them one at a time, each serving again before the next; resumable. CAs are not renewed."""
    span = None if every else _within(within)
    net = _open_network(network, workdir)
    start = time.monotonic()
    result = net.renew_certificates(span, RichReporter(err))
    what = f"{len(result.renewed)} certificates renewed, {len(result.restarted)} components restarted"
    if result.channel_updates:
        what += f", {len(result.channel_updates)} channel config updates ({', '.join(result.channel_updates)})"
    err.print(f"{what} in {time.monotonic() - start:.1f}s", highlight=False, soft_wrap=True)


def _print_status(st: NetworkStatus) -> None:
    table = Table(title=f"{st.name} ({st.target}: {st.location})")
    where = "namespace/node" if st.target == "k8s" else "pid"
    for col in ("component", "kind", where, "address", "state", "fabric"):
        table.add_column(col)
    for c in st.components:
        colour = "green" if c.state in ("running", "Running ready") else "red" if c.state == "stopped" else "yellow"
        table.add_row(c.name, c.kind, c.where, c.address, f"[{colour}]{c.state}[/]", c.fabric)
    out.print(table)
    for name, ch in st.channels.items():
        caps = ", ".join(f"{g} {'+'.join(v) or '-'}" for g, v in ch["capabilities"].items())
        state = "" if ch["state"] == "STATE_NORMAL" else f" ({ch['state']})"
        out.print(f"channel {name}: {ch['type']}{state}; capabilities {caps}", highlight=False)
    if st.heights:
        ht = Table(title="ledger heights")
        channels = sorted({c for by in st.heights.values() for c in by})
        ht.add_column("peer")
        for c in channels:
            ht.add_column(c)
        for peer, by in st.heights.items():
            ht.add_row(peer, *[str(by.get(c)) if by.get(c) is not None else "-" for c in channels])
        out.print(ht)
    if st.orderers:
        _print_orderers(st.orderers)


def _print_orderers(orderers: dict[str, dict[str, dict]]) -> None:
    """Each orderer's height per channel, with its channel status and the Raft leader marked."""
    table = Table(title="orderer heights (* leader)")
    channels = sorted({c for by in orderers.values() for c in by})
    table.add_column("orderer")
    for c in channels:
        table.add_column(c)
    for name, by in orderers.items():
        cells = []
        for c in channels:
            info = by.get(c) or {}
            height = "-" if info.get("height") is None else str(info["height"])
            status = info.get("status", "-")
            cells.append(
                f"{height}{' *' if info.get('leader') else ''}" + ("" if status == "active" else f" ({status})")
            )
        table.add_row(name, *cells)
    out.print(table)


@app.command()
@_guard
def logs(
    name: str = typer.Argument(..., help="Component name, e.g. kafka-0, orderer0, peer0.org1, lifecycle."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
    lines: int = typer.Option(50, "--lines", "-n", help="How many last lines to show."),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Show a component's log."""
    net = _open_network(network, workdir)
    sys.stdout.write(net.logs(name, lines))
    sys.stdout.flush()
    if follow:
        for text in net.follow(name):
            sys.stdout.write(text)
            sys.stdout.flush()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@_guard
def invoke(
    chaincode: str = typer.Argument(..., help="Chaincode name from the spec."),
    args: list[str] = typer.Argument(..., help="Function and arguments, e.g. move a b 10."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Return once the orderer accepted it."),
    peer: str | None = typer.Option(None, "--peer", help="Peer whose Gateway handles it, e.g. peer1.org1."),
    orderer: int | None = typer.Option(
        None, "--orderer", help="Local networks: submit through this orderer (index) with the peer CLI."
    ),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Submit a transaction through a peer's Gateway; waits until it is committed unless --no-wait."""
    net = _open_network(network, workdir)
    if orderer is not None and not 0 <= orderer < len(net.topo.orderers):
        raise UserError(f"--orderer {orderer}: allowed: 0 to {len(net.topo.orderers) - 1}")
    outcome = net.invoke(
        chaincode,
        args,
        wait=not no_wait,
        peer=peer,
        orderer=orderer,
        progress=lambda line: err.print(line, style="yellow", highlight=False),
    )
    if orderer is not None:
        outcome = f"{chaincode} {' '.join(args)}: " + ("submitted" if no_wait else "committed")
    out.print(outcome, highlight=False, soft_wrap=True)


@app.command()
@_guard
def query(
    chaincode: str = typer.Argument(..., help="Chaincode name from the spec."),
    args: list[str] = typer.Argument(
        ..., help="Function and arguments, e.g. GetAllAssets or query a (for builtin:abstore, 'query' may be left out)."
    ),
    peer: str | None = typer.Option(None, "--peer", help="Peer to ask, e.g. peer1.org1."),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Evaluate a chaincode function on one peer and print the result."""
    net = _open_network(network, workdir)
    # The seed's `query mycc a`: only abstore's one-argument shorthand; any other single word is a
    # function called without arguments (GetAllAssets).
    if len(args) == 1 and net.chaincode_info(chaincode).source == "builtin:abstore":
        args = ["query", *args]
    out.print(net.query(chaincode, args, peer=peer), highlight=False, markup=False, soft_wrap=True)


class WorkloadName(StrEnum):
    create = "create"
    read = "read"
    transfer = "transfer"


@app.command()
@_guard
def bench(
    workload_name: WorkloadName = typer.Option(
        WorkloadName.create, "--workload", help="create: new assets; read: ReadAsset; transfer: contended keys."
    ),
    transactions: int = typer.Option(1000, "--tx", min=1, help="Transactions in the measured round."),
    backlog: int = typer.Option(50, "--backlog", min=1, help="Fixed-backlog mode: transactions in flight."),
    rate: float | None = typer.Option(None, "--rate", min=0.1, help="Fixed-rate mode: send this many per second."),
    warmup: int = typer.Option(100, "--warmup", min=0, help="Transactions before the round, not counted."),
    payload: int = typer.Option(100, "--payload", min=1, help="create: bytes of each asset's value."),
    keys: int | None = typer.Option(None, "--keys", min=1, help="read: assets read; transfer: contended assets."),
    chaincode: str | None = typer.Option(None, "--chaincode", help="Default: the asset-transfer-basic chaincode."),
    peer: str | None = typer.Option(None, "--peer", help="Peer whose Gateway takes the load."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    plot_file: Path | None = typer.Option(None, "--plot", help="Write a PNG of throughput and latency over time."),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Load the network through a peer's Gateway; report in Caliper's columns with CPU and memory per component."""
    from rich.progress import Progress

    from fabkube.bench import RoundOptions, plot, run_bench, workload

    net = _open_network(network, workdir)
    wl = workload(workload_name.value, payload, keys)
    opts = RoundOptions(transactions, backlog=backlog, rate=rate, warmup=warmup)
    with Progress(console=err, transient=True, disable=as_json or not err.is_terminal) as bar:
        task = bar.add_task(f"{wl.name}", total=transactions)
        report, records = run_bench(
            net,
            wl,
            opts,
            chaincode,
            peer,
            progress=lambda n: bar.update(task, completed=n),
            stage=lambda m: bar.update(task, description=m) if as_json or err.is_terminal else err.print(f"  {m}"),
        )
    if plot_file:
        plot(records, plot_file, f"{net.name}: {wl.name}, " + (f"{rate}/s" if rate else f"{backlog} in flight"))
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        return
    _print_bench(report)


def _print_bench(report) -> None:
    from fabkube.bench.report import COLUMNS

    table = Table(title="Summary of performance metrics")
    for col in COLUMNS:
        table.add_column(col, justify="right" if col != "Name" else "left")
    table.add_row(*report.row())
    out.print(table)
    if report.failures:
        out.print("failures: " + ", ".join(f"{k} {v}" for k, v in sorted(report.failures.items())))
    if report.resources:
        res = Table(title="Resource utilization")
        for col in ("Name", "CPU% (avg)", "CPU% (max)", "Memory (avg MiB)", "Memory (max MiB)"):
            res.add_column(col, justify="right" if col != "Name" else "left")
        for u in report.resources:
            res.add_row(u.name, f"{u.cpu_avg:.1f}", f"{u.cpu_max:.1f}", f"{u.rss_avg_mib:.0f}", f"{u.rss_max_mib:.0f}")
        out.print(res)


@app.command()
@_guard
def stop(
    names: list[str] = typer.Argument(..., help="Components to stop, e.g. kafka-1."),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Stop components (e.g. to see the network tolerate a broker loss)."""
    _open_network(network, workdir).stop_components(names)
    out.print(f"{', '.join(names)} stopped")


@app.command()
@_guard
def start(
    names: list[str] = typer.Argument(..., help="Components to start again, e.g. kafka-0 kafka-1."),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Start stopped components together and wait until they are ready."""
    _open_network(network, workdir).start_components(names)
    out.print(f"{', '.join(names)} running")


class OrderingType(StrEnum):
    raft = "raft"
    bft = "bft"


@app.command()
@_guard
def migrate(
    to: OrderingType | None = typer.Option(None, "--to", help="The ordering type to move the network to."),
    abort: bool = typer.Option(False, "--abort", help="Go back to Kafka (from the backup) while still in maintenance."),
    no_backup: bool = typer.Option(
        False, "--no-backup", help="Take no backup (you have your own): shorter, but no --abort after the switch."
    ),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Move a running Kafka network to Raft (Fabric 2.5), or a Raft network to BFT (Fabric 3), every channel,
    live; run it again after an interruption to finish."""
    from fabkube.backends import migration_host
    from fabkube.migration.kafka_to_raft import KafkaToRaft

    if (to is None) == (not abort):
        raise UserError("migrate: give --to raft, --to bft, or --abort")
    net = _open_network(network, workdir)
    reporter = RichReporter(err)
    if to == OrderingType.bft:
        _migrate_to_bft(net, reporter, no_backup)
        return
    procedure = KafkaToRaft(migration_host(net, reporter), backup=not no_backup)
    with _resumable("fabkube migrate --abort" if abort else "fabkube migrate --to raft"):
        if abort:
            out.print(procedure.abort(), highlight=False, soft_wrap=True)
            return
        result = procedure.run()
    backoff = (
        "peers' gateways reconnect to the restarted orderers on gRPC's backoff: a submit may be "
        "answered UNAVAILABLE for up to 2 minutes more; clients should retry it"
    )
    _print_moved(net, result, "raft", "Raft", backoff)
    if not result["already"] and len(net.topo.orderers) == 1:
        _warn(["one Raft consenter tolerates no fault: raise ordering.orderers in the spec and run `up`"])


def _migrate_to_bft(net: Network, reporter: RichReporter, no_backup: bool) -> None:
    from fabkube.backends import upgrade_host
    from fabkube.migration.raft_to_bft import RaftToBft

    with _resumable("fabkube migrate --to bft"):
        result = RaftToBft(upgrade_host(net, reporter), backup=not no_backup).run()
    _print_moved(net, result, "bft", "BFT")


@contextmanager
def _resumable(again: str) -> Iterator[None]:
    """An operation on a running network that Ctrl-C cut short: the same command finishes it."""
    try:
        yield
    except KeyboardInterrupt:
        err.print(f"[red]interrupted[/]: run `{again}` again to finish: it reads where the network is")
        raise typer.Exit(130) from None


def _print_moved(net: Network, result: dict, type_name: str, title: str, after_window: str = "") -> None:
    """What a migration to `type_name` tells the user when it ends."""
    if result["already"]:
        out.print(f"network {net.name} already runs {title}: nothing to do", highlight=False)
        return
    if result["maintenance_seconds"] is not None:
        out.print(f"maintenance window (no commits): {result['maintenance_seconds']:.1f}s", highlight=False)
        if after_window:
            out.print(after_window, highlight=False)
    if result["backup"]:
        out.print(f"backup kept at {result['backup']} (remove it when you no longer need it)", highlight=False)
    out.print(
        f"network {net.name} runs {title}: set `ordering.type: {type_name}` in your spec (the work dir's copy "
        f"says so: {net.workdir / 'spec.yaml'}); a later `up` of it changes nothing",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
@_guard
def upgrade(
    fabric: str = typer.Option(..., "--fabric", help="The Fabric version to move the network to (3.1.1)."),
    no_backup: bool = typer.Option(
        False, "--no-backup", help="Copy no node's data before its restart (you have your own backup)."
    ),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """Move a running Raft network to a newer Fabric, node by node; run it again to finish after an interruption."""
    from fabkube.backends import upgrade_host
    from fabkube.migration.upgrade import Upgrade

    net = _open_network(network, workdir)
    procedure = Upgrade(upgrade_host(net, RichReporter(err)), fabric, backup=not no_backup)
    with _resumable(f"fabkube upgrade --fabric {fabric}"):
        result = procedure.run()
    if result["already"]:
        out.print(f"network {net.name} already runs Fabric {fabric}: nothing to do", highlight=False)
        return
    if result["backup"]:
        kept = f"each node's data before its restart: {result['backup']} (remove it when you no longer need it)"
        out.print(kept, highlight=False, soft_wrap=True)
    out.print(
        f"network {net.name} runs Fabric {fabric} ({result['seconds']:.0f}s): set `fabric.version: {fabric}` in your "
        f"spec (the work dir's copy says so: {net.workdir / 'spec.yaml'})",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
@_guard
def preflight(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    context: str | None = typer.Option(None, "--context", help="kubeconfig context."),
    kubeconfig: Path | None = typer.Option(None, "--kubeconfig", help="kubeconfig file."),
    workdir: Path | None = typer.Option(None, "--workdir", "-w", help="Artifacts dir (as for render)."),
) -> None:
    """Check a cluster before anything is created; one line per finding, exit 2 on blockers."""
    from fabkube.backends.k8s.network import K8sNetwork
    from fabkube.backends.k8s.preflight import blockers

    loaded = _load(spec)
    net = K8sNetwork(loaded, (workdir or default_workdir(f"{loaded.spec.name}-k8s")).resolve(), context, kubeconfig)
    findings = net.preflight()
    colours = {"ok": "green", "warn": "yellow", "block": "red"}
    for f in findings:
        out.print(
            f"[{colours[f.level]}]{f.level:5}[/] {escape(f.what)}: {escape(f.message)}", highlight=False, soft_wrap=True
        )
    if blockers(findings):
        raise typer.Exit(2)


@app.command()
@_guard
def render(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Directory for the manifests."),
    workdir: Path | None = typer.Option(
        None, "--workdir", "-w", help="Where crypto and artifacts are kept (default $FABKUBE_HOME/networks/NAME-k8s)."
    ),
) -> None:
    """Write Kubernetes manifests (one file per component + kustomization.yaml) for `kubectl apply -k`."""
    from fabkube.backends.k8s.render import render as do_render
    from fabkube.backends.k8s.render import write_manifests

    loaded = _load(spec)
    reporter = RichReporter(err)
    with reporter.step(f"render {loaded.spec.name} for Kubernetes") as s:
        where = (workdir or default_workdir(f"{loaded.spec.name}-k8s")).resolve()
        existing = new_network(loaded, "k8s", where).existing() if where.is_dir() else None
        rendered = do_render(loaded, where, progress=reporter.info, existing=existing)
        files = write_manifests(rendered, out_dir)
        s.detail = f"{len(rendered.objects())} objects in {len(files)} files"
    for note in render_notes(loaded.spec):
        err.print(f"note: {note}")
    for f in files:
        out.print(str(f))


def render_notes(spec) -> list[str]:
    """What `kubectl apply -k` will not check for the user (fabkube up runs preflight first)."""
    notes = []
    if not spec.kubernetes.storageClass:
        notes.append(
            "the PVCs use the cluster's default StorageClass; a bare kubeadm cluster has none and they stay "
            "Pending: install a provisioner or set kubernetes.storageClass (`fabkube preflight SPEC` checks this)"
        )
    if any(not cc.image for cc in spec.chaincodes):
        notes.append(
            "chaincode without `image` uses fabkube's default image name, which is published nowhere: "
            "build it with `fabkube chaincode dockerfile` and push it, or set the chaincode's `image`"
        )
    return notes


monitoring_app = typer.Typer(no_args_is_help=True, help="Metrics: what Prometheus needs to scrape the network.")
app.add_typer(monitoring_app, name="monitoring")


@monitoring_app.command("prometheus")
@_guard
def monitoring_prometheus(
    out_file: Path | None = typer.Option(None, "--out", "-o", help="Write prometheus.yml here (default: stdout)."),
    network: str | None = NETWORK_OPT,
    workdir: Path | None = WORKDIR_OPT,
) -> None:
    """A Prometheus config scraping every orderer's and peer's /metrics of a local network (with
    TLS, each org's admin TLS pair as the client certificate Fabric asks for)."""
    import yaml

    from fabkube.monitoring.scrape import prometheus_config

    net = _open_network(network, workdir)
    if net.target != "local":
        raise UserError(
            f"monitoring prometheus: network {net.name} runs on Kubernetes; this writes a config for local networks"
        )
    config = prometheus_config(net.layout, net.components())
    jobs = config["scrape_configs"]
    targets = sum(len(g["targets"]) for j in jobs for g in j["static_configs"])
    _emit(yaml.safe_dump(config, sort_keys=False), out_file, f"{len(jobs)} jobs, {targets} targets")


@monitoring_app.command("dashboard")
@_guard
def monitoring_dashboard(
    out_file: Path | None = typer.Option(None, "--out", "-o", help="Write the JSON here (default: stdout)."),
    ordering: str | None = typer.Option(
        None, "--ordering", help="Only the panels of this ordering type: kafka, raft or bft (default: all)."
    ),
) -> None:
    """The Grafana dashboard (JSON, to import): heights, block and transaction rates by validation
    code, endorsement and broadcast latency, CPU and memory per node; the leading orderer (Raft,
    BFT); Kafka's under-replicated partitions, ISR changes, produce latency, bytes per topic and
    ZooKeeper's latency."""
    from fabkube.dashboard import TYPE_PANELS, dashboard_json

    if ordering is not None and ordering not in TYPE_PANELS:
        raise UserError(f"--ordering: {ordering!r} is not an ordering type; allowed: {', '.join(TYPE_PANELS)}")
    _emit(dashboard_json(ordering), out_file, "")


def _emit(text: str, out_file: Path | None, what: str) -> None:
    """A generated file: to stdout, or written to `out_file` and said so (with `what` it holds)."""
    if out_file is None:
        out.print(text, end="", highlight=False, markup=False, soft_wrap=True)
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text)
    err.print(f"wrote {out_file}" + (f": {what}" if what else ""), highlight=False)


chaincode_app = typer.Typer(no_args_is_help=True, help="Chaincode helpers.")
app.add_typer(chaincode_app, name="chaincode")


@chaincode_app.command("dockerfile")
@_guard
def chaincode_dockerfile(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    name: str = typer.Argument(..., help="Chaincode name from the spec."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Build context directory."),
) -> None:
    """Write a Docker build context (Dockerfile + chaincode + server) for a chaincode-as-a-service image."""
    from fabkube.backends.k8s.objects import image
    from fabkube.backends.k8s.render import write_chaincode_context

    loaded = _load(spec)
    cc = next((c for c in loaded.spec.chaincodes if c.name == name), None)
    if cc is None:
        known = ", ".join(c.name for c in loaded.spec.chaincodes) or "(none)"
        raise UserError(f"unknown chaincode {name!r}; known: {known}")
    img = cc.image or image(loaded.spec, "chaincode", name=cc.name, version=cc.version)
    base = f"{loaded.spec.kubernetes.images.registry.rstrip('/')}/library/python:3.11-slim"
    path = write_chaincode_context(loaded, name, out_dir, spec.resolve().parent, img, base)
    out.print(f"{path}  (image {img})")


@toolchain_app.command("install")
@_guard
def toolchain_install(
    version: str = typer.Option(None, "--fabric-version", help="Fabric version to build."),
) -> None:
    """Build Fabric and fetch Kafka/ZooKeeper into the cache; does nothing when already there."""
    from fabkube.toolchain.versions import DEFAULT_FABRIC_VERSION

    tools = _toolchain(version or DEFAULT_FABRIC_VERSION)
    reporter = RichReporter(err)
    with reporter.step("toolchain install") as s:
        times = tools.install(reporter.info)
        s.detail = ", ".join(f"{k} {f'{v:.1f}s' if v else 'cached'}" for k, v in times.items())


def _toolchain(version: str):
    from fabkube.toolchain import Toolchain
    from fabkube.toolchain.versions import FABRIC_VERSIONS

    if version not in FABRIC_VERSIONS or FABRIC_VERSIONS[version].unavailable:
        ok = [v for v, fv in FABRIC_VERSIONS.items() if not fv.unavailable]
        raise UserError(f"--fabric-version {version!r}: allowed: {', '.join(ok)}")
    return Toolchain(version)


@toolchain_app.command("status")
@_guard
def toolchain_status(version: str = typer.Option(None, "--fabric-version")) -> None:
    """Each tool, its version, its path and whether it is installed."""
    from fabkube.toolchain.versions import DEFAULT_FABRIC_VERSION

    tools = _toolchain(version or DEFAULT_FABRIC_VERSION)
    table = Table(title=f"toolchain ({tools.root})")
    for col in ("tool", "version", "path", "installed"):
        table.add_column(col)
    rows = tools.status()
    for r in rows:
        table.add_row(r.name, r.version, str(r.path), "[green]yes[/]" if r.ok else "[red]no[/]")
    out.print(table)
    if not all(r.ok for r in rows):
        raise typer.Exit(1)


@toolchain_app.command("bin")
@_guard
def toolchain_bin(version: str = typer.Option(None, "--fabric-version")) -> None:
    """Print the Fabric bin dir (e.g. export PATH=$(fabkube toolchain bin):$PATH)."""
    from fabkube.toolchain.versions import DEFAULT_FABRIC_VERSION

    print(_toolchain(version or DEFAULT_FABRIC_VERSION).bin_dir)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
