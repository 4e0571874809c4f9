"""Filling the caches on Ray: ``genrenet extract`` and ``genrenet embed`` with ``--engine local``
and ``--engine ray`` (a local Ray on this machine) side by side in one run, on the same files:
wall time of the whole command (start-up, imports and Ray's start included), files per second,
the Ray / local ratio, and whether the two engines made the same cache entries (byte for byte)
and the same index.

    .venv/bin/python benchmarks/cache_engines.py --data ../shared/data/gtzan-mini --files 100

The input is the data folder's audio files repeated through symlinks (unique names) up to
``--files``, given with ``--from-list`` (as in ``scale.py``). Each engine fills its own empty
cache. On one machine Ray can only add overhead (its start, a worker process per task slot);
the figure says how much, to weigh against the nodes a cluster adds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, load_note, mib, repo_root  # noqa: E402
from scale import make_inputs, run  # noqa: E402

INDEX_OPTION = {"extract": "--out", "embed": "--index"}
FIELD = {"extract": "features", "embed": "embeddings"}


def entries(cache: Path) -> dict[str, bytes]:
    """Every cache entry by its path inside the cache folder."""
    return {str(p.relative_to(cache)): p.read_bytes() for p in sorted(cache.rglob("*.npy"))}


def index(out: Path, cache: Path, field: str) -> dict[str, dict]:
    """An index's records by path, cache files relative to the cache."""
    records = {}
    for line in out.read_text().splitlines():
        record = json.loads(line)
        if record.get(field):
            record[field] = str(Path(record[field]).relative_to(cache.resolve()))
        records[record["path"]] = record
    return records


def compare(verb: str, listing: Path, n: int, tmp: Path, workers: int) -> list[list[str]]:
    """Both engines on ``verb``; the table rows, and a line on what they made."""
    genrenet = str(repo_root() / ".venv" / "bin" / "genrenet")
    rows, walls, made = [], {}, {}
    for engine in ("local", "ray"):
        cache, out = tmp / f"{verb}-{engine}", tmp / f"{verb}-{engine}.jsonl"
        cmd = [genrenet, verb, "--from-list", str(listing), "--cache", str(cache.resolve())]
        cmd += [INDEX_OPTION[verb], str(out), "--engine", engine]
        if engine == "local":
            cmd += ["--workers", str(workers)]
        result = run(cmd)
        if result["rc"] not in (0, 1):
            sys.exit(f"error: {verb} --engine {engine} failed:\n{result['stderr'][-2000:]}")
        made[engine] = (entries(cache), index(out, cache, FIELD[verb]))
        walls[engine] = result["wall_s"]
        peaks = sorted(result["peaks"].values(), key=lambda p: -p[1])
        done = sum(1 for r in made[engine][1].values() if not r["error"])
        rows.append(
            [
                verb,
                engine,
                str(done),
                f"{result['wall_s']:.1f}",
                f"{done / result['wall_s']:.2f}",
                str(len(peaks)),
                mib(peaks[0][1]) if peaks else "?",
            ]
        )
    same_entries = made["local"][0] == made["ray"][0]
    same_index = made["local"][1] == made["ray"][1]
    print(
        f"{verb}: {len(made['local'][0])} entries local, {len(made['ray'][0])} ray; "
        f"entries byte-equal: {same_entries}; index equal: {same_index}; "
        f"Ray wall / local wall = {walls['ray'] / walls['local']:.2f}"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=repo_root().parent / "shared" / "data" / "gtzan-mini"
    )
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="local engine's threads")
    parser.add_argument("--only", choices=("extract", "embed"), default=None)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"{args.data} not found: no real music, nothing measured")
        return
    print(load_note())
    with tempfile.TemporaryDirectory(prefix="genrenet-cache-engines-") as name:
        tmp = Path(name)
        listing = make_inputs(args.data, args.files, tmp)
        rows = []
        for verb in [args.only] if args.only else ["extract", "embed"]:
            rows += compare(verb, listing, args.files, tmp, args.workers)
    headers = ["command", "engine", "tracks", "wall s", "tracks/s", "processes", "largest peak"]
    print(format_table(headers, rows))


if __name__ == "__main__":
    main()
