"""Bounded model checking of one property from a concrete initial world.

The unrolling (``tokenproof.unrolling``) embeds the initial world in a finite
symbolic universe and builds every state as terms over the steps' choices.  One
``z3.Solver`` holds the permanent assertions (the steps' preconditions, and
each refuted depth's negated violation as a lemma); each depth's query is a
fresh solver given those assertions and the violation (``run_bmc(fresh=True)``,
the default: z3's non-incremental path, which preprocesses the whole formula;
``fresh=False`` queries the one solver under an assumption literal).  Depths
are tried in increasing order, so the first counterexample found is a
shortest one.  Each step's terms are one ``Z3_substitute`` per field of a
template normalized once (``Unrolling.normalized``: state reads at symbolic
keys become case splits on the template, before any depth's terms go in).
``rule_cone`` (``run_bmc(cone=True)``) can also drop the rules outside the
property's rule-level cone of influence.  Each depth is asked first without
the steps of ``DEFERRED_RULES`` (the rules that write request contents into a
new token, which make the unrolling largest): that query is a restriction of
the full one, so a counterexample it finds is taken; otherwise the depth is
asked with every rule (``run_bmc(defer=...)``).

Verdicts: ``refuted`` (with a model, turned into a concrete trace by
``tokenproof.cex`` and replayed by ``tokenproof.replay``), ``bounded-ok`` (no
violation up to the depth: *not* a proof) and ``unknown`` (the solver gave
up; z3's ``reason_unknown`` is kept).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import z3

from model.rules.registry import RULES, Rule
from model.state import SORTS
from model.values import not_
from properties.base import Property, StepInfo
from tokenproof.encode import Embedding
from tokenproof import satsolve
from tokenproof.depthrace import DepthRace
from tokenproof.portfolio import SAT, Attempt, race
from tokenproof.shortcuts import ladder
from tokenproof.reductions import IN_USE_FIELD, SymmetryBreaking, interchangeable, steps_succeed
from tokenproof.unrolling import (DEFAULT_TIMEOUT_MS, StepVars, Template, Unrolling, _as_bool, exact_universe,
                                  extend_universe, new_solver)

DEFAULT_EXTRA: dict[str, int] = {"Thread": 2, "Process": 1, "Token": 3, "Handle": 2, "Session": 1, "Socket": 1}
DEFAULT_DEPTH = 4
# Rules whose steps make the unrolling largest: they write request contents (SIDs, levels, privilege
# and restriction sets) into a new token that every later step may read.  Measured on the depth-4
# impersonate-peer query: 55 % (create), 17 % (duplicate) and 11 % (restrict) of its 948k clauses.
DEFERRED_RULES: tuple[str, ...] = ("kacs_create_token", "ioctl_duplicate", "ioctl_restrict")

# The external SAT solver pays for itself from this depth on: shallower queries take z3 well under a
# second, less than bit-blasting, writing and reading the CNF and completing the model cost.
SAT_FROM_DEPTH = 3

# The shortcuts (``tokenproof.shortcuts``) are asked from this depth on: shallower queries take z3 a
# second or two, and at a depth without a violation every restriction asked first is time lost.
SHORTCUTS_FROM_DEPTH = 3

# A restriction of a query (a shortcut, the query without the deferred rules) may use this share of
# the query's timeout before its lane moves on: it only pays when it is quickly satisfiable.
RESTRICTION_BUDGET = 0.25

REFUTED, BOUNDED_OK, UNKNOWN = "refuted", "bounded-ok", "unknown"


def parse_universe(text: str) -> dict[str, int]:
    """``"Thread=2,Token=3"`` -> ``{"Thread": 2, "Token": 3}`` (unnamed sorts keep their default)."""
    out = dict(DEFAULT_EXTRA)
    if not text:
        return out
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValueError(f"universe entry {part!r}: expected SORT=N (e.g. Token=3)")
        sort, n = (x.strip() for x in part.split("=", 1))
        match = [s for s in SORTS if s.lower() == sort.lower()]
        if not match:
            raise ValueError(f"universe entry {part!r}: unknown sort {sort!r} (known: {', '.join(SORTS)})")
        try:
            k = int(n)
        except ValueError:
            raise ValueError(f"universe entry {part!r}: {n!r} is not a number") from None
        if k < 0:
            raise ValueError(f"universe entry {part!r}: the count must be >= 0")
        out[match[0]] = k
    return out


@dataclass
class DepthStat:
    depth: int
    seconds: float
    result: str


@dataclass
class BMCResult:
    prop: Property
    verdict: str  # refuted | bounded-ok | unknown
    depth: int  # the violating depth (refuted), else the last depth fully checked
    max_depth: int
    seconds: float
    reason: str = ""  # reason_unknown for an unknown verdict
    stats: list[DepthStat] = field(default_factory=list)
    unrolling: "Unrolling | None" = None
    model: z3.ModelRef | None = None
    query: Any = None  # the symbolic AccessQuery (access properties)
    scenario: str = "standard"
    mutant: str | None = None
    profile: str = "kacs"
    cone: "Cone | None" = None  # the rule-level cone of influence used (None: every rule)
    settled_by: str = ""  # the restriction of the query that found the counterexample: a shortcut's name,
    # or "without <the deferred rules>"; "": the whole query (or no counterexample)

    @property
    def staged_hits(self) -> int:
        """1 when the counterexample came from a restriction of the query (``settled_by``)."""
        return int(bool(self.settled_by))

    @property
    def refuted(self) -> bool:
        return self.verdict == REFUTED

    def counterexample(self):
        """The concrete trace of a refutation (``tokenproof.cex.Counterexample``)."""
        from tokenproof.cex import from_model

        if self.verdict != REFUTED:
            raise ValueError(f"no counterexample: the verdict is {self.verdict}")
        return from_model(self)



@dataclass
class Cone:
    """The rule-level cone of influence of one property (see ``rule_cone``)."""

    fields: set[str]  # the cone: fields the violation depends on, closed under the kept rules' reads
    rules: list[str]  # rules that write a field of the cone (any step)
    last: list[str]  # rules the violating step may take (transition properties), else ``rules``
    dropped: list[str]  # rules that can only stutter for this property

    @property
    def encoded(self) -> list[str]:
        return [n for n in self.order if n in self.rules or n in self.last]

    order: list[str] = field(default_factory=list)


def rule_cone(prop: Property, tpl: Template, query: Any = None) -> Cone:
    """Which rules can matter for ``prop``: the rule-level cone of influence.

    Start from the fields ``C`` the violation reads (a state or access
    property: its check on the template state; a transition property: its
    check on every rule the violating step may take, with that rule's
    ``enabled``, over the pre-state).  Close ``C`` under "a rule that writes a
    field of ``C`` reads these fields to be enabled and to compute its
    ``C``-writes" (guards included: a write only happens when every guard
    passes, so the guards' reads are in the written value).  Every other rule
    writes no field of ``C``.

    Soundness: a step by a rule outside the cone leaves the projection of the
    state on ``C`` unchanged, and whether a cone rule is enabled and what it
    writes to ``C`` depends only on that projection.  Deleting every non-cone
    step from a trace therefore gives a trace (a valid execution: the kept
    steps are still enabled with the same arguments) whose states agree with
    the original on ``C`` after every kept step, so it violates the property
    at the same point; and it is no longer.  Hence "violated within depth d"
    is the same with and without the non-cone rules, and the first depth
    found by iterative deepening is still the shortest.  For a transition
    property only the steps *before* the violating one are restricted to the
    cone (the violating step may be any rule the property constrains).  When
    the cone is every field, every rule is kept and nothing changes.
    """
    names = tpl.names
    fields: set[str] = set()
    if prop.kind in ("state", "access"):
        fields |= tpl.deps([prop.check(tpl.pre) if prop.kind == "state" else prop.check(tpl.pre, query)])
        last = None
    elif prop.kind == "transition":
        last = [n for n in names if prop.rules is None or n in prop.rules]
        for n in last:
            r, out = tpl.rules[n], tpl.outs[n]
            info = StepInfo(n, None if r.kernel else tpl.actor, tpl.args[n], out.errno)
            fields |= tpl.deps([prop.check(tpl.pre, out.post, info), out.enabled])
    else:
        raise ValueError(f"{prop.id}: unknown property kind {prop.kind!r}")
    kept: set[str] = set()
    done: set[tuple[str, str]] = set()
    changed = True
    while changed:
        changed = False
        for n in names:
            hit = tpl.writes[n] & fields
            if not hit:
                continue
            kept.add(n)
            for what in ["enabled", *sorted(hit)]:
                if (n, what) in done:
                    continue
                done.add((n, what))
                more = tpl.reads(n, what) - fields
                if more:
                    fields |= more
                    changed = True
    rules = [n for n in names if n in kept]
    last = rules if last is None else last
    dropped = [n for n in names if n not in kept and n not in last]
    return Cone(fields, rules, last, dropped, order=list(names))


def violation(prop: Property, unr: Unrolling, k: int, query: Any = None) -> Any:
    """The negation of ``prop`` at depth ``k`` (a model Boolean)."""
    s = unr.states[k]
    if prop.kind == "state":
        return not_(prop.check(s))
    if prop.kind == "access":
        return not_(prop.check(s, query))
    if prop.kind == "transition":
        if k == 0:
            return False
        st = unr.steps[k - 1]
        pre = unr.states[k - 1]
        blind = _without_the_step(prop, pre, s)
        if blind is not None:  # the same check whatever the step: built once, not once per rule
            return _on_rules(blind, prop, unr, st)
        cases = []
        for i, name in enumerate(unr.rule_names):
            if prop.rules is not None and name not in prop.rules:
                continue
            r = unr.rules[name]
            info = StepInfo(name, None if r.kernel else st.actor, st.args[name], unr.step_term(k - 1, name, "errno"))
            bad = not_(prop.check(pre, s, info))
            if bad is False:
                continue
            cases.append(z3.And(st.sel == i, _as_bool(bad)))
        return z3.Or(*cases) if cases else False
    raise ValueError(f"{prop.id}: unknown property kind {prop.kind!r}")


class _StepLookedAt(Exception):
    """Raised by ``_NoStep``: the check reads the step."""


class _NoStep:
    """Passed as the step to a transition property's check to learn whether it reads it at all."""

    def __getattr__(self, name: str) -> Any:
        raise _StepLookedAt(name)


