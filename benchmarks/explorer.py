"""Explorer throughput: states reached and states per CPU second for the reference
universes, with and without symmetry reduction, the abstraction of token contents,
the skipping of one-step-valid transition checks and the key memo (each run bounded
in CPU time).

    .venv/bin/python benchmarks/explorer.py [--seconds 60] [--only NAME] [--quick]

Printed as a table; nothing is asserted (speed targets live here, not in tests).
``--seconds`` bounds the *CPU* time of each exploration (the machine is shared);
``cpu`` is that CPU time, ``setup`` the CPU time of building the explorer (the z3
analysis: droppable fields and one-step-valid checks; memoised in-process per rule
set, so only the first configuration of a universe pays it), ``states/s`` states
per CPU second of exploration, ``skip`` the (transition property, rule) checks
proved valid and not evaluated, ``memo`` the key-memo hits.  Configurations:
``all`` (the defaults on), ``guarded`` (plus the guarded resets of dead contents), ``no-sym``, ``no-abs``, ``before`` (symmetry and
abstraction on, every transition check evaluated, no key memo: the explorer as it
was before these two shortcuts) and ``none`` (everything off).  ``--quick``
runs ``all`` and ``none``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.rules.registry import RULES  # noqa: E402
from tokenproof.explorer import Explorer, Universe  # noqa: E402

LIFECYCLE = ["fork", "process_exit", "thread_exit", "clone_thread", "kacs_open_self_token", "close_handle",
             "kernel_free_token", "kernel_destroy_session", "exec", "kacs_revert"]
REFERENCE = {
    "threads-3": (Universe(threads=3, processes=1, tokens=2, privileges=()),
                  ["clone_thread", "thread_exit", "kacs_open_self_token", "close_handle", "kacs_revert",
                   "kernel_free_token"]),
    "lifecycle-2x2x3": (Universe(threads=2, processes=2, tokens=3, privileges=()), LIFECYCLE),
    "issue-2x2x3-all-rules": (Universe(threads=2, processes=2, tokens=3), None),
    "issue-3x2x3-all-rules": (Universe(threads=3, processes=2, tokens=3), None),
}


CONFIGS = {  # name: symmetry, abstraction, prune_valid, key memo[, guarded resets]
    "all": (True, True, True, True),
    "guarded": (True, True, True, True, True),
    "no-sym": (False, True, True, True),
    "no-abs": (True, False, True, True),
    "before": (True, True, False, False),
    "none": (False, False, False, False),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0, help="CPU-time bound per exploration")
    ap.add_argument("--only", default=None)
    ap.add_argument("--config", default=None, help="comma-separated configurations (default: all five)")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    print(f"{'universe':24} {'config':7} {'states':>8} {'steps':>9} {'depth':>5} {'done':>4} "
          f"{'setup':>6} {'cpu':>7} {'states/s':>9} {'steps/s':>8} {'skip':>5} {'memo':>7}")
    names = list(CONFIGS)
    if a.quick:
        names = ["all", "none"]
    if a.config:
        names = [c.strip() for c in a.config.split(",") if c.strip()]
    for name, (u, rule_names) in REFERENCE.items():
        if a.only and a.only != name:
            continue
        rules = dict(RULES) if rule_names is None else {n: RULES[n] for n in rule_names}
        for cfg in names:
            sym, abst, prune, memo, *rest = CONFIGS[cfg]
            guarded = rest[0] if rest else False
            c0 = time.process_time()
            ex = Explorer(u, rules=rules, symmetry=sym, abstraction=abst, prune_valid=prune, keep_graph=False,
                          max_cpu_seconds=a.seconds, guarded=guarded)
            ex.canon.memo = memo
            c1 = time.process_time()
            r = ex.run()
            cpu = r.cpu_seconds
            print(f"{name:24} {cfg:7} {r.states:8} {r.steps:9} {r.depth:5} {'yes' if r.complete else 'no':>4} "
                  f"{c1 - c0:6.1f} {cpu:7.1f} {r.states / max(cpu, 1e-9):9.1f} {r.steps / max(cpu, 1e-9):8.0f} "
                  f"{ex.trans_checks_skipped:5} {ex.canon.memo_hits:7}", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
