"""`fabkube migrate` refuses what it cannot do in one line, exit 2, before touching anything."""

from conftest import run_cli


def test_migrate_needs_one_direction(tmp_path):
    for args in (("migrate",), ("migrate", "--to", "raft", "--abort")):
        proc = run_cli(*args, home=tmp_path, check=False)
        assert proc.returncode == 2 and "migrate: give --to raft, --to bft, or --abort" in proc.stderr, proc.stderr
    other = run_cli("migrate", "--to", "kafka", home=tmp_path, check=False)
    assert other.returncode == 2 and "raft" in other.stderr


def test_migrate_without_a_network_says_so(tmp_path):
    proc = run_cli("migrate", "--to", "raft", home=tmp_path, check=False)
    assert proc.returncode == 2 and "no network found" in proc.stderr, proc.stderr