def _without_the_step(prop: Property, pre: Any, post: Any) -> Any:
    """The violation of a transition property whose check reads only the two states (never the step's
    rule, actor, arguments or errno); ``None`` if it reads the step."""
    try:
        return not_(prop.check(pre, post, _NoStep()))
    except _StepLookedAt:
        return None


def _on_rules(bad: Any, prop: Property, unr: Unrolling, st: StepVars) -> Any:
    """``bad`` after a step of one of the property's rules (any rule when it names none)."""
    if bad is False or prop.rules is None:
        return bad
    picked = [st.sel == i for i, n in enumerate(unr.rule_names) if n in prop.rules]
    return z3.And(z3.Or(*picked), _as_bool(bad)) if picked else False


def last_step_rules(prop: Property, unr: Unrolling, query: Any = None) -> list[int]:
    """The rules (selector values) whose step can be the last of a shortest counterexample.

    A transition property: the rules it constrains whose check is not trivially true.  A state or
    access property: the rules that write a field the property reads; any other last step leaves
    those fields, hence the verdict, as they were one depth earlier, where no violation exists."""
    tpl = unr.template
    if prop.kind == "transition":
        out = []
        for i, n in enumerate(unr.rule_names):
            if prop.rules is not None and n not in prop.rules:
                continue
            r, o = tpl.rules[n], tpl.outs[n]
            info = StepInfo(n, None if r.kernel else tpl.actor, tpl.args[n], o.errno)
            if not_(prop.check(tpl.pre, o.post, info)) is not False:
                out.append(i)
        return out
    fields = tpl.deps([prop.check(tpl.pre) if prop.kind == "state" else prop.check(tpl.pre, query)])
    return [i for i, n in enumerate(unr.rule_names) if tpl.writes[n] & fields]


