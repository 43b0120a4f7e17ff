"""One clear line for every bad input: a table of ``vitsim`` command lines and the fragment
of the one error line each must print.

Every row runs ``vitsim`` in-process from an empty working directory beside a set of
inputs (a network package, GSB/fp checkpoints, a unit case, config files, a user's
directory, a file) and asserts: exit status 2 (the status of every bad input, see
sim/cli.py), one line on stderr that starts ``vitsim`` and holds the fragment, no
traceback, and not one file created, changed or removed anywhere under the inputs'
directory or the working directory. Placeholders in the rows: {pkg} network package,
{case} unit case, {ckpt} GSB checkpoint, {fp} float checkpoint, {esc} a checkpoint whose
``weights.file`` escapes it, {cfg} a config file, {dir} an empty directory, {user} a
user's directory with files, {file} a plain file, {bad} a file of broken JSON, {list} a
JSON list, {nope} a path that does not exist, {new} a new output path.
"""

import json
import shutil
from pathlib import Path

import pytest

from sim.cli import main

G = "the following arguments are required"
ROWS = [
    # the parser
    ([], f"{G}: COMMAND"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["verilog"], f"{G}: --out"),
    (["compile", "{pkg}"], f"{G}: --out"),
    (["train", "--out", "{new}"], f"{G}: --scheme"),
    (["eval"], f"{G}: --ckpt"),
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--out", "{new}"], f"{G}: --target"),
    # import
    (["import", "--from", "timm", "--model", "fp_vit_digits", "{nope}", "--out", "{new}"],
     "no such file"),
    (["import", "--from", "foo", "--model", "fp_vit_digits", "{file}", "--out", "{new}"],
     "--from must be one of timm, qvit, gsb, not 'foo'"),
    (["import", "--from", "timm", "--model", "nope", "{file}", "--out", "{new}"],
     "--model: unknown model 'nope'"),
    (["import", "--from", "gsb", "--model", "fp_vit_digits", "{file}", "--out", "{new}"],
     "--model: --from gsb imports into a gsb_* model, not 'fp_vit_digits'"),
    (["import", "--from", "timm", "--model", "fp_vit_digits", "{file}", "--out", "{user}"],
     "not empty and not a vitsim output"),
    (["import", "--from", "timm", "--model", "fp_vit_digits", "{file}", "--out", "{file}"],
     "refusing to write there"),
    (["import", "--from", "timm", "--model", "fp_vit_digits", "{file}", "--out", "{new}",
      "--cfg", "depth"], "--cfg takes FIELD=VALUE, not 'depth'"),
    (["import", "--from", "timm", "--model", "fp_vit_digits", "{file}", "--out", "{new}"],
     "not a torch file"),
    # verilog
    (["verilog", "gelu", "--out", "{new}", "--name", "../../x"],
     "argument --name: '../../x' is not a Verilog identifier"),
    (["verilog", "gelu", "--out", "{new}", "--name", "a\nb"],
     "argument --name: 'a\\nb' is not a Verilog identifier"),
    (["verilog", "gelu", "--out", "{new}", "--name", "9lives"], "is not a Verilog identifier"),
    (["verilog", "gelu", "--out", "{new}", "--name", ""], "'' is not a Verilog identifier"),
    (["verilog", "gelu", "--out", "{new}", "--name", "a b;"], "'a b;' is not a Verilog"),
    (["verilog", "--cols", "2048", "--out", "{new}"],
     "--cols: cols must be between 1 and 1024, not 2048"),
    (["verilog", "--rows", "0", "--out", "{new}"], "--rows: rows must be"),
    (["verilog", "--mode", "nand", "--out", "{new}"], "--mode: mode must be"),
    (["verilog", "--max-k", "-1", "--out", "{new}"], "--max-k: max_k must be"),
    (["verilog", "--rows", "x", "--out", "{new}"], "argument --rows: invalid int value: 'x'"),
    (["verilog", "--config", "{dir}", "--out", "{new}"], "{dir}: is a directory, not a file"),
    (["verilog", "--config", "{nope}", "--out", "{new}"], "{nope}: no such config file"),
    (["verilog", "--config", "{bad}", "--out", "{new}"], "{bad}: not valid JSON"),
    (["verilog", "--config", "{list}", "--out", "{new}"], "{list}: top level must be an object"),
    (["verilog", "gelu", "--config", "{cfg}", "--out", "{new}"],
     "give a unit name or --config FILE, not both"),
    (["verilog", "nosuchunit", "--out", "{new}"],
     "no hardware unit for config kind 'nosuchunit'; known: binary_array"),
    (["verilog", "gelu", "--out", "{file}"], "--out {file}: exists and is not a directory"),
    (["verilog", "gelu", "--out", "{file}/sub"], "--out {file}/sub: {file} is not a directory"),
    (["verilog", "gelu", "--out", "{user}"], "--out {user}: not empty and not a vitsim output"),
    (["verilog", "gelu", "--out", "{user}", "--force"], "not empty and not a vitsim output"),
    (["verilog", "gelu", "--out", "{pkg}"], "holds a vitsim package output, not a verilog"),
    (["verilog", "gelu", "--out", "{pkg}", "--force"], "refusing to replace it, even with"),
    (["verilog", "gelu", "--out", "{ckpt}", "--force"], "vitsim checkpoint output, not a"),
    (["verilog", "gelu", "--out", "."], "--out .: is the current directory or one of its"),
    (["verilog", "gelu", "--out", ".."], "--out ..: is the current directory or one of its"),
    (["verilog", "--config", "{cfg}", "--out", "{cfg}"], "--out {cfg}: is the input {cfg}"),
    # synth
    (["synth", "gelu", "--out", "{new}", "--freq", "-5"],
     "argument --freq: must be positive, not -5"),
    (["synth", "gelu", "--out", "{new}", "--freq", "0"], "argument --freq: must be positive"),
    (["synth", "gelu", "--out", "{new}", "--freq", "nan"],
     "argument --freq: must be a finite number, not nan"),
    (["synth", "gelu", "--out", "{new}", "--freq", "inf"], "must be a finite number, not inf"),
    (["synth", "gelu", "--out", "{new}", "--freq", "fast"], "'fast' is not a number"),
    (["synth", "gelu", "--out", "{new}", "--device", "99k"],
     "--device: unknown ECP5 device '99k'"),
    (["synth", "gelu", "--out", "{new}", "--target", "xilinx"], "invalid choice: 'xilinx'"),
    (["synth", "--golden", "{pkg}", "--out", "{new}", "--depth", "0"],
     "argument --depth: must be at least 1, not 0"),
    (["synth", "gelu", "--out", "{new}", "--depth", "64"],
     "--depth sizes the accelerator of --golden PKG"),
    (["synth", "--golden", "{case}", "--out", "{new}"],
     "field 'config.kind': 'binary_array' is not 'int_network'"),
    (["synth", "--golden", "{nope}", "--out", "{new}"], "{nope}: not a network package"),
    (["synth", "--golden", "{pkg}", "--out", "{pkg}/syn"], "is inside the input {pkg}"),
    (["synth", "--golden", "{pkg}", "--out", "{new}", "--onchip-kib", "0"],
     "argument --onchip-kib: must be positive"),
    (["synth", "--golden", "{pkg}", "--out", "{new}", "--lanes", "12"],
     "argument --lanes: invalid choice: 12"),
    (["synth", "gelu", "--out", "{new}", "--onchip-kib", "64"],
     "--onchip-kib sizes the accelerator of --golden PKG"),
    (["synth", "gelu", "--out", "{new}", "--lanes", "16"],
     "--lanes sizes the accelerator of --golden PKG"),
    (["synth", "--golden", "{pkg}", "--out", "{new}", "--depth", "64", "--onchip-kib", "64"],
     "--depth and --onchip-kib both size the scratchpad; give one"),
    (["synth", "--golden", "{pkg}", "--out", "{new}", "--onchip-kib", "1"],
     "--onchip-kib: op "),
    (["synth", "gelu", "--out", "{user}"], "not empty and not a vitsim output"),
    (["synth", "--config", "{dir}", "--out", "{new}"], "{dir}: is a directory, not a file"),
    # golden: unit cases
    (["golden"], "golden: give --out DIR to write a case, or --verify DIR"),
    (["golden", "--out", "{new}", "--k", "0"], "argument --k: must be at least 1, not 0"),
    (["golden", "--out", "{new}", "--k", "-3"], "argument --k: must be at least 1, not -3"),
    (["golden", "--out", "{new}", "--m", "0"], "argument --m: must be at least 1, not 0"),
    (["golden", "--out", "{new}", "--n", "0"], "argument --n: must be at least 1, not 0"),
    (["golden", "--out", "{new}", "--scale", "nan"],
     "argument --scale: must be a finite number, not nan"),
    (["golden", "--out", "{new}", "--scale", "-1"], "argument --scale: must be positive"),
    (["golden", "--out", "{new}", "--scale", "inf"], "argument --scale: must be a finite"),
    (["golden", "--out", "{new}", "--seed", "-1"], "argument --seed: must be at least 0"),
    (["golden", "--out", "{new}", "--w-bits", "0"], "argument --w-bits: must be at least 1"),
    (["golden", "--out", "{new}", "--a-bits", "x"], "argument --a-bits: 'x' is not an integer"),
    (["golden", "--out", "{new}", "--shift", "0"], "argument --shift: must be at least 1"),
    (["golden", "--out", "{new}", "--bits", "0"], "argument --bits: must be at least 1"),
    (["golden", "--out", "{new}", "--image", "-1"], "argument --image: must be at least 0"),
    (["golden", "--out", "{new}", "--head", "-1"], "argument --head: must be at least 0"),
    (["golden", "--out", "{new}", "--stimulus", "loud"],
     "--stimulus: stimulus must be one of random, max, min, alternating, not 'loud'"),
    (["golden", "--out", "{new}", "--rows", "2", "--cols", "8", "--max-k", "16", "--k", "17"],
     "--k: k must be a positive multiple of cols (8) up to max_k (16), not 17"),
    (["golden", "--out", "{new}", "--config", "{dir}"], "{dir}: is a directory, not a file"),
    (["golden", "--out", "{new}", "--config", "{bad}"], "{bad}: not valid JSON"),
    (["golden", "--out", "{pkg}"], "--out {pkg}: already holds a vitsim package output; give "
                                   "--force to replace it"),
    (["golden", "--out", "{ckpt}", "--force"], "holds a vitsim checkpoint output, not a package"),
    (["golden", "--out", "{user}"], "not empty and not a vitsim output"),
    (["golden", "--out", "{file}"], "exists and is not a directory"),
    (["golden", "--out", "."], "is the current directory"),
    (["golden", "--out", "{new}", "--config", "{cfg}"], None),
    (["golden", "--out", "{new}", "--w-bits", "99"],
     "--w-bits: binary_array cases do not take it"),
    (["golden", "--out", "{new}", "--config", "{cfg}", "--a-unsigned"],
     "--a-unsigned: binary_array cases do not take it"),
    (["golden", "--out", "{new}", "--theta", "3"], "--theta: binary_array cases do not take it"),
    (["golden", "--out", "{new}", "--scale", "0.5"], "--scale: binary_array cases do not take"),
    (["golden", "--out", "{new}", "--mult", "3"], "--mult: binary_array cases do not take it"),
    (["golden", "--out", "{new}", "--bits", "4"], "--bits: binary_array cases do not take it"),
    (["golden", "--cut", "{pkg}", "--op", "all", "--out", "{new}", "--k", "8"],
     "--k: --cut takes the op's own operands and config"),
    (["golden", "--ckpt", "{ckpt}", "--out", "{new}", "--shift", "9"],
     "--shift: --ckpt writes the checkpoint's network package"),
    # golden: the unit-configuration flags and --images, refused where nothing reads them
    (["golden", "--cut", "{pkg}", "--op", "all", "--out", "{new}", "--rows", "4"],
     "--rows: --cut takes the op's own operands and config"),
    (["golden", "--cut", "{pkg}", "--op", "all", "--out", "{new}", "--cols", "8"],
     "--cols: --cut takes the op's own operands and config"),
    (["golden", "--cut", "{pkg}", "--op", "patch_embed", "--out", "{new}", "--mode", "and"],
     "--mode: --cut takes the op's own operands and config"),
    (["golden", "--cut", "{pkg}", "--op", "all", "--out", "{new}", "--max-k", "16"],
     "--max-k: --cut takes the op's own operands and config"),
    (["golden", "--cut", "{pkg}", "--op", "all", "--out", "{new}", "--config", "{cfg}"],
     "--config: --cut takes the op's own operands and config"),
    (["golden", "--cut", "{pkg}", "--op", "all", "--out", "{new}", "--ckpt", "{ckpt}"],
     "--ckpt: give --ckpt (a network package) or --cut (unit cases), not both"),
    (["golden", "--ckpt", "{ckpt}", "--out", "{new}", "--rows", "4"],
     "--rows: --ckpt writes the checkpoint's network package"),
    (["golden", "--ckpt", "{ckpt}", "--out", "{new}", "--config", "{cfg}"],
     "--config: --ckpt writes the checkpoint's network package"),
    (["golden", "--out", "{new}", "--images", "2"], "--images: only with --ckpt"),
    (["golden", "--cut", "{pkg}", "--op", "all", "--out", "{new}", "--images", "2"],
     "--images: only with --ckpt"),
    (["golden", "--verify", "{pkg}", "--images", "2"], "--images: only with --ckpt"),
    # golden --ckpt
    (["golden", "--ckpt", "{nope}", "--out", "{new}"], "{nope}: checkpoint directory not found"),
    (["golden", "--ckpt", "{file}", "--out", "{new}"], "{file}: checkpoint directory not found"),
    (["golden", "--ckpt", "{user}", "--out", "{new}"], "missing (not a vitsim checkpoint)"),
    (["golden", "--ckpt", "{ckpt}", "--out", "{new}", "--images", "0"],
     "--images must be between 1 and 4096, not 0"),
    (["golden", "--ckpt", "{ckpt}", "--out", "{new}", "--images", "5000"],
     "--images must be between 1 and 4096, not 5000"),
    (["golden", "--ckpt", "{esc}", "--out", "{new}"],
     "field 'weights.file': '../model.pt' is not a file name inside the checkpoint"),
    (["golden", "--ckpt", "{ckpt}", "--out", "{ckpt}", "--force"],
     "--out {ckpt}: is the input {ckpt}"),
    (["golden", "--ckpt", "{ckpt}", "--out", "{ckpt}/pkg"], "is inside the input {ckpt}"),
    (["golden", "--ckpt", "{ckpt}/model.pt", "--out", "{new}"], "checkpoint directory not found"),
    # golden --cut / --verify
    (["golden", "--cut", "{pkg}", "--out", "{new}"], "golden --cut: give --op NAME"),
    (["golden", "--cut", "{pkg}", "--op", "nope", "--out", "{new}"],
     "--op: {pkg} has no op named 'nope'"),
    (["golden", "--cut", "{pkg}", "--op", "all", "--image", "5", "--out", "{new}"],
     "--image: 5 is past the package's 1 image (0..0)"),
    (["golden", "--cut", "{pkg}", "--op", "patch_embed", "--image", "1", "--out", "{new}"],
     "--image: 1 is past the package's 1 image"),
    (["golden", "--cut", "{pkg}", "--op", "all", "--out", "{pkg}", "--force"],
     "--out {pkg}: is the input {pkg}"),
    (["golden", "--cut", "{pkg}", "--op", "all", "--out", "{pkg}/cases"], "is inside the input"),
    (["golden", "--cut", "{pkg}", "--op", "all", "--out", "{user}"], "not a vitsim output"),
    (["golden", "--cut", "{pkg}", "--op", "all", "--out", "{case}"],
     "holds a vitsim package output, not a cases"),
    (["golden", "--cut", "{nope}", "--op", "all", "--out", "{new}"],
     "{nope}: no such package directory"),
    (["golden", "--cut", "{case}", "--op", "all", "--out", "{new}"],
     "'binary_array' is not 'int_network'"),
    (["golden", "--cut", "{pkg}", "--op", "blocks.0.attn.qk", "--head", "9", "--out", "{new}"],
     "--head: op 'blocks.0.attn.qk': no head 9 in its tensors"),
    (["golden", "--verify", "{nope}"], "{nope}: no such package directory"),
    (["golden", "--verify", "{user}"], "manifest.json: missing manifest"),
    (["golden", "--verify", "{file}"], "{file}: no such package directory"),
    (["golden", "--verify", "{dir}"], "manifest.json: missing manifest"),
    # compile
    (["compile", "{nope}", "--out", "{new}"], "{nope}: not a network package (no such directory)"),
    (["compile", "{file}", "--out", "{new}"], "{file}: not a network package (a file, not a"),
    (["compile", "{user}", "--out", "{new}"], "{user}: not a network package (no manifest.json"),
    (["compile", "{case}", "--out", "{new}"], "'binary_array' is not 'int_network'"),
    (["compile", "{pkg}", "--out", "{pkg}"], "--out {pkg}: is the input {pkg}"),
    (["compile", "{pkg}", "--out", "{pkg}", "--force"], "is the input {pkg}; refusing"),
    (["compile", "{pkg}", "--out", "{pkg}/prog"], "--out {pkg}/prog: is inside the input {pkg}"),
    (["compile", "{pkg}", "--out", "{root}"], "--out {root}: contains the input {pkg}"),
    (["compile", "{pkg}", "--out", "{file}"], "--out {file}: exists and is not a directory"),
    (["compile", "{pkg}", "--out", "{user}"], "--out {user}: not empty and not a vitsim output"),
    (["compile", "{pkg}", "--out", "{case}"], "holds a vitsim package output, not a program"),
    (["compile", "{pkg}", "--out", "."], "is the current directory"),
    (["compile", "{pkg}", "--out", "{new}", "--image", "1"],
     "--image: 1 is past the package's 1 image (0..0)"),
    (["compile", "{pkg}", "--out", "{new}", "--image", "-1"], "argument --image: must be at"),
    # simulate
    (["simulate"], "simulate needs --case DIR (a unit case) or --golden DIR"),
    (["simulate", "--case", "{case}", "--golden", "{pkg}"], "give --case (one unit) or --golden"),
    (["simulate", "--case", "{case}", "--sim", "modelsim"], "unknown simulator 'modelsim'"),
    (["simulate", "--golden", "{pkg}", "--sim", "modelsim"], "unknown simulator 'modelsim'"),
    (["simulate", "--case", "{case}", "--waves-op", "x"], "--waves-op names an op of a network"),
    (["simulate", "--golden", "{pkg}", "--waves-op", "nope"], "--waves-op: no op 'nope'"),
    (["simulate", "--golden", "{pkg}", "--waves-cycles", "0"], "argument --waves-cycles: must"),
    (["simulate", "--case", "{case}", "--window", "0"], "argument --window: must be at least 1"),
    (["simulate", "--case", "{case}", "--seed", "-1"], "argument --seed: must be at least 0"),
    (["simulate", "--golden", "{nope}"], "{nope}: not a network package (no such directory)"),
    (["simulate", "--golden", "{case}"], "'binary_array' is not 'int_network'"),
    (["simulate", "--golden", "{pkg}", "--build-dir", "{pkg}"],
     "--build-dir {pkg}: is the input {pkg}"),
    (["simulate", "--golden", "{pkg}", "--build-dir", "{pkg}/runs"], "is inside the input"),
    (["simulate", "--golden", "{pkg}", "--build-dir", "{user}"],
     "--build-dir {user}: not empty and not a vitsim output"),
    (["simulate", "--golden", "{pkg}", "--build-dir", "{ckpt}"],
     "holds a vitsim checkpoint output, not a run"),
    (["simulate", "--case", "{case}", "--build-dir", "{file}"], "exists and is not a directory"),
    (["simulate", "--case", "{nope}"], "{nope}: no such package directory"),
    (["simulate", "--case", "{user}"], "manifest.json: missing manifest"),
    (["simulate", "--case", "{case}", "--verilog", "{nope}"],
     "{nope}/binary_array.json: missing Verilog sidecar (run 'vitsim verilog')"),
    # demo
    (["demo", "--sim", "foo"], "unknown simulator 'foo'"),
    (["demo", "--images", "0"], "argument --images: must be at least 1, not 0"),
    (["demo", "--images", "-2"], "argument --images: must be at least 1, not -2"),
    (["demo", "--epochs", "0"], "argument --epochs: must be at least 1, not 0"),
    (["demo", "--seed", "-1"], "argument --seed: must be at least 0"),
    (["demo", "--ckpt", "{fp}", "--out", "{new}"],
     "--ckpt {fp}: the demo needs a GSB checkpoint, this one is 'fp_vit_digits'"),
    (["demo", "--ckpt", "{nope}", "--out", "{new}"], "{nope}: checkpoint directory not found"),
    (["demo", "--ckpt", "{esc}", "--out", "{new}"], "field 'weights.file'"),
    (["demo", "--out", "{user}"], "--out {user}: not empty and not a vitsim output"),
    (["demo", "--out", "{file}"], "--out {file}: exists and is not a directory"),
    (["demo", "--out", "{pkg}", "--force"], "holds a vitsim package output, not a demo"),
    (["demo", "--out", "."], "--out .: contains the input runs/cache"),
    (["demo", "--ckpt", "{ckpt}", "--out", "{ckpt}/demo"], "is inside the input {ckpt}"),
    (["demo", "--ckpt", "{ckpt}", "--cache", "{file}", "--out", "{new}"],
     "--cache {file}: exists and is not a directory"),
    # train
    (["train", "--scheme", "fp", "--out", "{new}", "--stage1-epochs", "-5"],
     "argument --stage1-epochs: must be at least 0, not -5"),
    (["train", "--scheme", "fp", "--out", "{new}", "--epochs", "-1"], "argument --epochs"),
    (["train", "--scheme", "fp", "--out", "{new}", "--batch-size", "0"],
     "argument --batch-size: must be at least 1, not 0"),
    (["train", "--scheme", "fp", "--out", "{new}", "--lr", "nan"],
     "argument --lr: must be a finite number, not nan"),
    (["train", "--scheme", "fp", "--out", "{new}", "--lr", "0"], "argument --lr: must be posi"),
    (["train", "--scheme", "fp", "--out", "{new}", "--lr=-1e-3"], "must be positive"),
    (["train", "--scheme", "fp", "--out", "{new}", "--seed", "-1"], "argument --seed"),
    (["train", "--scheme", "fp", "--out", "{new}", "--threads", "0"], "argument --threads"),
    (["train", "--scheme", "foo", "--out", "{new}"], "--scheme must be one of"),
    (["train", "--scheme", "fp", "--model", "nope", "--out", "{new}"],
     "--model: unknown architecture 'nope'"),
    (["train", "--scheme", "fp", "--per-image", "--out", "{new}"],
     "--per-image is a GSB option, not for fp"),
    (["train", "--scheme", "lsq", "--per-image", "--out", "{new}"],
     "--per-image is a GSB option, not for lsq"),
    (["train", "--scheme", "lsq", "--teacher", "{fp}", "--out", "{new}"],
     "--teacher: lsq trains without distillation"),
    (["train", "--scheme", "fp", "--w-bits", "4", "--out", "{new}"],
     "--w-bits is an lsq/qvit option, not for fp"),
    (["train", "--scheme", "lsq", "--budget", "1", "--out", "{new}"],
     "--budget is a qvit option, not for lsq"),
    (["train", "--scheme", "qvit", "--w-bits", "9", "--out", "{new}"],
     "--w-bits must be between 2 and 8, not 9"),
    (["train", "--scheme", "qvit", "--budget", "nan", "--out", "{new}"],
     "argument --budget: must be a finite number"),
    (["train", "--scheme", "qvit", "--budget", "-1", "--out", "{new}"], "argument --budget"),
    (["train", "--scheme", "qvit", "--bits-lr-scale", "0", "--out", "{new}"],
     "argument --bits-lr-scale: must be positive"),
    (["train", "--scheme", "qvit", "--init-bits", "0", "--out", "{new}"],
     "argument --init-bits: must be at least 1"),
    (["train", "--scheme", "gsb", "--teacher", "{nope}", "--out", "{new}"],
     "{nope}: checkpoint directory not found"),
    (["train", "--scheme", "gsb", "--teacher", "{ckpt}", "--out", "{new}"],
     "field 'model' must name an fp teacher, not 'gsb_vit_digits'"),
    (["train", "--scheme", "gsb", "--teacher", "{esc}", "--out", "{new}"],
     "field 'weights.file'"),
    (["train", "--scheme", "fp", "--out", "{user}"], "not empty and not a vitsim output"),
    (["train", "--scheme", "fp", "--out", "{file}"], "exists and is not a directory"),
    (["train", "--scheme", "fp", "--out", "{fp}"],
     "already holds a vitsim checkpoint output; give --force to replace it"),
    (["train", "--scheme", "fp", "--out", "{pkg}", "--force"], "package output, not a checkp"),
    (["train", "--scheme", "gsb", "--teacher", "{fp}", "--out", "{fp}", "--force"],
     "--out {fp}: is the input {fp}"),
    (["train", "--scheme", "fp", "--data", "{user}", "--out", "{user}/ck"], "is inside the input"),
    (["train", "--scheme", "fp", "--out", "."], "is the current directory"),
    # eval
    (["eval", "--ckpt", "{fp}", "--per-image"],
     "{fp}: --per-image is a GSB option; this checkpoint is 'fp_vit_digits'"),
    (["eval", "--ckpt", "{ckpt}", "--batch-size", "0"], "argument --batch-size: must be at"),
    (["eval", "--ckpt", "{nope}"], "{nope}: checkpoint directory not found"),
    (["eval", "--ckpt", "{file}"], "{file}: checkpoint directory not found"),
    (["eval", "--ckpt", "{esc}"], "'../model.pt' is not a file name inside the checkpoint"),
    (["eval", "--ckpt", "{user}"], "config.json: missing (not a vitsim checkpoint)"),
    (["eval", "--ckpt", "{fp}", "--bit-map-out", "{new}"],
     "{fp}: --bit-map-out needs an lsq/qvit checkpoint"),
    (["eval", "--ckpt", "{fp}", "{ckpt}", "--bit-map-out", "{new}"],
     "--bit-map-out takes exactly one --ckpt"),
    (["eval", "--ckpt", "{fp}", "{nope}"], "{nope}: checkpoint directory not found"),
    (["eval", "--ckpt", "{cfgdir}"], "config.json: is a directory, not a file"),
    (["eval", "--ckpt", "{badver}"], "field 'version' must be 1, not 2"),
    # compress
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--target", "nan", "--out", "{new}"],
     "argument --target: must be a finite number, not nan"),
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--target", "inf", "--out", "{new}"],
     "argument --target: must be a finite number, not inf"),
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--target", "0", "--out", "{new}"],
     "--target: target must be > 0.0 and < 1.0, not 0.0"),
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--target", "1.5", "--out", "{new}"],
     "--target: target must be > 0.0 and < 1.0, not 1.5"),
    (["compress", "--scheme", "tt", "--ckpt", "{fp}", "--target", ".5", "--out", "{new}"],
     "invalid choice: 'tt'"),
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--target", ".5", "--out", "{new}",
      "--rank-step", "0"], "argument --rank-step: must be at least 1"),
    (["compress", "--scheme", "lowrank", "--ckpt", "{fp}", "--target", ".5", "--out", "{new}",
      "--steps", "-1"], "argument --steps: must be at least 0"),
    (["compress", "--scheme", "lowrank", "--ckpt", "{fp}", "--target", ".5", "--out", "{new}",
      "--lr", "nan"], "argument --lr: must be a finite number"),
    (["compress", "--scheme", "lowrank", "--ckpt", "{fp}", "--target", ".5", "--out", "{new}",
      "--samples", "0"], "argument --samples: must be at least 1"),
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--target", ".5", "--out", "{new}",
      "--threads", "0"], "argument --threads: must be at least 1"),
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--target", ".5", "--out", "{new}",
      "--rank-k", "-1"], "argument --rank-k: must be at least 0"),
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--target", ".5", "--out", "{new}",
      "--metric", "l7"], "invalid choice: 'l7'"),
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--target", ".5", "--out", "{new}",
      "--w-bits", "5"], "--w-bits: w_bits must be one of 8, 32, not 5"),
    (["compress", "--scheme", "svd", "--ckpt", "{ckpt}", "--target", ".5", "--out", "{new}"],
     "compress needs a float checkpoint, this one is binarised"),
    (["compress", "--scheme", "svd", "--ckpt", "{nope}", "--target", ".5", "--out", "{new}"],
     "{nope}: checkpoint directory not found"),
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--target", ".5", "--out", "{user}"],
     "not empty and not a vitsim output"),
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--target", ".5", "--out", "{fp}",
      "--force"], "--out {fp}: is the input {fp}"),
    (["compress", "--scheme", "svd", "--ckpt", "{fp}", "--target", ".5", "--out", "{ckpt}"],
     "already holds a vitsim checkpoint output; give --force"),
    # memory
    (["memory", "--set", "foo=bar"], "--set: unknown field 'foo'"),
    (["memory", "--set", "foo"], "--set: expected FIELD=VALUE, not 'foo'"),
    (["memory", "--set", "w_bits=2,3"], "--set takes one value: FIELD=VALUE"),
    (["memory", "--sweep", "foo=1,2"], "--sweep: unknown field 'foo'"),
    (["memory", "--sweep", "act_kib"], "--sweep: expected FIELD=v1,v2,..., not 'act_kib'"),
    (["memory", "--sweep", "head_w_bits=a:b"], "--sweep: 'a:b' is not an a:b:c tuple"),
    (["memory", "--hw", "{dir}"], "--hw {dir}: is a directory, not a file"),
    (["memory", "--hw", "{nope}"], "{nope}: no such file"),
    (["memory", "--hw", "{bad}"], "{bad}: not valid JSON"),
    (["memory", "--scheme-file", "{dir}"], "--scheme-file {dir}: is a directory, not a file"),
    (["memory", "--scheme-file", "{list}"], "{list}: top level must be an object"),
    (["memory", "--out", "{dir}"], "--out {dir}: is a directory, not a file"),
    (["memory", "--out", "."], "--out .: is a directory, not a file"),
    (["memory", "--out", "{file}/x.csv"], "--out {file}/x.csv: {file} is not a directory"),
    (["memory", "--plot", "{dir}"], "--plot {dir}: is a directory, not a file"),
    (["memory", "--plot", "{new}.txt"], "name a .png, .pdf or .svg file"),
    (["memory", "--out", "{new}.png", "--plot", "{new}.png"], "is also --out"),
    (["memory", "--hw", "{cfg}", "--out", "{cfg}"], "--out {cfg}: is the input {cfg}"),
    (["memory", "--checkpoint", "{nope}"], "{nope}/config.json: no such file"),
    (["memory", "--checkpoint", "{fp}", "--sweep", "act_kib=1,2"],
     "--checkpoint compares checkpoints"),
    (["memory", "--accel-package", "{pkg}", "--sweep", "act_kib=1,2"],
     "--accel-package reports one point; it takes no --sweep"),
    (["memory", "--accel-package", "{nope}"], "{nope}: no such package directory"),
    (["memory", "--accel-package", "{case}"], "'binary_array' is not 'int_network'"),
    (["memory", "--model", "nope_patch16_224"], "unknown model 'nope_patch16_224'; known models"),
    (["memory", "--scheme", "int3"], "unknown scheme 'int3'; known schemes: fp32"),
    # simulate --golden: the external memory model
    (["simulate", "--golden", "{pkg}", "--mem-latency", "0"],
     "--mem-latency must be an integer 1..256, not 0"),
    (["simulate", "--golden", "{pkg}", "--mem-latency", "257"],
     "--mem-latency must be an integer 1..256, not 257"),
    (["simulate", "--golden", "{pkg}", "--mem-bw", "0"],
     "--mem-bw must be a positive integer (bytes a cycle), not 0"),
    (["simulate", "--golden", "{pkg}", "--mem-stall", "0.95"],
     "--mem-stall must be a probability 0..0.9, not 0.95"),
    (["simulate", "--golden", "{pkg}", "--mem-stall", "-0.1"],
     "--mem-stall must be a probability 0..0.9, not -0.1"),
    (["simulate", "--golden", "{pkg}", "--mem-seed", "-1"],
     "--mem-seed must be an integer 0..2147483647, not -1"),
    (["simulate", "--golden", "{pkg}", "--mem-latency", "x"],
     "argument --mem-latency: invalid int value: 'x'"),
    # every config error names its flag (issue 19)
    (["golden", "--cut", "{pkg}", "--op", "all", "--head", "9", "--out", "{new}"],
     "--head: head must be between 0 and 1 (the network's heads), not 9"),
    (["golden", "--cut", "{pkg}", "--op", "patch_embed", "--head", "1", "--out", "{new}"],
     "--head: op 'patch_embed': its tensors have no heads; cut it without one"),
    (["golden", "--cut", "{pkg}", "--op", "all", "--head", "1", "--out", "{new}"], None),
    (["golden", "--out", "{new}", "--rows", "0"], "--rows: rows must be between 1 and 256"),
    (["golden", "--out", "{new}", "--cols", "3"], "--max-k: max_k must be a multiple of cols"),
    (["golden", "--out", "{new}", "--mode", "nand"], "--mode: mode must be one of 'xnor'"),
    (["synth", "--out", "{new}", "--cols", "0"], "--cols: cols must be between 1 and 1024"),
    (["golden", "--out", "{new}", "--m", "100000000"],
     "argument --m: must be at most 65536, not 100000000"),
    (["golden", "--out", "{new}", "--n", "65537"], "argument --n: must be at most 65536"),
    (["golden", "--out", "{new}", "--max-k", "16777216", "--m", "60000"],
     "--m/--n/--k: a binary_array case of this size does not fit in memory"),
    (["compress", "--scheme", "lowrank", "--ckpt", "{fp}", "--target", ".5", "--out", "{new}",
      "--rank-step", "99999"], "--rank-step: rank_step must be"),
    (["memory", "--set", "scheme.w_bits=0"],
     "--set scheme.w_bits=0: w_bits must be between 1 and 16, or 32 (float), not 0"),
    (["memory", "--set", "memory.act_kib=-1"],
     "--set memory.act_kib=-1: act_kib must be between 0 and"),
    (["memory", "--sweep", "scheme.w_bits=4,0"], "--sweep scheme.w_bits=0: w_bits must be"),
    (["memory", "--set", "mac.rows=0"], "--set mac.rows=0: rows must be between 1 and 256"),
    # --onchip-kib: a budget too small names the op at the peak; not a positive number
    (["compile", "{pkg}", "--out", "{new}", "--onchip-kib", "16"],
     "KiB cycle counters); the budget --onchip-kib is 16 KiB"),
    (["compile", "{pkg}", "--out", "{new}", "--onchip-kib", "0"],
     "argument --onchip-kib: must be positive, not 0"),
    (["compile", "{pkg}", "--out", "{new}", "--onchip-kib", "-3"],
     "argument --onchip-kib: must be positive, not -3"),
    (["compile", "{pkg}", "--out", "{new}", "--onchip-kib", "nan"],
     "argument --onchip-kib: must be a finite number, not nan"),
    (["compile", "{pkg}", "--out", "{new}", "--onchip-kib", "0.01"],
     "--onchip-kib 0.01 holds no scratchpad word (128 bytes)"),
    (["simulate", "--golden", "{pkg}", "--onchip-kib", "16"],
     "the budget --onchip-kib is 16 KiB"),
    (["simulate", "--golden", "{pkg}", "--onchip-kib", "inf"],
     "argument --onchip-kib: must be a finite number, not inf"),
    (["memory", "--model", "vit_digits", "--accel-package", "{pkg}", "--onchip-kib", "16"],
     "the budget --onchip-kib is 16 KiB"),
    (["memory", "--onchip-kib", "64"], "--onchip-kib sizes the accelerator of --accel-package"),
    # --double-buffer needs a budget; --program must be what compile wrote
    (["compile", "{pkg}", "--out", "{new}", "--double-buffer"],
     "double buffering needs an on-chip budget (--onchip-kib)"),
    (["simulate", "--golden", "{pkg}", "--double-buffer"],
     "double buffering needs an on-chip budget (--onchip-kib)"),
    (["memory", "--model", "vit_digits", "--accel-package", "{pkg}", "--double-buffer"],
     "--double-buffer needs an on-chip budget: give --onchip-kib KIB"),
    (["simulate", "--golden", "{pkg}", "--program", "{nope}"],
     "--program {nope}: not a compiled program (no program.json file)"),
    (["simulate", "--golden", "{pkg}", "--program", "{case}"],
     "not a compiled program (no program.json file)"),
    (["verilog", "gelu", "--rows", "0", "--out", "{new}"],
     "--rows: a binary-array flag; unit 'gelu' sets the whole config"),
    (["synth", "gelu", "--max-k", "64", "--out", "{new}"], "--max-k: a binary-array flag"),
    (["golden", "--config", "{cfg}", "--cols", "8", "--out", "{new}"],
     "--cols: a binary-array flag; --config FILE sets the whole config"),
    (["memory", "--set", "binary.cols=3"],
     "--set binary.cols=3: max_k must be a multiple of cols (3)"),
    (["memory", "--set", "model.depth=0"], "--set model.depth=0: depth must be between 1"),
    (["import", "--from", "timm", "--model", "fp_vit_digits", "{fp}/model.pt", "--out", "{new}",
      "--cfg", "depth=0"], "--cfg depth=0: depth must be between 1 and 256, not 0"),
    (["import", "--from", "timm", "--model", "fp_vit_digits", "{fp}/model.pt", "--out", "{new}",
      "--cfg", "foo=1"], "--cfg: unknown model field 'foo'"),
    # sweep: the spec (written by the fixture from SWEEP_SPECS) and the flags
    (["sweep", "{nope}", "--out", "{new}"], "{nope}: no such sweep spec file"),
    (["sweep", "{dir}", "--out", "{new}"], "{dir}: is a directory, not a sweep spec file"),
    (["sweep", "{bad}", "--out", "{new}"], "{bad}: not valid TOML"),
    (["sweep", "{root}/sw-key.toml", "--out", "{new}"],
     "sw-key.toml: field 'colour': unknown; known: axes, clock_mhz"),
    (["sweep", "{root}/sw-stage.toml", "--out", "{new}"],
     "sw-stage.toml: field 'stages': bad value 'place'"),
    (["sweep", "{root}/sw-noanalytic.toml", "--out", "{new}"],
     "field 'stages': must hold 'analytic'"),
    (["sweep", "{root}/sw-rtl.toml", "--out", "{new}"],
     "field 'stages': 'rtl' needs axes.packages"),
    (["sweep", "{root}/sw-synth.toml", "--out", "{new}"],
     "field 'stages': 'synth' needs axes.packages"),
    (["sweep", "{root}/sw-model.toml", "--out", "{new}"],
     "field 'axes.models': bad value 'resnet50'"),
    (["sweep", "{root}/sw-noscheme.toml", "--out", "{new}"],
     "field 'axes.schemes': axes.models and axes.schemes go together"),
    (["sweep", "{root}/sw-ckpt.toml", "--out", "{new}"],
     "field 'axes.checkpoints': {ckpt}/config.json: field 'metrics' missing"),
    (["sweep", "{root}/sw-pkg.toml", "--out", "{new}"],
     "field 'axes.packages': fp: no manifest.json there (not a network package)"),
    (["sweep", "{root}/sw-field.toml", "--out", "{new}"],
     "field 'axes.fields.foo': unknown field 'foo'"),
    (["sweep", "{root}/sw-value.toml", "--out", "{new}"],
     "field 'axes.fields': {{'memory.act_kib': -1}}: memory field: act_kib must be between 0"),
    (["sweep", "{root}/sw-latency.toml", "--out", "{new}"],
     "field 'axes.mem_latency': bad value 0"),
    (["sweep", "{root}/sw-clock.toml", "--out", "{new}"],
     "field 'clock_mhz': must be a positive number, not -5"),
    (["sweep", "{root}/sw-empty.toml", "--out", "{new}"], "field 'axes': names no design"),
    (["sweep", "{root}/sw-good.toml", "--out", "{user}"],
     "--out {user}: a non-empty directory that is not a sweep's output"),
    (["sweep", "{root}/sw-good.toml", "--out", "{file}"], "--out {file}: is a file"),
    (["sweep", "{root}/sw-good.toml", "--out", "{new}", "--workers", "0"],
     "argument --workers: must be at least 1"),
    (["sweep", "{root}/sw-good.toml", "--out", "{new}", "--scheduler", "localhost:8786"],
     "--scheduler: expected tcp://HOST:PORT, not 'localhost:8786'"),
    # board
    (["board"], f"{G}: ACTION"),
    (["board", "build", "--golden", "{pkg}"], f"{G}: --out"),
    (["board", "build", "--golden", "{nope}", "--out", "{new}"],
     "{nope}: not a network package (no such directory)"),
    (["board", "build", "--golden", "{pkg}", "--out", "{new}", "--baud", "9000000"],
     "--baud 9000000: the ulx3s-85f's 25 MHz clock gives no divisor of at least 4"),
    (["board", "build", "--golden", "{pkg}", "--out", "{new}", "--baud", "0"],
     "argument --baud"),
    (["board", "build", "--golden", "{pkg}", "--out", "{new}", "--board", "ulx3s-12f"],
     "argument --board: invalid choice: 'ulx3s-12f'"),
    (["board", "build", "--golden", "{pkg}", "--out", "{user}"],
     "--out {user}: not empty and not a vitsim output"),
    (["board", "build", "--golden", "{pkg}", "--out", "{pkg}/x"],
     "refusing to write there"),
    (["board", "build", "--golden", "{pkg}", "--out", "{new}", "--onchip-kib", "16"],
     "the budget --onchip-kib is 16 KiB"),
    (["board", "simulate", "--golden", "{pkg}", "--work", "{new}", "--divisor", "3"],
     "argument --divisor"),
    (["board", "simulate", "--golden", "{pkg}", "--work", "{user}"],
     "--work {user}: not empty and not a vitsim output"),
    (["board", "simulate", "--golden", "{pkg}", "--work", "{new}", "--image", "5"],
     "image must be between 0 and 0, not 5"),
    (["board", "run", "--golden", "{pkg}"], f"{G}: --port"),
    (["board", "run", "--golden", "{pkg}", "--port", "{nope}"],
     "{nope}: cannot open the serial port"),
    (["board", "run", "--golden", "{nope}", "--port", "{nope}"],
     "{nope}: not a network package (no such directory)"),
]

