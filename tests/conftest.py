import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


# `./dev test` runs the suite on two xdist workers. Each module is one unit of work, so a module's
# network or cluster fixture lives on one worker and modules run two at a time (their
# local.basePorts are a network's block apart). The modules that bring up the machine's real-node
# cluster (one at a time: one bridge, one cluster dir) are one unit, sent first: it is the longest
# chain, and the other worker works through the rest meanwhile. (xdist's own loadgroup marks do not
# reach its scheduler under pytest 9.2, which keeps node IDs in `_id`: hence a scheduler here.)
CLUSTER_MODULES = ("test_k8s_real.py", "test_k8s_real_ha.py")


def _unit(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0]
    return "real-cluster" if module.rsplit("/", 1)[-1] in CLUSTER_MODULES else module


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    config.option.loadscopereorder = False  # collection order: the cluster's unit first
    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: _unit(item.nodeid) != "real-cluster")  # stable: module order kept


@pytest.fixture(scope="session")
def tools():
    """The real toolchain; installed here if missing (never skipped: a missing install must fail)."""
    from fabkube.toolchain import Toolchain

    return Toolchain().ensure()


@pytest.fixture()
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("FABKUBE_HOME", str(h))
    return h


def seed_variant(tmp_path: Path, name: str, base_port: int) -> Path:
    """examples/seed.yaml under another name and port range, so e2e tests never collide."""
    spec = tmp_path / f"{name}.yaml"
    text = (EXAMPLES / "seed.yaml").read_text().replace("name: seed", f"name: {name}")
    spec.write_text(text + f"local: {{basePort: {base_port}}}\n")
    return spec


def run_cli(*args: str, home: Path, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, FABKUBE_HOME=str(home), COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-m", "fabkube.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"fabkube {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def live_processes(workdir: Path) -> list[str]:
    """Non-zombie processes whose command line or cwd points into the work dir."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if str(workdir) in cmd or cwd.startswith(str(workdir)):
            found.append(f"{proc.name}: {cmd[:120]}")
    return found


def wait_for(what: str, check, timeout: float = 60.0) -> None:
    """Poll `check()` once a second until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def keep_logs(workdir: Path) -> None:
    """Every component's log, kept beside the work dir that `down --purge` removes (a failure that
    shows now and then is found from them)."""
    import shutil

    if (workdir / "logs").is_dir():
        shutil.copytree(workdir / "logs", workdir.parent.parent.parent / "logs-kept", dirs_exist_ok=True)
