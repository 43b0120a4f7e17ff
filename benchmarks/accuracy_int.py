"""Float (fake-quant) vs integer-mode top-1 of trained checkpoints, side by side.

For each checkpoint: the float model's test top-1 (binary/GSB: with per-batch reductions as
trained, and per image as the hardware computes), then the integer-only network's top-1
(`models.intmode`, the arithmetic of the golden packages and the RTL), and the gap. The
integer network is calibrated on 256 training images (seed 0). Prints a Markdown table.

Usage::

    python benchmarks/accuracy_int.py --ckpt runs/ck/g0 runs/ck/gp0 runs/ck/b0 [--json F]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _row(path: str, batch_size: int) -> dict:
    from models.checkpoint import load_checkpoint
    from models.golden_export import load_int_model
    from models.intmode import evaluate_int
    from models.train import evaluate

    t0 = time.perf_counter()
    int_model, model, meta, data = load_int_model(path)
    per_image = 100 * evaluate(model, data.test, batch_size=batch_size)
    as_trained = None
    if meta.get("gsb") is not None and not meta["gsb"].get("per_image"):
        batch_model, _ = load_checkpoint(path)
        as_trained = 100 * evaluate(batch_model, data.test, batch_size=batch_size)
    top_int = evaluate_int(int_model, data.test, batch_size=batch_size)
    return {"ckpt": path, "model": meta["model"], "float_as_trained": as_trained,
            "float": per_image, "integer": top_int, "gap": per_image - top_int,
            "seconds": time.perf_counter() - t0, "images": len(data.test)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", nargs="+", required=True, help="checkpoint directories")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    rows = [_row(p, args.batch_size) for p in args.ckpt]
    print("| checkpoint | model | float, per batch (as trained) | float, per image | "
          "integer mode | gap (points) |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        trained = "—" if r["float_as_trained"] is None else f"{r['float_as_trained']:.2f}"
        print(f"| {r['ckpt']} | {r['model']} | {trained} | {r['float']:.2f} | "
              f"{r['integer']:.2f} | {r['gap']:+.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