def without_rules(query: list[Any], unr: Unrolling, k: int, names: tuple[str, ...]) -> list[Any] | None:
    """``query`` restricted to traces whose steps ``0..k-1`` take none of the rules ``names``: each
    selector test ``sel_j == r`` rewritten to false (so z3 drops those rules' branches before
    bit-blasting) plus ``sel_j != r``, which makes the rewriting exact.  ``None``: nothing to drop."""
    idx = [unr.rule_names.index(n) for n in names if n in unr.rule_names]
    if not idx or k == 0:
        return None
    pairs = [(unr.steps[j].sel == i, z3.BoolVal(False)) for j in range(k) for i in idx]
    return [z3.substitute(z3.And(*query), *pairs), *[z3.Not(test) for test, _ in pairs]]  # one walk, shared


def _check_staged(query: list[Any], unr: Unrolling, k: int, defer: tuple[str, ...], timeout_ms: int,
                  rlimit: int, sat: str = "z3", jobs: int = 1, shortcuts: bool = True) -> tuple[Any, Any, str]:
    """Check ``query`` (fresh solvers) after its restrictions, whose satisfiable answer is one of
    ``query`` and whose unsatisfiable one says nothing: first without the ``defer`` rules' steps, then
    the whole query.  ``jobs`` > 1, from depth ``SHORTCUTS_FROM_DEPTH`` on: that lane raced against one
    asking the ``tokenproof.shortcuts`` ladder (with ``shortcuts``; ``_lanes``).  (answer, result, the
    name of the restriction that settled it or "")"""
    narrow = without_rules(query, unr, k, defer)
    if sat != "z3":  # an external SAT solver: narrow, then whole, one after the other
        if narrow is not None:
            answer, sv = _decide(narrow, unr, k, timeout_ms, rlimit, sat)
            if answer == z3.sat:
                return z3.sat, sv, _without(defer)
        answer, sv = _decide(query, unr, k, timeout_ms, rlimit, sat)
        return answer, sv, ""
    lanes = _depth_lanes(query, narrow, unr, k, defer, jobs, shortcuts)
    got = race(lanes, timeout_ms, rlimit, unr.uni.bv)
    restrictions = {a.name for lane in lanes for a in lane if a.settles == {SAT}}
    return got.answer, got, got.winner if got.winner in restrictions else ""


