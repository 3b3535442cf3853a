"""Worker processes for ``tokenproof prove --jobs N``.

Each worker (a fresh ``spawn``-ed interpreter: no z3 state is shared or
forked) builds its own ``catalog_run.Runner`` — its own prover and its own
handle on the on-disk proof cache — once, then proves the properties it is
given one at a time.  The unit of work is a property (its obligations stay
in one prover, where lemmas and symbolic transitions are reused); the
obligation cache on disk is shared, so a lemma one worker proved is a cache
hit for the others.  Results come back as plain ``Record`` dicts and are
sorted by property id, so the report does not depend on scheduling.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable

from tokenproof.catalog_run import Record, RunOptions

_RUNNER = None


def _init(opts: RunOptions) -> None:
    global _RUNNER
    from tokenproof.catalog_run import Runner

    _RUNNER = Runner(opts)


def _prove(pid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from tokenproof.cache import CacheStats

    assert _RUNNER is not None
    before = CacheStats.from_json(_RUNNER.stats().to_json())
    rec = _RUNNER.prove(pid, lookup=False)  # the main process already looked it up
    after = _RUNNER.stats().to_json()
    delta = {k: {f: after[k][f] - getattr(getattr(before, k), f) for f in ("hits", "misses")} for k in after}
    return rec.to_json(), delta


def order_for_balance(ids: list[str], cost: Callable[[str], float] | None = None) -> list[str]:
    """Longest first when costs are known (better packing), else id order."""
    if cost is None:
        return sorted(ids)
    return sorted(ids, key=lambda p: (-cost(p), p))


def run_parallel(opts: RunOptions, ids: list[str], on_record: Callable[[Record], None] | None = None,
                 start_method: str = "spawn"):
    """Prove ``ids`` in ``opts.jobs`` worker processes; returns (records sorted by id, CacheStats)."""
    from tokenproof.cache import CacheStats

    stats = CacheStats()
    records: list[Record] = []
    ctx = mp.get_context(start_method)
    jobs = max(1, min(opts.jobs, len(ids)))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init, initargs=(opts,)) as pool:
        pending: set[Future] = {pool.submit(_prove, pid) for pid in order_for_balance(ids)}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    row, delta = fut.result()
                    rec = Record.from_json(row)
                    records.append(rec)
                    stats.add(CacheStats.from_json(delta))
                    if on_record:
                        on_record(rec)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    records.sort(key=lambda r: r.id)
    return records, stats


__all__ = ["run_parallel", "order_for_balance"]