#: Sweep spec files the fixture writes beside the inputs (the rows name them).
SWEEP_SPECS = {
    "sw-key": 'colour = "red"\n[axes]\nmodels = ["vit_digits"]\nschemes = ["gsb"]\n',
    "sw-stage": 'stages = ["analytic", "place"]\n',
    "sw-noanalytic": 'stages = ["rtl"]\n',
    "sw-rtl": 'stages = ["analytic", "rtl"]\n[axes]\ncheckpoints = ["fp"]\n',
    "sw-synth": 'stages = ["analytic", "synth"]\n[axes]\ncheckpoints = ["fp"]\n',
    "sw-model": '[axes]\nmodels = ["resnet50"]\nschemes = ["gsb"]\n',
    "sw-noscheme": '[axes]\nmodels = ["vit_digits"]\n',
    "sw-ckpt": '[axes]\ncheckpoints = ["ck"]\n',
    "sw-pkg": '[axes]\npackages = ["fp"]\n',
    "sw-field": '[axes]\ncheckpoints = ["fp"]\n[axes.fields]\nfoo = [1, 2]\n',
    "sw-value": '[axes]\ncheckpoints = ["fp"]\n[axes.fields]\n"memory.act_kib" = [-1]\n',
    "sw-latency": '[axes]\npackages = ["net"]\nmem_latency = [0]\n',
    "sw-clock": 'clock_mhz = -5\n[axes]\ncheckpoints = ["fp"]\n',
    "sw-empty": '[axes]\n',
    "sw-good": '[axes]\ncheckpoints = ["fp"]\n',
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The inputs the rows name (see the module doc), under one directory."""
    from netpkgs import untrained_package

    from golden.cases import binary_array_case
    from golden.spec import BinaryArrayCfg
    from models.checkpoint import save_checkpoint
    from models.registry import create_model

    root = tmp_path_factory.mktemp("inputs")
    pkg = untrained_package(root, images=1, depth=1)  # also root/ck, a GSB checkpoint
    fp = save_checkpoint(str(root / "fp"), create_model("fp_vit_digits", depth=1),
                         extra={"data": "digits", "metrics": {"test_top1": 0.5}})
    case = root / "case"
    binary_array_case(BinaryArrayCfg(rows=2, cols=8, max_k=16), case, m=1, n=2, k=16)
    paths = {"root": root, "pkg": pkg, "ckpt": root / "ck", "fp": Path(fp), "case": case,
             "cfg": root / "cfg.json", "dir": root / "empty", "user": root / "mine",
             "file": root / "file.txt", "bad": root / "bad.json", "list": root / "list.json",
             "nope": root / "nope", "esc": root / "esc", "cfgdir": root / "cfgdir",
             "badver": root / "badver"}
    paths["cfg"].write_text(json.dumps({"kind": "binary_array", "rows": 2, "cols": 8,
                                        "max_k": 16}))
    paths["dir"].mkdir()
    (paths["user"] / "sub").mkdir(parents=True)
    (paths["user"] / "notes.txt").write_text("mine")
    (paths["user"] / "sub" / "x.bin").write_bytes(b"\0")
    paths["file"].write_text("a file\n")
    paths["bad"].write_text("{not json")
    paths["list"].write_text("[1, 2]")
    for name, text in SWEEP_SPECS.items():
        (root / f"{name}.toml").write_text(text)
    for name, change in (("esc", lambda m: m["weights"].update(file="../model.pt")),
                         ("badver", lambda m: m.update(version=2)), ("cfgdir", None)):
        shutil.copytree(fp, paths[name])
        cfg = paths[name] / "config.json"
        if change is None:
            cfg.unlink()
            cfg.mkdir()
            continue
        meta = json.loads(cfg.read_text())
        change(meta)
        cfg.write_text(json.dumps(meta))
    return paths


def _snapshot(*roots) -> dict:
    return {str(p): (p.stat().st_mode, p.read_bytes() if p.is_file() else None)
            for root in roots for p in sorted(Path(root).rglob("*"))}


def _fill(arg: str, paths: dict, new: Path) -> str:
    return arg.format(new=new, **paths)


@pytest.mark.parametrize("argv,fragment", ROWS, ids=[f"{i:03d}-{' '.join(r[0])[:40]}"
                                                     for i, r in enumerate(ROWS)])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(inputs, tmp_path, monkeypatch,
                                                         capsys, argv, fragment):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    new = tmp_path / "new-out"
    before = _snapshot(inputs["root"], tmp_path)
    args = [_fill(a, inputs, new) for a in argv]
    status = main(args)
    out, err = capsys.readouterr()
    if fragment is None:  # a control row: the same inputs, but good, must work
        assert status == 0, err
        return
    assert status == 2, (status, out[-500:], err[-2000:])
    assert err.startswith("vitsim") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err + out
    assert _fill(fragment, inputs, new) in err, err
    assert _snapshot(inputs["root"], tmp_path) == before


def test_the_table_covers_every_subcommand():
    from sim.cli import build_parser

    parser = build_parser()
    commands = set(next(a for a in parser._actions if a.dest == "command").choices)
    covered = {row[0][0] for row in ROWS if row[0]}
    assert commands - covered == set()
    assert sum(1 for r in ROWS if r[1] is not None) >= 150
