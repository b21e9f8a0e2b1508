"""The toolchain says what to install when Go, Maven or Java is missing, and rejects unknown versions."""

import pytest
from conftest import run_cli

from fabkube.errors import RuntimeFailure
from fabkube.toolchain import Toolchain


def test_missing_go_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RuntimeFailure, match=r"go not found on PATH: install Go 1\.22 or newer"):
        Toolchain(root=tmp_path / "cache").install()


def test_missing_maven_says_what_to_install(tmp_path, monkeypatch):
    tools = Toolchain(root=tmp_path / "cache")
    monkeypatch.setattr(tools, "fabric_ready", lambda: True)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RuntimeFailure, match="mvn not found on PATH: install Apache Maven"):
        tools.install()


def test_status_reports_missing_toolchain(tmp_path, monkeypatch, home):
    monkeypatch.setenv("FABKUBE_CACHE", str(tmp_path / "cache"))
    proc = run_cli("toolchain", "status", home=home, check=False)
    assert proc.returncode == 1 and "peer" in proc.stdout


def test_unknown_fabric_version_is_bad_input(home):
    proc = run_cli("toolchain", "install", "--fabric-version", "2.5.16", home=home, check=False)
    assert proc.returncode == 2 and "--fabric-version '2.5.16': allowed: 2.5.9" in proc.stderr
