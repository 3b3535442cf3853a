"""CaDiCaL behind z3: z3 simplifies and bit-blasts a QF_BV query to CNF, CaDiCaL decides it.

BMC's queries (``run_bmc(bv=True)``) are pure bit-vector formulas, so after z3's own
preprocessing (``BLAST``: simplification, equation solving, unconstrained-term elimination,
bit-blasting, Tseitin) the question is plain SAT, which a modern CDCL solver may answer faster
than z3's internal SAT core.  Measured on this machine (CPU seconds of the SAT call alone, on the
queries written to a file): the depth-3 query of the open-self-token-opens-the-effective-for-real
mutant (satisfiable) 7.6 (z3) / 1.7 (CaDiCaL), the depth-4 query of install-ignores-the-user-check
(satisfiable) 32-62 / 3.7, the depth-3 query of install-without-assign-primary-privilege
(unsatisfiable) 44 / 20.5.  End to end inside BMC the gain is smaller and often a loss: bit-blasting,
handing over the CNF and completing the model cost 1.5-5 s a query, and CaDiCaL's luck on a
satisfiable query varies as much as z3's (README, benchmark row of ``bmc_mutants.py``); so BMC uses
it only when asked (``run_bmc(sat=...)``, ``tokenproof check --sat``).  CaDiCaL 1.9.5 comes from
python-sat, which also offers Glucose, Kissat and others (``SOLVERS``).

A satisfiable answer still needs a z3 model (the counterexample is read from it): the query is
given *pins*, bit-vector constants (BMC: each step's selector and actor) whose bits are tied to
named Boolean constants, so they survive bit-blasting and their values can be read off the
CaDiCaL model; z3 then solves the original query with the pins fixed to those values, which
leaves it only the arguments of the chosen rules (a fraction of a second).  If z3 disagrees
(unsatisfiable), the bit-blasted CNF and the query differ: that is a bug here, raised.

A query whose bit-blasted form is not propositional (an uninterpreted function survived) is
left to z3 (``None``).  There is no deterministic resource limit on the CaDiCaL side: callers
that need one (``rlimit``) use z3.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import z3

BLAST = ("simplify", "propagate-values", "solve-eqs", "elim-uncnstr", "simplify", "bit-blast", "tseitin-cnf")
SOLVER = "cadical195"  # python-sat's name
SOLVERS = ("cadical195", "cadical153", "glucose4", "glucose3", "kissat404", "maplechrono",
           "minisat22")  # python-sat solvers that take a conflict budget
CHUNK = 20_000  # conflicts per slice of the search (about 0.5-2 s on BMC's queries)
_PIN = "tp!pin!"
_NAME = re.compile(r"^c (\d+) (\S+)$", re.M)  # dimacs(True): a variable's name


@dataclass
class Decided:
    """A solver answer with the two accessors BMC reads from a ``z3.Solver``."""

    answer: Any  # z3.sat | z3.unsat | z3.unknown
    found: z3.ModelRef | None = None
    reason: str = ""

    def model(self) -> z3.ModelRef:
        if self.found is None:
            raise z3.Z3Exception("no model: the answer is not sat")
        return self.found

    def reason_unknown(self) -> str:
        return self.reason


def _pin_bits(pins: list[Any]) -> list[Any]:
    """For pin ``n`` of width ``w``: Boolean constants ``tp!pin!n!i`` equivalent to its bits (two
    implications each, which equation solving does not eliminate)."""
    out = []
    for n, v in enumerate(pins):
        for i in range(v.size()):
            b, bit = z3.Bool(f"{_PIN}{n}!{i}"), z3.Extract(i, i, v) == 1
            out += [z3.Implies(b, bit), z3.Implies(bit, b)]
    return out


def check(assertions: list[Any], pins: list[Any], timeout_ms: int, solver: str = SOLVER) -> Decided | None:
    """Decide ``assertions`` (QF_BV) with the SAT solver ``solver`` (python-sat's name; default CaDiCaL);
    ``None`` if they do not bit-blast to CNF."""
    from pysat.formula import CNF
    from pysat.solvers import Solver

    deadline = time.monotonic() + timeout_ms / 1000
    goal = z3.Goal()
    goal.add(*assertions, *_pin_bits(pins))
    blasted = z3.Then(*BLAST)(goal)
    if len(blasted) != 1:
        return None
    sub = blasted[0]
    if sub.inconsistent():
        return Decided(z3.unsat)
    if len(sub) == 0:
        return _complete(assertions, {}, pins, deadline)
    if not z3.Probe("is-propositional")(sub):
        return None  # an atom that is not a Boolean constant survived (an uninterpreted function, say)
    text = sub.dimacs(True)
    names = {name: int(var) for var, name in _NAME.findall(text) if name.startswith(_PIN)}
    cnf = CNF(from_string=text)
    with Solver(name=solver, bootstrap_with=cnf.clauses) as sat:
        answer = _solve_until(sat, deadline)
        if answer is None:
            return Decided(z3.unknown, reason=f"timeout ({solver})")
        if not answer:
            return Decided(z3.unsat)
        true = {lit for lit in sat.get_model() if lit > 0}
    return _complete(assertions, {n: v in true for n, v in names.items()}, pins, deadline)


def _solve_until(sat: Any, deadline: float) -> bool | None:
    """Solve in slices of ``CHUNK`` conflicts until an answer or the deadline (``None``): python-sat's
    CaDiCaL cannot be interrupted, but takes a conflict budget, and keeps what it learnt between calls."""
    while True:
        sat.conf_budget(CHUNK)
        answer = sat.solve_limited()
        if answer is not None or time.monotonic() >= deadline:
            return answer


def _complete(assertions: list[Any], bits: dict[str, bool], pins: list[Any], deadline: float) -> Decided:
    """z3's model of ``assertions`` with every pin whose bits CaDiCaL fixed set to that value."""
    s = z3.Solver()
    s.set("timeout", max(1, int((deadline - time.monotonic()) * 1000)))
    s.add(*assertions)
    for n, v in enumerate(pins):
        got = [bits.get(f"{_PIN}{n}!{i}") for i in range(v.size())]
        if any(b is None for b in got):
            continue  # some bit was eliminated as irrelevant: leave the pin to z3
        s.add(v == sum(1 << i for i, b in enumerate(got) if b))
    answer = s.check()
    if answer == z3.unsat:
        raise AssertionError("CaDiCaL's model of the bit-blasted query does not extend to the query: "
                             "a bug in tokenproof.satsolve")
    if answer == z3.unknown:
        return Decided(z3.unknown, reason=f"completing CaDiCaL's model: {s.reason_unknown()}")
    return Decided(z3.sat, s.model())


__all__ = ["check", "Decided", "BLAST", "SOLVER", "SOLVERS"]
