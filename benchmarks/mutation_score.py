"""Mutation score of the property catalog: the share of generated rule mutants it kills.

Every mutant of ``tokenproof.killmatrix.all_mutants()`` (drop a guard, skip an
effect, ignore guards, flip a comparison, skip a privilege check, judge on the
effective instead of the primary token) is attacked by the concrete
random-walk oracle, then by BMC at ``--depth`` for the survivors.  Prints the
score, the per-operator breakdown and every survivor with its classification
(``equivalent``/``gap``, docs/soundness.md).  Target: >= 95%.

    .venv/bin/python benchmarks/mutation_score.py [--jobs 2] [--depth 2] [--no-bmc] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tokenproof.killmatrix import all_mutants, classify, kill_matrix, operator, select_mutants  # noqa: E402

TARGET = 0.95


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--depth", type=int, default=2, help="BMC depth for walk survivors (0: no BMC)")
    ap.add_argument("--timeout", type=int, default=20000, help="BMC timeout per query (ms)")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--no-bmc", action="store_true")
    ap.add_argument("--rules", default="", help="comma-separated rule names (default: all)")
    ap.add_argument("--json", default="", help="write the kill matrix here")
    ns = ap.parse_args()
    names = select_mutants([r for r in ns.rules.split(",") if r] or None)
    allm = all_mutants()
    print(f"mutation score: {len(names)} mutants, walks {ns.seeds}x{ns.steps}, "
          f"BMC depth {0 if ns.no_bmc else ns.depth}, {ns.jobs} job(s); target >= {TARGET:.0%}", flush=True)
    mat = kill_matrix(names, depth=0 if ns.no_bmc else ns.depth, timeout_ms=ns.timeout, jobs=ns.jobs,
                      seeds=ns.seeds, steps=ns.steps, use_bmc=not ns.no_bmc)
    by_op: Counter = Counter()
    killed_op: Counter = Counter()
    by_oracle: Counter = Counter()
    for k in mat.kills:
        op = operator(allm[k.mutant])
        by_op[op] += 1
        killed_op[op] += k.killed
        by_oracle[k.oracle or "survived"] += 1
    print(f"killed {len(mat.killed)}/{len(mat.kills)} = {mat.score:.1%} "
          f"({'meets' if mat.score >= TARGET else 'BELOW'} target); "
          f"excluding equivalent mutants: {mat.adjusted_score:.1%}; {mat.seconds:.0f}s")
    print("by oracle: " + ", ".join(f"{k} {v}" for k, v in sorted(by_oracle.items())))
    for op in sorted(by_op):
        print(f"  {op:22s} {killed_op[op]:4d}/{by_op[op]:<4d}")
    if mat.survivors:
        print("survivors:")
        for k in mat.survivors:
            cls, why = classify(k.mutant)
            print(f"  {k.mutant}: {cls}: {why}" + (f" [{k.note}]" if k.note else ""))
    if ns.json:
        Path(ns.json).write_text(json.dumps(mat.as_json(), indent=1))
        print(f"kill matrix written to {ns.json}")


if __name__ == "__main__":
    main()
