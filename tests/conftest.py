import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


# `./dev test` runs the suite on two xdist workers (--dist loadgroup). Each module is one group, so a
# module's network or cluster fixture lives on one worker and modules run two at a time (their
# local.basePorts are a network's block apart). The modules that bring up the machine's real-node
# cluster (one at a time: one bridge, one cluster dir) share a group, sent first: it is the longest
# chain, and the other worker works through the rest meanwhile.
CLUSTER_MODULES = ("test_k8s_real.py", "test_k8s_real_ha.py")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        group = "real-cluster" if item.path.name in CLUSTER_MODULES else str(item.path.relative_to(ROOT))
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: item.path.name not in CLUSTER_MODULES)  # stable: module order kept


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