def _depth_lanes(query: list[Any], narrow: list[Any] | None, unr: Unrolling, k: int, defer: tuple[str, ...],
                 jobs: int, shortcuts: bool, keep: bool = False) -> list[list[Attempt]]:
    """Depth ``k``'s attempts, lane by lane (``_lanes``): ``narrow`` (the query without the ``defer``
    rules) and the whole ``query``; with ``jobs`` > 1 and ``shortcuts``, from depth
    ``SHORTCUTS_FROM_DEPTH`` on, the ``tokenproof.shortcuts`` ladder."""
    first = [] if narrow is None else [_restriction(narrow, _without(defer))]
    rungs = [_restriction(q, name) for name, q in ladder(unr, k, query)] \
        if shortcuts and jobs > 1 and k >= SHORTCUTS_FROM_DEPTH else []
    return _lanes(tuple(query), first, rungs, jobs, keep)


def _restriction(assertions: list[Any], name: str) -> Attempt:
    return Attempt(tuple(assertions), 0, frozenset({SAT}), name, RESTRICTION_BUDGET)


def _without(defer: tuple[str, ...]) -> str:
    return "without " + "/".join(defer)


def _lanes(whole: tuple[Any, ...], first: list[Attempt], rungs: list[Attempt], jobs: int,
           keep: bool = False) -> list[list[Attempt]]:
    """Lane 0: the ``first`` restrictions, then the whole query.  With ``jobs`` > 1 and ``rungs``, lane
    1: the shortcut rungs, and nothing after them (two solvers on two cores each run slower, by about
    1.5x measured, so lane 0 finishes alone); lanes 2.. the whole query with z3 seed 2, 3, ...
    ``keep``: every one of the ``jobs`` lanes is listed (lane 1 empty without rungs; ``DepthRace``)."""
    lanes = [[*first, Attempt(whole, 0)]]
    if jobs > 1 and (rungs or keep):
        lanes.append(rungs)
        lanes += [[Attempt(whole, seed)] for seed in range(2, jobs)]
    return lanes


