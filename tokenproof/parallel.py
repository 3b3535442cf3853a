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


def estimated_cost(pid: str, catalog: dict[str, Any], n_rules: int, profile: str = "kacs") -> float:
    """A static guess of a property's cost, for scheduling only (it never affects a verdict).

    Induction asks about one query per (property or lemma, rule); a property
    expected to stay unknown is then searched by BMC to the full depth, which
    costs more than the whole induction of most properties (measured:
    ``benchmarks/prove_catalog.py --settle``).  Workers take the properties
    longest first, so the long ones do not end up last on one worker.
    """
    prop = catalog[pid]
    group, todo = set(), [pid]
    while todo:
        q = todo.pop()
        if q in group or q not in catalog:
            continue
        group.add(q)
        todo.extend(catalog[q].support)
    rules = n_rules if getattr(prop, "rules", None) is None else len(prop.rules)
    cost = float(len(group) * rules)
    if prop.kind != "access" and prop.expected(profile) == "unknown":
        cost += 20.0 * n_rules
    return cost


def run_parallel(opts: RunOptions, ids: list[str], on_record: Callable[[Record], None] | None = None,
                 start_method: str = "spawn"):
    """Prove ``ids`` in ``opts.jobs`` worker processes; returns (records sorted by id, CacheStats)."""
    from tokenproof.cache import CacheStats

    stats = CacheStats()
    records: list[Record] = []
    ctx = mp.get_context(start_method)
    jobs = max(1, min(opts.jobs, len(ids)))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init, initargs=(opts,)) as pool:
        from model.profiles import get_profile
        from tokenproof.catalog_run import load_catalog

        catalog, n_rules = load_catalog(), len(get_profile(opts.profile))
        order = order_for_balance(ids, lambda p: estimated_cost(p, catalog, n_rules, opts.profile))
        pending: set[Future] = {pool.submit(_prove, pid) for pid in order}
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


__all__ = ["run_parallel", "order_for_balance", "estimated_cost"]
