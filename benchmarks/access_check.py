"""AccessCheck benchmarks (issue 5): relational proof time per property at
N = 8, 16, 32, 64 ACEs, and executor AccessCheck calls per second.

    nice .venv/bin/python benchmarks/access_check.py               # first bit of each property
    nice .venv/bin/python benchmarks/access_check.py --bits all    # every bit (slow)
    nice .venv/bin/python benchmarks/access_check.py --no-direct   # only what access-proofs does
    .venv/bin/python benchmarks/access_check.py --sizes 8,16 --timeout 30000

Columns, per property and N:

* ``auto``: what ``tokenproof access-proofs`` does: for properties declared
  ``walk_induction`` the N-independent walk induction (scope "every N"; its
  cost does not depend on N), else (or if it does not prove) the direct query
  over N symbolic ACEs (scope "N");
* ``direct``: the direct query over N symbolic ACEs alone (the cross-check).

Times are per bit (median over the bits run): process CPU seconds, then wall
seconds (wall is noisy on a shared machine).  A timeout is "unknown", never
"proved".
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


def executor_rate(seconds: float = 2.0) -> list[tuple[int, float, float]]:
    """Concrete AccessCheck calls per second on SDs of 4 and 64 ACEs: (N, per wall s, per CPU s)."""
    w = standard()
    tok = w.names["Token"]["alice"]
    out = []
    for n in (4, 64):
        aces = [ACE(True, i % 3 != 0, False, [D.SID_EVERYONE, D.SID_USERS, "S-1-5-21-1-1-1-1001"][i % 3],
                    D.mask(1 << (i % 9))) for i in range(n)]
        sd = SD("S-1-5-18", True, aces)
        calls, t0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < seconds:
            A.access_check(w.state, tok, sd, D.MAXIMUM_ALLOWED, D.TOKEN_MAPPING)
            calls += 1
        out.append((n, calls / (time.perf_counter() - t0), calls / max(time.process_time() - c0, 1e-9)))
    return out


def _cell(res) -> str:
    if not res:
        return f"{'-':<8} {'':<7} {'':>7} {'':>7}"
    scope = "every N" if all(r.method == "walk-induction" for r in res) else "N"
    cpu = statistics.median(r.cpu_seconds for r in res)
    wall = statistics.median(r.seconds for r in res)
    return f"{overall(res):<8} {scope:<7} {cpu:>6.2f}s {wall:>6.2f}s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="8,16,32,64")
    ap.add_argument("--bits", default="first", help="first | all | comma-separated bit numbers")
    ap.add_argument("--timeout", type=int, default=60000, help="solver timeout per bit (ms)")
    ap.add_argument("--property", action="append", default=None)
    ap.add_argument("--no-direct", action="store_true", help="skip the direct-query column")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    for n, wall_rate, cpu_rate in executor_rate():
        print(f"executor AccessCheck, {n:>2} ACEs: {wall_rate:,.0f} calls/s wall, {cpu_rate:,.0f} calls/CPU-s")
    print()
    head = f"{'verdict':<8} {'scope':<7} {'cpu/bit':>7} {'wall/bit':>7}"
    print(f"{'property':<38} {'N':>3} {'bits':>4}  auto: {head}  |  direct: {head}")
    for pid in args.property or RELATIONAL:
        prop = RELATIONAL[pid]
        all_bits = prop.bits(D.TOKEN_MAPPING)
        bits = all_bits[:1] if args.bits == "first" else all_bits if args.bits == "all" else \
            [int(b) for b in args.bits.split(",") if int(b) in all_bits]
        stop = prop.expect == "refuted"
        for n in sizes:
            auto = prove_property(prop, n, timeout_ms=args.timeout, bits=bits, stop_at_refutation=stop)
            direct = [] if args.no_direct else prove_property(prop, n, timeout_ms=args.timeout, bits=bits,
                                                              stop_at_refutation=stop, method="direct")
            print(f"{pid:<38} {n:>3} {len(bits):>4}  auto: {_cell(auto)}  |  direct: {_cell(direct)}", flush=True)


if __name__ == "__main__":
    main()