def _decide(assertions: list[Any], unr: Unrolling, k: int, timeout_ms: int, rlimit: int,
            sat: str) -> tuple[Any, Any]:
    """(answer, an object with ``model()`` and ``reason_unknown()``): the SAT solver ``sat`` behind z3's
    bit-blasting (``tokenproof.satsolve``) when it is not ``"z3"``, the query is bit-vector only and no
    deterministic ``rlimit`` is set; else z3 alone."""
    if sat != "z3" and unr.uni.bv and not rlimit:
        pins = [st.sel for st in unr.steps[:k]] + [st.actor for st in unr.steps[:k]]
        got = satsolve.check(assertions, pins, timeout_ms, sat)
        if got is not None:
            return got.answer, got
    sv = new_solver(timeout_ms, rlimit, qfbv=unr.uni.bv)
    sv.add(*assertions)
    return sv.check(), sv


def run_bmc(prop: Property, *, depth: int = DEFAULT_DEPTH, scenario: str = "standard",
            extra: dict[str, int] | None = None, timeout_ms: int = DEFAULT_TIMEOUT_MS,
            rules: dict[str, Rule] | None = None, mutant: str | None = None, profile: str = "kacs",
            extra_sids: int = 2, world: Any = None, cone: bool = False, fresh: bool = True,
            rlimit: int = 0, split: bool = False, pack: bool = True, bv: bool = False,
            defer: tuple[str, ...] = DEFERRED_RULES, reduce: bool = False, sat: str = "z3",
            sat_from: int | None = None, jobs: int = 1, shortcuts: bool = True) -> BMCResult:
    """Check ``prop`` on every execution of at most ``depth`` steps from ``scenario``.

    ``rules`` is the rule set (default: the KACS rules; pass ``mutant.rules()``
    to check a mutant).  ``extra`` sizes the universe (fresh elements per sort
    beyond the world's objects).  ``timeout_ms`` bounds each solver query.
    ``cone`` encodes only the property's rule-level cone of influence
    (``rule_cone``: same verdicts and depths, fewer rules per step).  Off by
    default: on the KACS rules every catalog property's cone keeps 33-35 of
    the 36 rules, and computing it (about 1 s of CPU) costs more than the
    dropped rules save on shallow queries (it pays at depth 3-4: the
    impersonate-peer mutant's depth-4 refutation, 33 s -> 20 s of CPU).

    ``fresh`` (default) checks each depth with a new ``z3.Solver`` holding the
    unrolling's assertions and the violation as a plain assertion, so z3 takes
    its non-incremental path (preprocessing, then the SMT core); ``False``
    keeps the one incremental solver queried under an assumption literal
    (measured 5-25x slower on depth 2-3 queries).  ``rlimit`` (z3 resource
    units, 0 = none) bounds each query deterministically, in addition to the
    wall-clock ``timeout_ms``.  ``split`` asks one query per rule the last step
    may take (``last_step_rules``), the first satisfiable one wins: the same
    depth, since every query is at that depth.  ``pack`` (default) builds the
    states from normalized templates (``Unrolling.normalized``); ``False`` is
    the older per-key substitution, kept as a reference.  ``bv`` numbers the
    elements of every sort (and the SIDs) as bit-vectors ``0..n-1``, each
    object or SID constant constrained to that range, instead of enumeration
    sorts: every query is then QF_BV and z3 bit-blasts it to its SAT solver
    (the fresh queries go to ``new_solver(qfbv=True)``: z3's bit-vector
    preprocessing, bit-blasting and SAT solver as one tactic).  Measured: a
    satisfiable depth-4 query (the impersonate-peer mutant) about 2x faster (median 10 s against 21 s of CPU over five seeds), but the
    unsatisfiable deep queries of the explorer agreement 2-4x slower; so off
    by default.

    ``defer`` (with ``fresh``): each depth is first asked without the steps of
    these rules (``_check_staged``: the rules that make the unrolling largest,
    ``DEFERRED_RULES``); a satisfiable answer is a trace of the full rule set,
    so it is taken at once, and otherwise the depth is asked again with every
    rule.  Verdicts and depths are unchanged (every "no violation at depth k"
    still comes from the full query); only which counterexample is found may
    differ.  ``()`` turns it off.

    ``reduce`` adds the two reductions of ``tokenproof.reductions``: the fresh objects of a sort
    come alive in index order (symmetry breaking), and once depth ``k`` has no violation, step
    ``k-1`` of the deeper queries does not fail for the rules whose failing step writes no field of
    the cone.  Same verdicts and depths.  ``sat`` names a SAT solver (python-sat's name, e.g.
    ``"cadical195"``) that decides z3's bit-blasted query from depth ``sat_from`` on (default
    ``SAT_FROM_DEPTH``; ``tokenproof.satsolve``; needs ``bv``); ``"z3"``: z3 alone.  Both are off by
    default, measured on the depth-3 and depth-4 mutants of the catalog (CPU, 2-core machine): they
    turn the slow *unsatisfiable* deep queries into answers (install-without-assign-primary's depth-3
    query: 85 s -> 44 s with ``reduce``, 20 s of CaDiCaL; that pair: unknown after a 120 s timeout
    -> refuted in 118-188 s; install-ignores-the-user/session-check: 56-68 s -> 27-52 s) but slow
    the satisfiable ones by 1.2-2x (free-token-ignores-socket-snapshots 8.7 s -> 14.5 s), which is
    most of the catalog.

    ``jobs`` > 1 (with ``fresh``, z3 alone, no ``split``) runs solver lanes on as many cores that work
    through the depths (``_race_depths``, ``tokenproof.depthrace``): each depth's query is handed to
    them as soon as it is built, and the next depth is built while they solve.  Lane 0 is the one-lane
    path above (without the deferred rules, then the whole query); lane 1 asks the
    ``tokenproof.shortcuts`` ladder from depth ``SHORTCUTS_FROM_DEPTH`` on, so it starts on depth
    ``k+1``'s shortcuts while lane 0 still proves depth ``k``; further lanes the whole query with other
    z3 seeds.  A depth is decided by a satisfiable attempt or the whole query's ``unsat`` (a
    restriction's ``unsat`` decides nothing), and a deeper counterexample waits for every shallower
    depth, so verdicts and depths are the one-lane ones; the counterexample found may vary from run
    to run.  Measured on the 2-core machine (``benchmarks/bmc_mutants.py --jobs 2``):
    install-ignores-the-user-check's depth-4 query, 32-67 s whole, is settled by the first shortcut
    in 4-5 s with z3's default solver and about 1.3 s with the bit-vector pipeline ``bv`` queries get
    (``tokenproof.unrolling.new_solver(qfbv=True)``); the whole pair takes 6-8 s.
    """
    from model.scenarios import SCENARIOS

    t0 = time.perf_counter()
    if world is None:
        if scenario not in SCENARIOS:
            raise KeyError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
        world = SCENARIOS[scenario]()
    rules = rules if rules is not None else RULES
    unr = Unrolling(world.state, rules, DEFAULT_EXTRA if extra is None else extra, extra_sids, timeout_ms,
                    names=world, pack=pack, bv=bv)
    query = None
    if prop.kind == "access":
        from properties.base import access_query

        query = access_query(unr.states[0], unr.uni)
        unr.solver.add(*unr.uni.take_ranges())
    res = BMCResult(prop, BOUNDED_OK, -1, depth, 0.0, unrolling=unr, query=query, scenario=scenario,
                    mutant=mutant, profile=profile)
    prefix: list[int] | None = None  # selector values allowed before the violating step
    if cone:
        res.cone = c = rule_cone(prop, unr.template, query)
        enc = c.encoded
        if enc and len(enc) < len(unr.rule_names):
            unr.restrict(enc)
        if set(c.rules) != set(unr.rule_names):
            prefix = [i for i, n in enumerate(unr.rule_names) if n in c.rules]
    last_rules = last_step_rules(prop, unr, query) if split and fresh else []
    cone_fields = res.cone.fields if res.cone is not None else None
    symmetry = _symmetry(unr, cone_fields) if reduce else None
    first_sat_depth = SAT_FROM_DEPTH if sat_from is None else sat_from
    deep = _Deepening(prop, unr, symmetry, prefix, cone_fields, reduce)
    if jobs > 1 and fresh and not split and sat == "z3":
        _race_depths(res, query, deep, DepthRace(jobs, timeout_ms, rlimit, unr.uni.bv), jobs, defer, shortcuts)
        res.seconds = time.perf_counter() - t0
        return res
    for k in range(depth + 1):
        deep.step(k)
        tq = time.perf_counter()
        bad = violation(prop, unr, k, query)
        if bad is False:
            res.stats.append(DepthStat(k, time.perf_counter() - tq, "unsat"))
            res.depth = k
            continue
        if fresh:
            # one solver per depth, the violation asserted outright: z3's non-incremental path
            # (preprocessing: propagate-values, solve-eqs, elim-uncnstr ... then the SMT core);
            # with ``split``, one query per rule the last step may take
            cands = [None] if not split or k == 0 else last_rules
            answer, solver, unknown = z3.unsat, None, None
            for i in cands:
                query_k = [*unr.solver.assertions(), _as_bool(bad)]
                if i is not None:
                    query_k.append(unr.steps[k - 1].sel == i)
                a, sv, staged = _check_staged(query_k, unr, k, defer, timeout_ms, rlimit,
                                              sat if k >= first_sat_depth else "z3", jobs, shortcuts)
                if a == z3.sat:
                    answer, solver = a, sv
                    res.settled_by = staged
                    break
                if a == z3.unknown and unknown is None:
                    unknown = sv
            if answer != z3.sat and unknown is not None:
                answer, solver = z3.unknown, unknown
        else:
            lit = z3.Bool(f"violation_{k}_{unr.uni.tag}")
            unr.add(z3.Implies(lit, _as_bool(bad)))
            solver = unr.solver
            answer = solver.check(lit)
        res.stats.append(DepthStat(k, time.perf_counter() - tq, str(answer)))
        if answer == z3.sat:
            model = unr.complete(solver.model(), k, bad, query)
            if model is None:
                res.verdict, res.reason = UNKNOWN, "the solver could not complete the counterexample (timeout)"
                break
            res.verdict, res.depth, res.model = REFUTED, k, model
            break
        if answer == z3.unknown:
            res.verdict, res.reason = UNKNOWN, solver.reason_unknown()
            break
        deep.no_violation(k, bad)  # no violation at depth k on any path
        res.depth = k
    res.seconds = time.perf_counter() - t0
    return res


