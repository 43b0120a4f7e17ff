"""Digest of compiled accelerator programs: the check that a restructure changed nothing.

Builds untrained packages of six architectures (GSB digits depth 4, 64-bit keys, Q-ViT,
Q-ViT with head-wise widths, low-rank, the synthetic DeiT-S q@k/linears package), compiles
each with and without buffer reuse, and prints one SHA-256 per program over its
descriptors (their bit encoding), its config, its external-memory image and the layout of
its compared tensors. Run it before and after a change and diff the two tables:

    python benchmarks/program_digest.py --out /tmp/before.json
    ... change ...
    python benchmarks/program_digest.py --out /tmp/after.json --against /tmp/before.json

``--fields`` hashes the descriptors' decoded field values instead of their bit encoding
(and leaves the encoded descriptor words out of the memory image): the check for a
change of the descriptor's field widths, which must change the encoding and nothing else.

Packages are cached under ``--work`` (default: a temporary directory), keyed by name.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

HEAD_BITS = {"attn.quant_q.bits": [3, 6], "attn.quant_k.bits": [4, 4],
             "attn.quant_v.bits": [6, 3], "attn.quant_attn.bits": [4, 7],
             "attn.q.w_quant.bits": [3, 6]}


def _headwise(name, p):
    for suffix, bits in HEAD_BITS.items():
        if name.endswith(suffix):
            p.copy_(torch.tensor(bits, dtype=p.dtype))


def _wider(name, p):
    # an untrained model's attention logits are tiny; scaled weights keep the softmax
    # constants within their descriptor fields
    if name.endswith("weight") and p.dim() == 2:
        p.mul_(4)


def _lowrank(root: Path) -> Path:
    from netpkgs import untrained_checkpoint

    from sim.cli import main

    ckpt = untrained_checkpoint(root, "fp_vit_digits", depth=2, setup=_wider)
    out = root / "lr"
    assert main(["compress", "--scheme", "lowrank", "--ckpt", ckpt, "--target", "0.4",
                 "--out", str(out), "--samples", "32", "--steps", "3", "--rank-k", "8",
                 "--rank-step", "8", "--w-bits", "8", "--no-progress"]) == 0
    pkg = root / "net"
    assert main(["golden", "--ckpt", str(out), "--out", str(pkg), "--images", "1",
                 "--seed", "3"]) == 0
    return pkg


def packages(work: Path) -> dict[str, Path]:
    """Name -> package directory (built once per ``work``)."""
    from accel_util import deit_s_package
    from netpkgs import untrained_package

    makers = {
        "gsb_d4": lambda r: untrained_package(r),
        "gsb_e128h2_keys64": lambda r: untrained_package(r, depth=1, embed_dim=128,
                                                         num_heads=2),
        "qvit_d1": lambda r: untrained_package(r, model="qvit_vit_digits", depth=1),
        "qvit_headwise": lambda r: untrained_package(r, model="qvit_vit_digits", depth=1,
                                                     setup=_headwise),
        "lowrank_d2": _lowrank,
        "deit_s_qk": lambda r: deit_s_package(r / "net", linears=False),
    }
    out = {}
    for name, make in makers.items():
        root = work / name
        if not (root / "net" / "manifest.json").exists():
            root.mkdir(parents=True, exist_ok=True)
            make(root)
        out[name] = root / "net"
    return out


def digest(prog, *, fields: bool = False) -> str:
    """SHA-256 over everything a compiled program hands to the RTL and the checker.

    ``fields``: each descriptor as its decoded field values, and the memory image without
    the encoded descriptor words (the op count and the data after them are kept)."""
    from golden.accel_program import decode_desc, desc_words, encode_desc

    h = hashlib.sha256()
    h.update(json.dumps(prog.cfg.to_dict(), sort_keys=True).encode())
    for name, d in zip(prog.names, prog.descs, strict=True):
        h.update(name.encode())
        code = encode_desc(d)
        h.update(repr(sorted(decode_desc(code).items()) if fields else code).encode())
    ext = np.ascontiguousarray(prog.ext)
    if fields:
        data_word = 1 + len(prog.descs) * desc_words(prog.cfg)
        h.update(repr(data_word).encode())
        ext = np.concatenate([ext[:1], ext[data_word:]])
    h.update(ext.tobytes())
    h.update(repr((prog.dump_word, prog.used, prog.preload, prog.cnt_base)).encode())
    h.update(repr(sorted((k, repr(v)) for k, v in prog.outputs.items())).encode())
    h.update(repr(sorted(prog.expected)).encode())
    return h.hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None, help="package cache directory")
    ap.add_argument("--out", type=Path, default=None, help="write the digests as JSON")
    ap.add_argument("--against", type=Path, default=None,
                    help="a JSON written by --out: exit 1 where a digest differs")
    ap.add_argument("--fields", action="store_true",
                    help="hash decoded descriptor field values, not their encoding")
    args = ap.parse_args(argv)
    from sim.compiler import compile_network

    work = args.work or Path(tempfile.mkdtemp(prefix="vitsim-digest-"))
    rows = {}
    for name, pkg in packages(work).items():
        for reuse in (False, True):
            prog = compile_network(pkg, image=0, reuse=reuse)
            rows[f"{name}{'+reuse' if reuse else ''}"] = {
                "descs": len(prog.descs), "ext_words": int(prog.ext.shape[0]),
                "sha256": digest(prog, fields=args.fields)}
    old = json.loads(args.against.read_text()) if args.against else {}
    print(f"{'program':28} {'descs':>6} {'ext words':>10}  sha256 (first 16)  vs before")
    bad = 0
    for key, r in rows.items():
        same = "" if key not in old else ("same" if old[key] == r else "DIFFERS")
        bad += same == "DIFFERS"
        print(f"{key:28} {r['descs']:>6} {r['ext_words']:>10}  {r['sha256'][:16]}   {same}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1, sort_keys=True))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
