"""Robustness of our hashes: recall per transform and false-match rate over unrelated pairs.

Run: python bench/robustness.py [--quick]
Images: generated drawings (hashes.synthetic) plus benign images that installed PyPI packages
ship (scikit-image's data folder, matplotlib's sample data), read from the package folders;
nothing is downloaded. Prints markdown tables (copied into docs/hashing.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import sys
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import imagehash  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageEnhance, ImageOps  # noqa: E402

from hashes import synthetic  # noqa: E402
from hashes.compute import MediaHashes, compute, hamming, phash_dhash  # noqa: E402

TRANSFORMS = {
    "resize 50%": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "JPEG q50": lambda im: im,  # encoded at quality 50 below
    "crop 5%": lambda im: _crop(im, 0.05),
    "crop 10%": lambda im: _crop(im, 0.10),
    "border 10px": lambda im: ImageOps.expand(im, 10, fill=(255, 255, 255)),
    "text overlay": lambda im: _text(im),
    "mirror": ImageOps.mirror,
    "rotate 3deg": lambda im: im.rotate(3, resample=Image.Resampling.BICUBIC, expand=False),
    "brightness +20%": lambda im: ImageEnhance.Brightness(im).enhance(1.2),
}
THRESHOLDS = {
    "pdq": (31, 48, 63),
    "pdq+dihedral": (31, 48),
    "phash": (6, 8, 10, 12),
    "phash+mirror": (8, 10),
    "dhash": (10,),
}


# files that are versions of another shipped picture, so not "unrelated": keep only the first
RELATED = ("motorcycle_right", "chessboard_RGB")


def _crop(im: Image.Image, f: float) -> Image.Image:
    dx, dy = int(im.width * f / 2), int(im.height * f / 2)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def _text(im: Image.Image) -> Image.Image:
    out = im.copy()
    draw = ImageDraw.Draw(out)
    for i in range(3):
        draw.text(
            (10, 10 + i * im.height // 3),
            "example.org  sample text " * 2,
            fill=(255, 255, 0),
            font_size=max(12, im.height // 16),
        )
    return out


def package_images() -> list[tuple[str, Image.Image]]:
    """Benign images shipped inside installed packages (scikit-image, matplotlib)."""
    found = []
    for pkg, sub in (("skimage", "data"), ("matplotlib", "mpl-data/sample_data")):
        spec = importlib.util.find_spec(pkg)
        if spec is None or spec.origin is None:
            continue
        folder = Path(spec.origin).parent / sub
        for path in sorted(folder.glob("*")):
            if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
                continue
            try:
                im = Image.open(path)
                im.load()
            except Exception:  # noqa: BLE001
                continue
            if min(im.size) < 128 or any(path.name.startswith(p) for p in RELATED):
                continue
            rgb = im.convert("RGB")
            if any(np.array_equal(np.asarray(rgb), np.asarray(o)) for _, o in found):
                continue  # the same picture in another file (e.g. a grey and an RGB copy)
            found.append((f"{pkg}:{path.name}", rgb))
    return found


def dist(algo: str, a: MediaHashes, b: MediaHashes) -> int:
    if algo == "pdq":
        return hamming(a.pdq, b.pdq)
    if algo == "pdq+dihedral":
        return min(hamming(v, b.pdq) for v in a.pdq_dihedral)
    if algo == "phash":
        return hamming(a.phash, b.phash)
    if algo == "phash+mirror":
        return min(hamming(a.phash, b.phash), hamming(a.phash_mirror, b.phash))
    return hamming(a.dhash, b.dhash)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_gen = 20 if args.quick else 80
    images = [(f"generated:{s}", synthetic.image(1000 + s, (640, 480))) for s in range(n_gen)]
    shipped = package_images()
    images += shipped
    print(
        f"{len(images)} images: {n_gen} generated, {len(shipped)} shipped by packages "
        f"({', '.join(sorted({n.split(':')[0] for n, _ in shipped})) or 'none'})\n"
    )
    originals = [compute(synthetic.encode(im, "JPEG", quality=90)) for _, im in images]
    unusable = [name for (name, _), h in zip(images, originals, strict=True) if not h.usable]
    print(f"not usable (too small or PDQ quality < 50): {len(unusable)} {unusable}\n")
    keep = [i for i, h in enumerate(originals) if h.usable]

    algos = list(THRESHOLDS)
    header = (
        "| transform | "
        + " | ".join(f"{a} <= {t}" for a in algos for t in THRESHOLDS[a])
        + " | pHash<=10 & PDQ<=48 |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, fn in TRANSFORMS.items():
        q = 50 if name == "JPEG q50" else 90
        variants = [compute(synthetic.encode(fn(images[i][1]), "JPEG", quality=q)) for i in keep]
        cells = []
        for a in algos:
            ds = np.array([dist(a, originals[i], v) for i, v in zip(keep, variants, strict=True)])
            cells += [f"{np.mean(ds <= t):.2f}" for t in THRESHOLDS[a]]
        both = np.mean(
            [
                dist("phash+mirror", originals[i], v) <= 10
                and dist("pdq+dihedral", originals[i], v) <= 48
                for i, v in zip(keep, variants, strict=True)
            ]
        )
        print(f"| {name} | " + " | ".join(cells) + f" | {both:.2f} |")

    pairs = list(itertools.combinations(keep, 2))
    print(f"\nfalse matches over {len(pairs)} unrelated pairs (usable originals):\n")
    print("| algorithm | threshold | false matches | rate | min distance |")
    print("|---|---|---|---|---|")
    for a in algos:
        ds = np.array([dist(a, originals[i], originals[j]) for i, j in pairs])
        for t in THRESHOLDS[a]:
            print(f"| {a} | {t} | {int(np.sum(ds <= t))} | {np.mean(ds <= t):.2e} | {ds.min()} |")
    combo = sum(
        dist("phash+mirror", originals[i], originals[j]) <= 10
        and dist("pdq+dihedral", originals[i], originals[j]) <= 48
        for i, j in pairs
    )
    print(f"| phash+mirror<=10 & pdq+dihedral<=48 | - | {combo} | {combo / len(pairs):.2e} | - |")

    print("\nJPEG draft fast path vs imagehash default (1024x768 q85 generated JPEGs):\n")
    data = [synthetic.jpeg(s) for s in range(30 if args.quick else 100)]
    pd, dd = [], []
    for b in data:
        p, d, _ = phash_dhash(b)
        pd.append(hamming(p, str(imagehash.phash(Image.open(BytesIO(b))))))
        dd.append(hamming(d, str(imagehash.dhash(Image.open(BytesIO(b))))))
    for name, ds in (("pHash", pd), ("dHash", dd)):
        print(
            f"- {name}: identical {sum(x == 0 for x in ds)}/{len(ds)}, "
            f"max {max(ds)} bits, mean {np.mean(ds):.2f}"
        )


if __name__ == "__main__":
    main()