@dataclass
class _Deepening:
    """What ``run_bmc`` adds to the unrolling at each depth: the step, and once the depth is known
    (or, raced, assumed) to have no violation, the lemmas the deeper queries may use."""

    prop: Property
    unr: Unrolling
    symmetry: SymmetryBreaking | None
    prefix: list[int] | None  # selector values allowed before the violating step (the rule cone)
    cone_fields: set[str] | None  # the rule cone's fields (None: every field)
    reduce: bool  # ``run_bmc(reduce=True)``: the failing-step reduction (``steps_succeed``)

    def step(self, k: int) -> None:
        if k > 0:
            self.unr.extend()
            if self.symmetry is not None:
                self.unr.solver.add(*self.symmetry.constraints(k))

    def no_violation(self, k: int, bad: Any) -> None:
        """Depth ``k`` has no violation: ``P(s_k)`` is implied by the unrolling, and asserting it helps
        the deeper queries (a k-induction-style strengthening); step ``k-1`` is a step before any
        violating one."""
        unr = self.unr
        unr.solver.add(z3.Not(_as_bool(bad)))
        if self.prefix is not None and k > 0:
            sel = unr.steps[k - 1].sel
            unr.solver.add(z3.Or(*[sel == i for i in self.prefix]) if self.prefix else z3.BoolVal(False))
        if self.reduce and k > 0:
            unr.solver.add(*steps_succeed(unr, k - 1, self.cone_fields))


