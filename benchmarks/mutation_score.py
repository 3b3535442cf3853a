"""Mutation score of the property catalog: the share of generated rule mutants it kills.

Every mutant of ``tokenproof.killmatrix.all_mutants()`` (drop a guard, skip an
effect, ignore guards, flip a comparison, skip a privilege check, judge on the
effective instead of the primary token) is attacked cheapest oracle first:

1. the conformance scenarios ``tests/scenarios/*.json`` (those that evaluate
   the mutated rule), run with the mutant's rules, every judged catalog
   property checked after every step;
2. the counterexample corpus ``counterexamples/{,nt/,found/}*.json``, the same way;
3. deterministic random walks from the standard world;
4. for what survives: BMC at ``--depth`` on the conjunction of the properties
   the mutant can affect, ``--bmc-budget`` wall seconds per mutant, none
   started after ``--deadline`` seconds; a refutation counts only once its
   counterexample replays.

*Killed* (the headline score) means a judged catalog property (kind state or
transition, not expected ``refuted`` on kacs) is violated on a concrete run
of the mutant's rules that the real rules pass.  A scenario whose expected
errno/return value changes is a *scenario kill* (second column), not a
catalog kill.  *Unknown*: no kill and the BMC was unknown or not run (budget);
*survived*: no kill and BMC found nothing within its bound.  Target: >= 95%.

    .venv/bin/python benchmarks/mutation_score.py [--jobs 2] [--depth 1] [--bmc-budget 60]
        [--deadline 780] [--no-bmc] [--rules R,...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tokenproof.killmatrix import (KILLED, SURVIVED, UNKNOWN, all_mutants, classify, kill_matrix,  # noqa: E402
                                   operator, select_mutants)

TARGET = 0.95


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--depth", type=int, default=1, help="BMC depth for the cheap oracles' survivors (0: no BMC)")
    ap.add_argument("--timeout", type=int, default=20000, help="BMC solver timeout per query (ms)")
    ap.add_argument("--bmc-budget", type=float, default=60.0, help="BMC wall seconds per mutant")
    ap.add_argument("--deadline", type=float, default=780.0,
                    help="start no BMC after this many wall seconds (0: no limit); later ones are unknown")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--no-bmc", action="store_true")
    ap.add_argument("--rules", default="", help="comma-separated rule names (default: all)")
    ap.add_argument("--json", default="", help="write the kill matrix here")
    ns = ap.parse_args()
    names = select_mutants([r for r in ns.rules.split(",") if r] or None)
    allm = all_mutants()
    depth = 0 if ns.no_bmc else ns.depth
    print(f"mutation score: {len(names)} mutants; scenarios, corpus, walks {ns.seeds}x{ns.steps}, "
          f"BMC depth {depth} ({ns.bmc_budget:.0f}s/mutant, deadline {ns.deadline:.0f}s); {ns.jobs} job(s); "
          f"target >= {TARGET:.0%}", flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    def progress(k) -> None:
        print(f"  {k.mutant}: {k.verdict} {k.oracle} {','.join(sorted(k.killed_by))[:80]} "
              f"scenario={len(k.scenario_kills)} cpu={k.cpu:.1f}s {k.note[:80]}", file=sys.stderr, flush=True)

    mat = kill_matrix(names, depth=depth, timeout_ms=ns.timeout, jobs=ns.jobs, seeds=ns.seeds, steps=ns.steps,
                      use_bmc=depth > 0, bmc_budget=ns.bmc_budget, deadline=ns.deadline, progress=progress)
    n = len(mat.kills)
    by_op: Counter = Counter()
    verdict_op: Counter = Counter()
    scen_op: Counter = Counter()
    by_oracle: Counter = Counter()
    for k in mat.kills:
        op = operator(allm[k.mutant])
        by_op[op] += 1
        verdict_op[op, k.verdict] += 1
        scen_op[op] += bool(k.scenario_kills)
        by_oracle[k.oracle or k.verdict] += 1
    either = sum(1 for k in mat.kills if k.killed or k.scenario_kills)
    print(f"killed by the catalog: {len(mat.killed)}/{n} = {mat.score:.1%} "
          f"({'meets' if mat.score >= TARGET else 'BELOW'} the {TARGET:.0%} target); "
          f"survived {len(mat.survivors)}, unknown {len(mat.unknowns)}")
    print(f"scenario kills (an expected outcome changes): {sum(1 for k in mat.kills if k.scenario_kills)}/{n} "
          f"= {mat.scenario_score:.1%}; catalog or scenario: {either}/{n} = {either / n if n else 1:.1%}")
    print(f"excluding reviewed-equivalent mutants: {mat.adjusted_score:.1%}")
    print(f"time: wall {mat.seconds:.0f}s, CPU {mat.cpu:.0f}s (workers included)")
    print("first killing oracle: " + ", ".join(f"{k} {v}" for k, v in sorted(by_oracle.items())))
    print(f"  {'operator':22s} {'killed':>7s} {'unknown':>8s} {'survived':>9s} {'scenario':>9s} {'total':>6s}")
    for op in sorted(by_op):
        print(f"  {op:22s} {verdict_op[op, KILLED]:7d} {verdict_op[op, UNKNOWN]:8d} {verdict_op[op, SURVIVED]:9d} "
              f"{scen_op[op]:9d} {by_op[op]:6d}")
    classes: Counter = Counter()
    for title, verdict in (("survivors", SURVIVED), ("unknown (not killed, BMC unknown or not run)", UNKNOWN)):
        ks = [k for k in mat.kills if k.verdict == verdict]
        if ks:
            print(f"{title}:")
        for k in ks:
            cls, why = classify(k.mutant, k)
            classes[cls] += 1
            print(f"  {k.mutant}: {cls}: {why}" + (f" [{k.note}]" if k.note and verdict == UNKNOWN else ""))
    if classes:
        print("not killed, by class: " + ", ".join(f"{c} {v}" for c, v in sorted(classes.items())))
    if ns.json:
        Path(ns.json).write_text(json.dumps(mat.as_json(), indent=1))
        print(f"kill matrix written to {ns.json}")
    if any("REPLAY MISMATCH" in u for k in mat.kills for u in k.unknown):
        print("ERROR: a BMC counterexample did not replay (tokenproof bug)")
        sys.exit(1)


if __name__ == "__main__":
    main()
