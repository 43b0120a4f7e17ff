"""Atomic output: results appear whole, with the permissions an ordinary write gives."""

import os
import stat

import pytest

from golden.atomic import atomic_dir, atomic_write_text


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_results_get_the_umask_permissions_not_private_ones(tmp_path, umask_022):
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("x")
    atomic_write_text(tmp_path / "f.txt", "y")
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert (tmp_path / "f.txt").read_text() == "y"


def test_a_failed_block_leaves_the_old_result_and_no_temporary(tmp_path):
    atomic_write_text(tmp_path / "out" / "keep.txt", "old")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "out") as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]
