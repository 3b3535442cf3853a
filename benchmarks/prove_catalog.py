"""Benchmark: the whole catalog proved cold (no cache), with per-query figures.

Prints the wall and CPU time of the full run, the number of solver queries,
their median and 95th percentile, how many obligations were discharged by the
frame rule (the rule writes nothing the property reads) or implied by an
earlier proof with fewer lemmas, which engine answered (ground instances on
QF_UFBV, or quantified z3), and where the time went (phases: building terms
in Python, grounding, z3 on the ground instances, quantified z3, validating
counterexamples to induction).  With ``--settle`` the properties induction
does not prove are then settled as ``tokenproof prove`` does (a recorded
counterexample that replays, else BMC), timed separately.  Target (issue 3):
at most 20 s cold on this 2-core machine.

    .venv/bin/python benchmarks/prove_catalog.py [--timeout MS] [--property ID ...] [--settle] [--cross-check]
"""

from __future__ import annotations

import argparse
import statistics
import time

from model.profiles import get_profile
from model.scenarios import SCENARIOS
from tokenproof.catalog_run import load_catalog, seed_solvers
from tokenproof.prover import InductionProver


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=int, default=10000)
    ap.add_argument("--profile", default="kacs")
    ap.add_argument("--property", action="append", default=None)
    ap.add_argument("--settle", action="store_true", help="also settle non-proved properties (corpus, then BMC)")
    ap.add_argument("--cross-check", action="store_true", help="also ask the combined all-rules sanity query")
    a = ap.parse_args()
    seed_solvers()
    catalog = load_catalog()
    ids = a.property or sorted(catalog)
    prover = InductionProver(get_profile(a.profile), catalog, SCENARIOS["standard"]().state, timeout_ms=a.timeout,
                             profile=a.profile, cross_check=a.cross_check)
    t0 = time.perf_counter()
    c0 = time.process_time()
    verdicts: dict[str, int] = {}
    slow = []
    unsettled = []
    for pid in ids:
        t1 = time.perf_counter()
        r = prover.prove(catalog[pid])
        verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
        if r.verdict != "proved" and r.prop.kind != "access":
            unsettled.append(r)
        slow.append((time.perf_counter() - t1, pid))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    q = sorted(prover.query_times)
    print(f"catalog: {len(ids)} properties, induction only (no BMC), one process")
    print(f"wall time            {wall:8.1f} s   (target: <= 20 s)")
    print(f"CPU time             {cpu:8.1f} s")
    print(f"verdicts             {verdicts}")
    print(f"solver queries       {len(q):8d}")
    if q:
        print(f"query median         {statistics.median(q) * 1000:8.1f} ms")
        print(f"query p95            {q[int(0.95 * (len(q) - 1))] * 1000:8.1f} ms")
    print(f"framed obligations   {prover.framed:8d}   (no solver call: the rule writes nothing the property reads)")
    print(f"implied obligations  {prover.subsumed:8d}   (no solver call: an unsat core with fewer lemmas covers it)")
    print(f"engines              {prover.engines}")
    print("phases (wall s):")
    for name, secs in sorted(prover.phases.items(), key=lambda kv: -kv[1]):
        print(f"  {name:18s} {secs:8.1f}")
    print(f"  {'other':18s} {wall - sum(prover.phases.values()):8.1f}   (the prover's own bookkeeping)")
    print("slowest properties:")
    for t, pid in sorted(slow, reverse=True)[:8]:
        print(f"  {t:7.2f} s  {pid}")
    if a.settle:
        from tokenproof.catalog_run import settle_by_bmc

        rules = get_profile(a.profile)
        t0, c0 = time.perf_counter(), time.process_time()
        settled: dict[str, int] = {}
        for r in unsettled:
            r = settle_by_bmc(r, rules, "standard", 3, a.timeout, None, a.profile)
            settled[r.verdict] = settled.get(r.verdict, 0) + 1
        print(f"settle (corpus replay, then BMC) of {len(unsettled)} non-proved: "
              f"{time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s CPU -> {settled}")


if __name__ == "__main__":
    main()
