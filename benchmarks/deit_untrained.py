"""An untrained GSB DeiT checkpoint on a folder of random RGB images (no downloads).

Writes ``OUT/imgs`` (``--classes`` classes, one random 224x224 PNG each in ``train/`` and
``test/``) and ``OUT/ck``, an untrained ``--model`` (``pretrained=False``, biases
perturbed, one forward pass to settle its data-dependent state; tests/netpkgs.py) of
``--depth`` blocks at ``--img`` pixels, recorded as trained on that folder. Then:

    vitsim golden --ckpt OUT/ck --images 1 --out OUT/net
    vitsim compile OUT/net --out OUT/prog --reuse
    vitsim simulate --golden OUT/net ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def image_folder(root: Path, size: int, classes: int) -> str:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in range(classes):
            d = root / split / f"c{c}"
            d.mkdir(parents=True, exist_ok=True)
            px = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(px).save(d / "0.png")
    return str(root)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="new directory to write")
    p.add_argument("--model", default="gsb_deit_tiny_distilled_patch16_224")
    p.add_argument("--depth", type=int, default=12)
    p.add_argument("--img", type=int, default=224)
    p.add_argument("--classes", type=int, default=10)
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        print(f"--out {out}: already exists", file=sys.stderr)
        return 2
    from netpkgs import untrained_checkpoint

    data = image_folder(out / "imgs", args.img, args.classes)
    ck = untrained_checkpoint(out, args.model, data=data, depth=args.depth,
                              img_size=args.img, num_classes=args.classes)
    print(f"wrote {ck} ({args.model}, depth {args.depth}, {args.img} px, "
          f"{args.classes} classes on {data})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
