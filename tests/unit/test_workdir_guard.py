"""A work dir is something fabkube made: `up -w .` in a project is refused before a file is written,
and `down --purge` deletes a directory whole only when fabkube made it (elsewhere only its own files)."""

import pytest
from conftest import EXAMPLES

from fabkube.errors import UserError
from fabkube.generate import generate
from fabkube.layout import MARKER, claim_workdir, is_workdir, purge_workdir
from fabkube.spec import load_spec


def test_a_project_directory_is_refused_and_left_untouched(tools, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.go").write_text("package main\n")
    with pytest.raises(UserError, match="not empty and not a fabkube work dir; give a new or empty directory"):
        generate(load_spec(EXAMPLES / "seed.yaml"), "local", project, tools)
    assert sorted(p.name for p in project.iterdir()) == ["main.go"]


def test_new_and_empty_directories_become_work_dirs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for path in (tmp_path / "new" / "deeper", empty):
        claim_workdir(path, "seed")
        assert (path / MARKER).is_file() and is_workdir(path)
    claim_workdir(empty, "seed")  # a work dir again: fine


def test_purge_deletes_a_marked_work_dir_whole(tmp_path):
    wd = tmp_path / "wd"
    claim_workdir(wd, "seed")
    (wd / "nodes" / "orderer0").mkdir(parents=True)
    (wd / "anything").write_text("x")
    assert purge_workdir(wd) == [] and not wd.exists()


def test_purge_of_an_unmarked_directory_deletes_only_fabkubes_files(tmp_path):
    """A work dir from before the marker, in the user's project: `up -w .` there, then `down --purge -w .`."""
    project = tmp_path / "project"
    (project / "crypto" / "peerOrganizations").mkdir(parents=True)
    for name in ("spec.yaml", "state.json", "configtx.yaml"):
        (project / name).write_text("x")
    (project / "main.go").write_text("package main\n")
    assert is_workdir(project)
    assert purge_workdir(project) == ["main.go"]
    assert sorted(p.name for p in project.iterdir()) == ["main.go"]
