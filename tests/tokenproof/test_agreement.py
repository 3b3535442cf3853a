"""Three-engine agreement: the explicit-state explorer and BMC (tokenproof.bmc)
give the same verdict for every checked property on small universes, with the
default rules and with seeded mutants (issue 9).

Same system for both engines: the explorer's start world is BMC's ``world``,
its object bounds are BMC's ``extra`` elements (``extra_elements``), kernel
steps are explicit (no auto-GC), and BMC's non-object arguments are pinned to
the explorer's domains (``value_domains``) at every step, so "violated within
depth d" must agree exactly, with d the explorer's complete depth.  A
representative subset of properties (9, including those the mutants break)
keeps BMC within the test budget.
"""

from __future__ import annotations

import os

import pytest
import z3

import properties.catalog  # noqa: F401
from model.rules.registry import RULES
from properties.base import CATALOG
from tokenproof import bmc
from tokenproof.explorer import Explorer, Universe, extra_elements, start_world, value_domains
from tokenproof.mutants import load_seeded

DEPTH_CAP = int(os.environ.get("TOKENPROOF_AGREEMENT_DEPTH", "3"))
PROPS = ["live-threads-have-live-effective-tokens", "live-threads-have-live-real-tokens",
         "live-processes-have-live-primaries", "open-token-fds-refer-to-live-tokens",
         "live-threads-belong-to-live-processes", "exec-closes-close-on-exec-fds",
         "fork-child-runs-a-copy-of-the-real-token", "no-rule-changes-another-threads-impersonation",
         "primary-tokens-are-at-anonymous-level"]

LIFECYCLE = ["fork", "process_exit", "kacs_open_self_token", "kernel_free_token", "exec"]
THREADS = ["clone_thread", "thread_exit", "kacs_open_self_token", "close_handle", "kacs_revert", "kernel_free_token"]

UNIVERSES = {
    "threads": (Universe(threads=2, processes=1, tokens=2, privileges=()), THREADS),
    "fork": (Universe(threads=2, processes=2, tokens=3, privileges=(), handles=1), LIFECYCLE),
}

MUTANTS = ["fork-shares-token", "process-exit-leaves-threads-running", "exec-keeps-cloexec-fds"]
# free-token-ignores-fds is caught at depth 4: TOKENPROOF_AGREEMENT_DEPTH=4 (about 4 minutes) adds it
if DEPTH_CAP >= 4:
    MUTANTS.append("free-token-ignores-fds")


def bmc_restricted(props, rules, u: Universe, depth: int) -> dict[str, int | None]:
    """BMC (tokenproof.bmc's Unrolling) with every step's non-object arguments
    pinned to the explorer's domains: per property, the first violating depth, or
    None.  One unrolling serves every property (each query under its own
    assumption literal)."""
    world = start_world(u)
    unr = bmc.Unrolling(world.state, rules, extra_elements(u, world), 2, 60_000)
    doms = value_domains(u, rules)
    found: dict[str, int | None] = {pid: None for pid in props}
    for k in range(depth + 1):
        if k > 0:
            unr.extend()
            sv = unr.steps[k - 1]
            for i, (name, r) in enumerate(rules.items()):
                rows = []
                for row in doms[name]:
                    eqs = [sv.args[name][a.name] == unr.uni.lift(a.type, row[a.name])
                           for a in r.args if a.name in row]
                    rows.append(z3.And(*eqs) if eqs else z3.BoolVal(True))
                unr.add(z3.Implies(sv.sel == i, z3.Or(*rows)))
        for pid, prop in props.items():
            if found[pid] is not None:
                continue
            bad = bmc.violation(prop, unr, k)
            if bad is False:
                continue
            lit = z3.Bool(f"agree_{pid}_{k}_{unr.uni.tag}")
            unr.add(z3.Implies(lit, bmc._as_bool(bad)))
            ans = unr.solver.check(lit)
            assert ans != z3.unknown, f"BMC unknown on {pid} at depth {k}"
            if ans == z3.sat:
                found[pid] = k
            unr.solver.add(z3.Not(lit))  # retire the literal
    return found


def _agree(uname: str, mutant: str | None) -> None:
    u, names = UNIVERSES[uname]
    rules = {n: RULES[n] for n in names}
    if mutant:
        m = load_seeded()[mutant]
        rules = {n: r for n, r in m.rules(dict(RULES)).items() if n in names}
    props = {p: CATALOG[p] for p in PROPS}
    ex = Explorer(u, rules=rules, properties=props, keep_graph=False, max_depth=DEPTH_CAP)
    res = ex.run()
    assert res.complete
    # BMC to the explorer's depth: the depth of its complete state graph, or the depth
    # bound up to which it explored every path (DEPTH_CAP, for the test budget)
    depth = DEPTH_CAP if res.bounded else res.depth
    got = bmc_restricted(props, rules, u, depth)
    for pid in props:
        v = res.violations.get(pid)
        exp_depth = v.depth if v is not None and v.depth <= depth else None
        assert got[pid] == exp_depth, f"{uname}/{mutant or 'kacs'}: {pid}: explorer {exp_depth} vs BMC {got[pid]}"


@pytest.mark.parametrize("uname", sorted(UNIVERSES))
def test_agreement_default_model(uname):
    _agree(uname, None)


@pytest.mark.parametrize("mutant", MUTANTS)
def test_agreement_mutants(mutant):
    _agree("fork", mutant)