def _race_depths(res: BMCResult, query: Any, deep: _Deepening, race: DepthRace, jobs: int,
                 defer: tuple[str, ...], shortcuts: bool) -> None:
    """``run_bmc`` with ``jobs`` > 1 (``tokenproof.depthrace``): each depth's query is built and handed to
    the lanes, and the next depth built while they solve, its query assuming every shallower depth free
    of violations (it is only read when that holds).  Lane 0 asks each depth without the ``defer`` rules,
    then whole; lane 1 the ``tokenproof.shortcuts`` ladder from ``SHORTCUTS_FROM_DEPTH`` on, so it works
    on depth ``k+1`` while lane 0 proves depth ``k``; lanes 2.. the whole query with other seeds.  Fills
    ``res`` as the one-lane loop does: the same verdicts and depths."""
    unr, prop = deep.unr, deep.prop
    bads: dict[int, Any] = {}
    try:
        for k in range(res.max_depth + 1):
            if race.settled():
                break
            deep.step(k)
            bad = bads[k] = violation(prop, unr, k, query)
            if bad is False:  # as in the one-lane loop: nothing to ask, nothing to add
                race.add(k, [])
                continue
            whole = [*unr.solver.assertions(), _as_bool(bad)]
            narrow = without_rules(whole, unr, k, defer)
            race.add(k, _depth_lanes(whole, narrow, unr, k, defer, jobs, shortcuts, keep=True))
            deep.no_violation(k, bad)
    except BaseException:  # e.g. Ctrl-C while building: stop the lanes before passing it on
        race.stop()
        race.result()
        raise
    got = race.result()
    last = 0.0
    for k, (answer, at) in sorted(got.decided.items()):
        res.stats.append(DepthStat(k, max(0.0, at - last), answer))
        last = max(last, at)
    if got.answer == SAT:
        d = got.depth
        res.settled_by = got.winner if got.winner != "query" else ""
        res.verdict, res.depth, res.model = REFUTED, d, unr.complete(got.model(), d, bads[d], query)
    elif got.answer == UNKNOWN:
        res.verdict, res.depth, res.reason = UNKNOWN, got.depth - 1, got.reason_unknown()
    else:
        res.depth = got.depth


def _symmetry(unr: Unrolling, fields: set[str] | None) -> SymmetryBreaking:
    """Symmetry breaking over the sorts whose liveness the query reads (every sort without a cone)."""
    sorts = [s for s, f in IN_USE_FIELD.items() if fields is None or f in fields]
    return SymmetryBreaking(unr, interchangeable(unr.init, unr.world, sorts))


__all__ = ["run_bmc", "without_rules", "DEFERRED_RULES", "rule_cone", "Cone", "BMCResult", "violation",
           "last_step_rules", "parse_universe", "DEFAULT_EXTRA", "DEFAULT_DEPTH", "DEFAULT_TIMEOUT_MS", "REFUTED",
           "BOUNDED_OK", "UNKNOWN",
           # re-exported from tokenproof.unrolling and tokenproof.encode
           "Unrolling", "Template", "StepVars", "extend_universe", "exact_universe", "new_solver", "Embedding"]
