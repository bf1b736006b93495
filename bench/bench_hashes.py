"""Benchmark hashes/: pHash and PDQ throughput and the Hamming index, each against its baseline.

Run: python bench/bench_hashes.py [--quick] [--n N | --ten-million] [--skip-index]
One core (BLAS threads pinned to 1), generated 1024x768 JPEG images, medians. Prints our
figure, the baseline measured in the same run, and the ratio.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from io import BytesIO  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import imagehash  # noqa: E402
import numpy as np  # noqa: E402
import pdqhash  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from hashes import synthetic  # noqa: E402
from hashes.compute import DRAFT_SIZE, compute, hamming, pdq_hash, phash_dhash  # noqa: E402
from hashes.index import HammingIndex, linear_scan  # noqa: E402
from hashes.pdq import _plan, luma_from_rgb, pdq_from_luma  # noqa: E402


def per_item(fn, items, repeat: int = 3) -> float:
    """Median over `repeat` runs of the mean seconds per item."""
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        for it in items:
            fn(it)
        runs.append((time.perf_counter() - t) / len(items))
    return statistics.median(runs)


def line(name: str, ours: float, base: float, unit: str = "images/s") -> None:
    print(
        f"  {name:<34} ours {ours:10.1f} {unit}   baseline {base:10.1f} {unit}   "
        f"ratio {ours / base:6.2f}x"
    )


def _draft(b: bytes) -> Image.Image:
    img = Image.open(BytesIO(b))
    img.draft("L", DRAFT_SIZE)
    img.load()
    return img


def _imagehash_all(b: bytes) -> tuple[str, ...]:
    """Baseline for compute(): the reference libraries on a plain decode, plus the digests."""
    img = Image.open(BytesIO(b))
    rgb = np.asarray(img.convert("RGB"))
    return (
        str(imagehash.phash(img)),
        str(imagehash.dhash(img)),
        str(imagehash.phash(ImageOps.mirror(img))),
        pdqhash.compute_dihedral(rgb),
        hashlib.sha256(b).hexdigest(),
        hashlib.sha1(b).hexdigest(),
        hashlib.md5(b).hexdigest(),
    )


def _cold_pdq(b: bytes) -> object:
    _plan.cache_clear()  # every image a new size, as in a crawl
    return pdq_hash(b)


def _vec_hex(vec: np.ndarray) -> str:
    return np.packbits(vec.astype(bool)).tobytes().hex()


def bench_images(count: int) -> None:
    print(f"images: {count} generated 1024x768 JPEG q85; each figure the median of 3 runs")
    data = [synthetic.jpeg(seed) for seed in range(count)]
    ours = per_item(phash_dhash, data)
    base = per_item(lambda b: imagehash.phash(Image.open(BytesIO(b))), data)
    line("pHash (+dHash+mirror), draft path", 1 / ours, 1 / base)
    same = sum(
        phash_dhash(b)
        == (
            str(imagehash.phash(s := _draft(b))),
            str(imagehash.dhash(s)),
            str(imagehash.phash(ImageOps.mirror(s))),
        )
        for b in data
    )
    print(
        f"  pHash/dHash/mirror identical to imagehash on the same draft decode: {same}/{len(data)}"
    )
    dists = [hamming(phash_dhash(b)[0], str(imagehash.phash(Image.open(BytesIO(b))))) for b in data]
    print(
        f"  pHash vs imagehash default: identical {sum(d == 0 for d in dists)}/{len(dists)}, "
        f"max {max(dists)} bits"
    )

    ours = per_item(pdq_hash, data)
    base = per_item(
        lambda b: pdqhash.compute(np.asarray(Image.open(BytesIO(b)).convert("RGB"))), data
    )
    line("PDQ + 8 dihedral (decode incl.)", 1 / ours, 1 / base)
    line("  same, new image size every call", 1 / per_item(_cold_pdq, data), 1 / base)
    rgbs = [np.asarray(Image.open(BytesIO(b)).convert("RGB")) for b in data[: min(count, 30)]]
    lumas = [luma_from_rgb(a) for a in rgbs]
    ours = per_item(pdq_from_luma, lumas)
    base = per_item(pdqhash.compute_dihedral, rgbs)
    line("PDQ + 8 dihedral, decoded input", 1 / ours, 1 / base)
    same = sum(
        pdq_from_luma(lu)[0] == _vec_hex(pdqhash.compute(a)[0])
        for lu, a in zip(lumas, rgbs, strict=True)
    )
    print(f"  PDQ bit-identical to pdqhash on the same luma: {same}/{len(rgbs)}")
    ydist = np.array(
        [
            hamming(pdq_hash(b)[0], _vec_hex(pdqhash.compute(a)[0]))
            for b, a in zip(data, rgbs, strict=False)
        ]
    )
    print(
        f"  PDQ from JPEG Y plane vs pdqhash on RGB decode: identical {(ydist == 0).sum()}/"
        f"{len(ydist)}, median {np.median(ydist):.0f}, max {ydist.max()} bits"
    )
    ours = per_item(compute, data)
    base = per_item(_imagehash_all, data)
    line("compute(): all hashes + digests", 1 / ours, 1 / base)
    digests = per_item(
        lambda b: (hashlib.sha256(b).digest(), hashlib.sha1(b).digest(), hashlib.md5(b).digest()),
        data,
    )
    print(
        f"  of which sha256+sha1+md5: {digests * 1e6:.0f} us/image "
        f"({digests / ours:.0%} of compute())"
    )


def _queries(rng, data: np.ndarray, count: int, radius: int) -> np.ndarray:
    picks = data[rng.integers(0, len(data), count)].copy()
    words = data.shape[1]
    for q in picks[: count // 2]:  # half near-duplicates of stored hashes, half random
        for b in rng.choice(words * 64, size=radius // 2, replace=False):
            q[b // 64] ^= np.uint64(1) << np.uint64(b % 64)
    picks[count // 2 :] = rng.integers(
        0, 2**64 - 1, (count - count // 2, words), dtype=np.uint64, endpoint=True
    )
    return picks


def _faiss_times(data: np.ndarray, queries: np.ndarray, radius: int) -> list[float] | None:
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        return None
    faiss.omp_set_num_threads(1)
    as_bytes = data.astype(">u8").view(np.uint8).reshape(len(data), -1)
    index = faiss.IndexBinaryFlat(as_bytes.shape[1] * 8)
    index.add(as_bytes)
    qb = queries.astype(">u8").view(np.uint8).reshape(len(queries), -1)
    times = []
    for q in qb:
        t = time.perf_counter()
        index.range_search(q[None, :], radius + 1)  # faiss keeps distances < radius
        times.append(time.perf_counter() - t)
    return times


def bench_index(n: int, n_queries: int) -> None:
    rng = np.random.default_rng(1)
    print(f"index: N = {n:,} random hashes per size, {n_queries} queries")
    total_bytes = 0
    for bits, radius in ((64, 8), (256, 31)):
        data = rng.integers(0, 2**64 - 1, (n, bits // 64), dtype=np.uint64, endpoint=True)
        t = time.perf_counter()
        index = HammingIndex.from_hashes(data, bits)
        build = time.perf_counter() - t
        nbytes = data.nbytes + index._ids.nbytes + index._offsets.nbytes
        total_bytes += nbytes
        queries = _queries(rng, data, n_queries, radius)
        times = []
        for q in queries:
            t = time.perf_counter()
            index.search(q, radius)
            times.append(time.perf_counter() - t)
        scan = []
        for q in queries[:10]:
            t = time.perf_counter()
            linear_scan(data, q, radius)
            scan.append(time.perf_counter() - t)
        for q in queries[:5]:
            assert np.array_equal(index.search(q, radius)[0], linear_scan(data, q, radius)[0])
        med, p90 = np.median(times) * 1e3, np.percentile(times, 90) * 1e3
        print(
            f"  {bits}-bit r<={radius}: build {build:.1f} s, index {nbytes / 2**20:.0f} MiB, "
            f"query median {med:.3f} ms p90 {p90:.3f} ms, {n_queries} queries "
            f"{sum(times):.2f} s"
        )
        line(
            f"{bits}-bit query vs numpy scan", 1e3 / med, 1e3 / (np.median(scan) * 1e3), "queries/s"
        )
        ft = _faiss_times(data, queries[:50], radius)
        if ft is None:
            print("  faiss baseline: faiss-cpu not installed, skipped")
        else:
            line(
                f"{bits}-bit query vs faiss range_search", 1e3 / med, 1 / np.median(ft), "queries/s"
            )
        del index, data
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"  index memory (hashes + tables, both sizes): {total_bytes / 2**30:.2f} GiB; "
        f"process peak RSS {rss / 1024:.2f} GiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small run")
    ap.add_argument("--n", type=int, default=None, help="index entries (default 1M; quick 200k)")
    ap.add_argument("--ten-million", action="store_true", help="index at 10M entries")
    ap.add_argument("--skip-index", action="store_true")
    ap.add_argument("--skip-images", action="store_true")
    args = ap.parse_args()
    quick = args.quick or os.environ.get("BENCH_QUICK") == "1"
    n = 10_000_000 if args.ten_million else (args.n or (200_000 if quick else 1_000_000))
    if not args.skip_images:
        bench_images(20 if quick else 100)
    if not args.skip_index:
        bench_index(n, 200 if quick else 1000)


if __name__ == "__main__":
    main()
