"""Benchmark: the whole catalog proved cold (no cache), with per-query figures.

Prints the wall time of the full run, the number of solver queries, their
median and 95th percentile, how many obligations were discharged by the frame
rule (the rule writes nothing the property reads) and which engine answered
(ground instances on QF_UFBV, or quantified z3).  Target (issue 3): at most
20 s cold on this 2-core machine.

    .venv/bin/python benchmarks/prove_catalog.py [--timeout MS] [--property ID ...]
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
    a = ap.parse_args()
    seed_solvers()
    catalog = load_catalog()
    ids = a.property or sorted(catalog)
    prover = InductionProver(get_profile(a.profile), catalog, SCENARIOS["standard"]().state, timeout_ms=a.timeout,
                             profile=a.profile)
    t0 = time.perf_counter()
    verdicts: dict[str, int] = {}
    slow = []
    for pid in ids:
        t1 = time.perf_counter()
        r = prover.prove(catalog[pid])
        verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
        slow.append((time.perf_counter() - t1, pid))
    wall = time.perf_counter() - t0
    q = sorted(prover.query_times)
    print(f"catalog: {len(ids)} properties, induction only (no BMC), one process")
    print(f"wall time            {wall:8.1f} s   (target: <= 20 s)")
    print(f"verdicts             {verdicts}")
    print(f"solver queries       {len(q):8d}")
    if q:
        print(f"query median         {statistics.median(q) * 1000:8.1f} ms")
        print(f"query p95            {q[int(0.95 * (len(q) - 1))] * 1000:8.1f} ms")
    print(f"framed obligations   {prover.framed:8d}   (no solver call: the rule writes nothing the property reads)")
    print(f"engines              {prover.engines}")
    print("slowest properties:")
    for t, pid in sorted(slow, reverse=True)[:8]:
        print(f"  {t:7.2f} s  {pid}")


if __name__ == "__main__":
    main()
