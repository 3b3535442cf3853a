"""AccessCheck benchmarks (issue 5): relational proof time per property and bit at
N = 8, 16, 32, 64 ACEs, and executor AccessCheck calls per second.

    .venv/bin/python benchmarks/access_check.py                 # first bit of each property
    .venv/bin/python benchmarks/access_check.py --bits all      # every bit (slow at N = 64)
    .venv/bin/python benchmarks/access_check.py --sizes 8,16 --timeout 30000
"""

from __future__ import annotations

import argparse
import statistics
import time

from model import access as A
from model import domain as D
from model.access import ACE, SD
from model.scenarios import standard
from tokenproof.relational import RELATIONAL, overall, prove_property


def executor_rate(seconds: float = 2.0) -> tuple[float, float]:
    """Concrete AccessCheck calls per second: (4-ACE SDs, 64-ACE SDs)."""
    w = standard()
    tok = w.names["Token"]["alice"]
    out = []
    for n in (4, 64):
        aces = [ACE(True, i % 3 != 0, False, [D.SID_EVERYONE, D.SID_USERS, "S-1-5-21-1-1-1-1001"][i % 3],
                    D.mask(1 << (i % 9))) for i in range(n)]
        sd = SD("S-1-5-18", True, aces)
        calls, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            A.access_check(w.state, tok, sd, D.MAXIMUM_ALLOWED, D.TOKEN_MAPPING)
            calls += 1
        out.append(calls / (time.perf_counter() - t0))
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="8,16,32,64")
    ap.add_argument("--bits", default="first", help="first | all | comma-separated bit numbers")
    ap.add_argument("--timeout", type=int, default=60000, help="solver timeout per bit (ms)")
    ap.add_argument("--property", action="append", default=None)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    rate4, rate64 = executor_rate()
    print(f"executor AccessCheck: {rate4:,.0f} calls/s (4 ACEs), {rate64:,.0f} calls/s (64 ACEs)")
    print()
    print(f"{'property':<40} {'N':>3} {'verdict':<8} {'bits':>4} {'median/bit':>10} {'max/bit':>9}")
    for pid in args.property or RELATIONAL:
        prop = RELATIONAL[pid]
        all_bits = prop.bits(D.TOKEN_MAPPING)
        bits = all_bits[:1] if args.bits == "first" else all_bits if args.bits == "all" else \
            [int(b) for b in args.bits.split(",") if int(b) in all_bits]
        for n in sizes:
            res = prove_property(prop, n, timeout_ms=args.timeout, bits=bits,
                                 stop_at_refutation=prop.expect == "refuted")
            ts = [r.seconds for r in res]
            print(f"{pid:<40} {n:>3} {overall(res):<8} {len(res):>4} {statistics.median(ts):>9.2f}s "
                  f"{max(ts):>8.2f}s", flush=True)


if __name__ == "__main__":
    main()
