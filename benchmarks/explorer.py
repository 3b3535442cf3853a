"""Explorer throughput: states reached and states per second for the reference
universes, with and without symmetry reduction (each run bounded in time).

    .venv/bin/python benchmarks/explorer.py [--seconds 30] [--only NAME]

Printed as a table; nothing is asserted (speed targets live here, not in tests).
"""

from __future__ import annotations

import argparse
import resource
import sys
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0, help="time bound per run")
    ap.add_argument("--only", default=None)
    a = ap.parse_args()
    print(f"{'universe':24} {'symmetry':8} {'states':>8} {'steps':>9} {'depth':>5} {'done':>5} "
          f"{'seconds':>8} {'states/s':>9} {'steps/s':>8}")
    for name, (u, names) in REFERENCE.items():
        if a.only and a.only != name:
            continue
        rules = dict(RULES) if names is None else {n: RULES[n] for n in names}
        for sym in (True, False):
            ex = Explorer(u, rules=rules, symmetry=sym, keep_graph=False, max_seconds=a.seconds)
            r = ex.run()
            print(f"{name:24} {'on' if sym else 'off':8} {r.states:8} {r.steps:9} {r.depth:5} "
                  f"{'yes' if r.complete else 'no':>5} {r.seconds:8.1f} {r.states / r.seconds:9.1f} "
                  f"{r.steps / r.seconds:8.0f}", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
