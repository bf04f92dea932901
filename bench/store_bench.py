"""Local state store engines on this machine: rocksdict (RocksDB) against lmdb.

Why: the views move from Python dicts to on-disk stores (``tidings.stores.kv``); the engine
is chosen from these numbers. Each engine runs in a fresh child process so its RSS is its
own: N puts of ~150-byte values (Avro-like: some text, some noise) in batches, keys spread
over 10 tenants and written in random order as a changelog would deliver them; then close
and reopen (a clean restart: rocksdict's close flushes the memtables; after a kill RocksDB
also replays the WAL, at most the memtables' size), random gets of existing keys, and a
prefix scan of one tenant (N/10 keys). RSS is read after all of it; "anon" is RSS minus
file-backed shared pages (lmdb's memory map counts in RSS but is page cache); "growth" is
RSS minus RSS before the store was opened (interpreter, key order list). Disk is the
allocated size of the store's files.

The rocksdict rows go through ``PartitionStore`` itself, bounded by a ``StoreConfig``
(one block cache, memtables charged to it); "rocksdict defaults" is plain ``Rdict`` for
reference. The lmdb rows commit one transaction per batch, with and without fsync.

    .venv/bin/python -m bench.store_bench [--records 1000000] [--batch 1000]
        [--gets 100000] [--engines rocksdict-32mb,rocksdict-8mb,rocksdict-defaults,lmdb,lmdb-nosync]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

TENANTS = 10
ENGINES = ("rocksdict-32mb", "rocksdict-8mb", "rocksdict-defaults", "lmdb", "lmdb-nosync")


def key_of(i: int) -> bytes:
    return b"r/t%02d/u%08d" % (i % TENANTS, i)


def value_of(i: int, rng: random.Random) -> bytes:
    text = b'{"tenant":"t%02d","user":"u%08d","email":"u%08d@example.org"' % (
        i % TENANTS,
        i,
        i,
    )
    return (text + rng.randbytes(150 - len(text)))[:150]


class Engine(Protocol):
    def write(self, batch: list[tuple[bytes, bytes]], offset: int) -> None: ...
    def get(self, key: bytes) -> bytes | None: ...
    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...
    def close(self) -> None: ...


class KvEngine:
    """rocksdict through ``tidings.stores.kv.PartitionStore``."""

    def __init__(self, path: Path, cache_mb: int) -> None:
        from tidings.stores.kv import PartitionStore, StoreConfig

        config = StoreConfig(
            block_cache_bytes=cache_mb << 20,
            memtables_bytes=(cache_mb // 2) << 20,
            write_buffer_bytes=min(4, cache_mb // 4) << 20,
        )
        self.store = PartitionStore.open(
            path, "bench", 0, topic="bench", partitions=1, config=config
        )

    def write(self, batch: list[tuple[bytes, bytes]], offset: int) -> None:
        self.store.apply(batch, offset)

    def get(self, key: bytes) -> bytes | None:
        return self.store.get(key)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return self.store.iter_prefix(prefix)

    def close(self) -> None:
        self.store.close()


class RdictEngine:
    """Plain rocksdict with RocksDB's default options (8 MB block cache, 64 MB memtables,
    index and filter blocks outside the cache)."""

    def __init__(self, path: Path) -> None:
        from rocksdict import Options, Rdict

        path.mkdir(parents=True, exist_ok=True)
        self.db = Rdict(str(path / "db"), Options(raw_mode=True))

    def write(self, batch: list[tuple[bytes, bytes]], offset: int) -> None:
        from rocksdict import WriteBatch

        wb = WriteBatch(raw_mode=True)
        for k, v in batch:
            wb.put(k, v)
        wb.put(b"\x00offset", offset.to_bytes(8, "big"))
        self.db.write(wb)

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.db.get(key)
        return value

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        from rocksdict import ReadOptions

        read = ReadOptions()
        read.set_iterate_upper_bound(prefix[:-1] + bytes([prefix[-1] + 1]))
        it = self.db.iter(read)
        it.seek(prefix)
        while it.valid():
            yield it.key(), it.value()
            it.next()
        it.status()

    def close(self) -> None:
        self.db.close()


class LmdbEngine:
    def __init__(self, path: Path, sync: bool) -> None:
        import lmdb

        path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(path), map_size=8 << 30, sync=sync, metasync=sync)

    def write(self, batch: list[tuple[bytes, bytes]], offset: int) -> None:
        with self.env.begin(write=True) as txn:
            for k, v in batch:
                txn.put(k, v)
            txn.put(b"\x00offset", offset.to_bytes(8, "big"))

    def get(self, key: bytes) -> bytes | None:
        with self.env.begin() as txn:
            value: bytes | None = txn.get(key)
            return value

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        with self.env.begin() as txn:
            cursor = txn.cursor()
            if not cursor.set_range(prefix):
                return
            for k, v in cursor:
                if not k.startswith(prefix):
                    return
                yield k, v

    def close(self) -> None:
        self.env.close()


def make(engine: str, path: Path) -> Callable[[], Engine]:
    factories: dict[str, Callable[[], Engine]] = {
        "rocksdict-32mb": lambda: KvEngine(path, 32),
        "rocksdict-8mb": lambda: KvEngine(path, 8),
        "rocksdict-defaults": lambda: RdictEngine(path),
        "lmdb": lambda: LmdbEngine(path, sync=True),
        "lmdb-nosync": lambda: LmdbEngine(path, sync=False),
    }
    return factories[engine]


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def child(engine: str, path: Path, records: int, batch_size: int, gets: int) -> dict[str, Any]:
    import psutil

    proc = psutil.Process()
    rng = random.Random(7)
    order = list(range(records))
    rng.shuffle(order)
    open_engine = make(engine, path)
    rss_start = proc.memory_info().rss
    store = open_engine()

    load_s = 0.0  # the writes only, not the building of the batches
    for first in range(0, records, batch_size):
        batch = [(key_of(i), value_of(i, rng)) for i in order[first : first + batch_size]]
        started = time.perf_counter()
        store.write(batch, first + len(batch))
        load_s += time.perf_counter() - started
    store.close()

    started = time.perf_counter()
    store = open_engine()
    reopen_s = time.perf_counter() - started

    probes = [key_of(rng.randrange(records)) for _ in range(gets)]
    started = time.perf_counter()
    found = sum(1 for k in probes if store.get(k) is not None)
    get_s = time.perf_counter() - started
    assert found == gets, (found, gets)

    started = time.perf_counter()
    scanned = sum(1 for _ in store.scan(b"r/t03/"))
    scan_s = time.perf_counter() - started
    assert scanned == records // TENANTS, scanned

    mem = proc.memory_info()
    store.close()
    return {
        "engine": engine,
        "puts_per_s": records / load_s,
        "load_s": load_s,
        "reopen_ms": reopen_s * 1000,
        "gets_per_s": gets / get_s,
        "scan_keys": scanned,
        "scan_ms": scan_s * 1000,
        "rss_mb": mem.rss / 2**20,
        "anon_mb": (mem.rss - mem.shared) / 2**20,
        "rss_start_mb": rss_start / 2**20,
        "disk_mb": disk_bytes(path) / 2**20,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| engine | puts/s | reopen ms | gets/s | prefix scan ms | RSS MB | RSS growth MB "
        "| anon MB | disk MB |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = [
        f"| {r['engine']} | {r['puts_per_s']:,.0f} | {r['reopen_ms']:,.0f} | "
        f"{r['gets_per_s']:,.0f} | {r['scan_ms']:,.0f} | {r['rss_mb']:,.0f} | "
        f"{r['rss_mb'] - r['rss_start_mb']:,.0f} | "
        f"{r['anon_mb']:,.0f} | {r['disk_mb']:,.0f} |"
        for r in rows
    ]
    return "\n".join([head, *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--gets", type=int, default=100_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory (a temp dir)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = child(args.child, args.dir, args.records, args.batch, args.gets)
        print(json.dumps(result))
        return

    scratch = Path(args.dir or tempfile.mkdtemp(prefix="store-bench-"))
    rows = []
    try:
        for engine in args.engines.split(","):
            path = scratch / engine
            shutil.rmtree(path, ignore_errors=True)
            out = subprocess.run(
                [
                    sys.executable, "-m", "bench.store_bench", "--child", engine,
                    "--dir", str(path), "--records", str(args.records),
                    "--batch", str(args.batch), "--gets", str(args.gets),
                ],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"{engine}: done", file=sys.stderr)
            shutil.rmtree(path, ignore_errors=True)
    finally:
        if args.dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"{args.records:,} puts of 150-byte values in batches of {args.batch:,}, "
        f"{args.gets:,} random gets, prefix scan of {args.records // TENANTS:,} keys; "
        f"{os.cpu_count()} CPUs"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
