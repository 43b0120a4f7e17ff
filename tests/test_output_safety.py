"""Outputs never destroy a user's files: markers, --force, inputs, files and '.' at --out."""

import os
from pathlib import Path

import pytest

from golden.atomic import MARKER, OutputError, atomic_dir, check_out, output_kind
from sim.cli import main


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    from netpkgs import untrained_package

    return untrained_package(tmp_path_factory.mktemp("net"), images=1, depth=1)


@pytest.fixture
def user_dir(tmp_path):
    d = tmp_path / "mine"
    (d / "sub").mkdir(parents=True)
    (d / "notes.txt").write_text("my notes")
    (d / "sub" / "data.bin").write_bytes(b"\x00\x01")
    return d


#: Every writing command, with ``{out}`` for the output directory and ``{pkg}`` for a
#: network package; none gets past the check of --out, so the rows are fast.
WRITERS = [
    ("verilog", ["verilog", "gelu", "--out", "{out}"]),
    ("golden case", ["golden", "--out", "{out}", "--rows", "2", "--cols", "8", "--max-k",
                     "16"]),
    ("golden cut", ["golden", "--cut", "{pkg}", "--op", "all", "--out", "{out}"]),
    ("compile", ["compile", "{pkg}", "--out", "{out}"]),
    ("synth", ["synth", "gelu", "--out", "{out}"]),
    ("train", ["train", "--scheme", "fp", "--epochs", "0", "--out", "{out}"]),
    ("compress", ["compress", "--scheme", "svd", "--ckpt", "{pkg}", "--target", "0.5",
                  "--out", "{out}"]),
    ("demo", ["demo", "--out", "{out}"]),
]


def _argv(argv, **kw):
    return [a.format(**kw) for a in argv]


@pytest.mark.parametrize("name,argv", WRITERS, ids=[w[0] for w in WRITERS])
def test_a_users_directory_at_out_is_kept_intact(name, argv, package, user_dir, capsys):
    before = _tree(user_dir.parent)
    for force in ([], ["--force"]):
        assert main(_argv(argv, out=user_dir, pkg=package) + force) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"--out {user_dir}: not empty and not a vitsim output" in err
    assert _tree(user_dir.parent) == before


@pytest.mark.parametrize("name,argv", WRITERS, ids=[w[0] for w in WRITERS])
def test_a_file_at_out_is_refused(name, argv, package, tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("keep")
    assert main(_argv(argv, out=f, pkg=package)) == 2
    assert f"--out {f}: exists and is not a directory" in capsys.readouterr().err
    assert f.read_text() == "keep" and sorted(os.listdir(tmp_path)) == ["file.txt"]


def test_out_dot_is_refused_and_leaves_no_old_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("x")
    for out in (".", str(tmp_path), ".."):
        assert main(["verilog", "gelu", "--out", out]) == 2
        assert "is the current directory or one of its parents" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]
    assert not [p for p in os.listdir(tmp_path.parent) if ".old-" in p or ".tmp-" in p]


@pytest.mark.parametrize("out", ["{pkg}", "{pkg}/prog", "{pkg}/.."])
def test_compile_refuses_an_out_that_is_contains_or_is_inside_its_input(package, out,
                                                                          capsys):
    before = _tree(package.parent)
    out = out.format(pkg=package)
    assert main(["compile", str(package), "--out", out, "--force"]) == 2
    err = capsys.readouterr().err
    assert "the input" in err and "refusing to write there" in err
    assert _tree(package.parent) == before


def test_force_replaces_an_output_of_the_same_kind_only(tmp_path, package, capsys):
    out = tmp_path / "v"
    assert main(["verilog", "gelu", "--out", str(out)]) == 0
    assert output_kind(out) == "verilog"
    assert main(["verilog", "gelu", "--out", str(out)]) == 2
    assert "already holds a vitsim verilog output; give --force" in capsys.readouterr().err
    (out / "stale.v").write_text("// an older file")
    assert main(["verilog", "softmax", "--out", str(out), "--force"]) == 0
    assert not (out / "stale.v").exists() and (out / "softmax.v").is_file()
    # a package is another kind: refused even with --force (documented in golden.atomic)
    before = _tree(package)
    assert main(["verilog", "gelu", "--out", str(package), "--force"]) == 2
    assert "holds a vitsim package output, not a verilog; refusing to replace it, even " \
           "with --force" in capsys.readouterr().err
    assert _tree(package) == before
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_compile_writes_a_program_with_its_marker_and_replaces_it_with_force(tmp_path,
                                                                              package):
    out = tmp_path / "prog"
    assert main(["compile", str(package), "--out", str(out)]) == 0
    assert output_kind(out) == "program" and (out / "program.json").is_file()
    assert main(["compile", str(package), "--out", str(out), "--force", "--reuse"]) == 0
    assert '"reuse": true' in (out / "program.json").read_text()


def test_atomic_dir_refuses_before_the_block_runs(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "x").write_text("x")
    ran = []
    with pytest.raises(OutputError, match="not empty and not a vitsim output"):
        with atomic_dir(mine, kind="package"):
            ran.append(1)
    assert not ran and (mine / "x").read_text() == "x"
    with atomic_dir(tmp_path / "p", kind="package") as tmp:
        (tmp / "a").write_text("1")
    assert (tmp_path / "p" / MARKER).read_text() == "package\n"
    with pytest.raises(OutputError, match="give --force"):
        with atomic_dir(tmp_path / "p", kind="package", overwrite=False):
            pass
    with pytest.raises(OutputError, match="not a checkpoint"):
        check_out(tmp_path / "p", "checkpoint", force=True)
    check_out(tmp_path / "empty", "package")  # missing: fine
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty", "package")  # empty: fine
