"""Soundness checks of the provers' verdicts: vacuity, a second solver, unknown-as-verdict.

Vacuity (``vacuity_report``).  An induction proof ``S(pre) ∧ enabled_r ∧ ¬Q(post)``
is worthless if its premises cannot hold.  For every property we check

* **premises**: some state satisfies the invariant and its support lemmas.
  A concrete witness is tried first (the initial world of the standard
  scenario, and the states of deterministic random walks of the executor:
  reachable states), then one SAT query;
* **rule guards**: every rule can succeed (``enabled ∧ errno == 0``) from a
  state satisfying the invariants; a concrete successful step of a random
  walk is a witness, else one SAT query per rule (a model is accepted only if
  the concrete executor replays it with errno 0 from a pre-state satisfying
  the invariants).  A rule never enabled under the invariants is reported;
* **antecedents** (transition properties): the property can be falsified by
  *some* post-state after a step of one of its rules from a state satisfying
  the invariants, i.e. its antecedent is reachable and its consequent says
  something.  Concretely: a step of a random walk after which the property
  fails on some other state of the walk taken as post-state; else the SAT
  query ``S(pre) ∧ enabled_r ∧ ¬P(pre, X, step)`` with ``X`` an unconstrained
  state.  Unsat for every rule: the property holds trivially (flagged).

``apply_vacuity`` turns a ``proved`` result whose premises are unsatisfiable
into ``unknown`` ("VACUOUS: ..."), so a vacuous proof is never reported as
proved.

Second solver (``cross_check``).  ``RecordingProver`` (a subclass of
``tokenproof.prover.InductionProver``) keeps the formulas of every query;
each ``unsat`` obligation is re-asked to cvc5 through SMT-LIB2 (``z3``'s
``to_smt2``, cvc5's parser): for obligations z3 proved on the ground
instances (engine ``ground``), the same ground QF_UFBV formula (rebuilt with
``tokenproof.smt``'s ``Grounder``/``instantiate``); otherwise the quantified
formula (cvc5 with enumerative instantiation, ``full-saturate-quant``).
cvc5 ``sat`` is a disagreement (``CrossCheckDisagreement``, loud);
``unknown``/timeouts are "not cross-checked", never a disagreement.

``tokenproof prove --cross-check cvc5`` does the same inside the catalog run
(``ProofCrossChecker`` on a ``RecordingProver``; ``catalog_run.Runner``): the
obligations of every proved property are re-asked and counted per property
in the report; a disagreement makes the property not proved and the run exit
4 (``catalog_run.EXIT_DISAGREEMENT``).
"""

from __future__ import annotations

import importlib.util
import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import z3

from model.rules.registry import RULES, Rule
from properties.base import Property, StepInfo
from tokenproof.prover import InductionProver, ProofResult, _as_z3

# ================================================================== recording prover


@dataclass
class Query:
    label: tuple[str, str]  # (property, rule | "init" | "combined" | "access" | "vacuity:...")
    assertions: list[Any]
    tracked: dict[str, Any]
    status: str
    engine: str
    reason: str = ""
    key: tuple | None = None  # the obligation (property, rule, lemmas); None for other queries (vacuity)


class RecordingProver(InductionProver):
    """An ``InductionProver`` that keeps every query's formulas (for a second solver).

    Non-invasive hook: overrides ``_solve`` (and labels the queries by
    wrapping ``base_case``/``step_case``/``combined``).  Each obligation is
    identified by its key ``(property, rule | "init" | "combined" | "access",
    lemmas)``: ``by_key`` maps a key to the query z3 answered for it (asked
    once; the prover's own memo serves later uses), and ``used`` lists the
    keys of every obligation the last top-level ``prove`` rested on, including
    the ones served from the memo and those of the lemmas it proved on the way.
    """

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.queries: list[Query] = []
        self.by_key: dict[tuple, Query] = {}
        self.used: list[tuple] = []
        self._label: tuple[str, str] = ("?", "?")
        self._key: tuple | None = None
        self._depth = 0

    def _solve(self, assertions, tracked=None, validate=None, timeout_ms=None):  # type: ignore[override]
        ans = super()._solve(assertions, tracked, validate, timeout_ms)
        key, self._key = self._key, None  # one query per obligation; later queries (vacuity) carry no key
        q = Query(self._label, list(assertions), dict(tracked or {}), ans.status, ans.engine, ans.reason, key)
        self.queries.append(q)
        if key is not None:
            self.by_key.setdefault(key, q)
        return ans

    def _obligation(self, key: tuple) -> None:
        self._label, self._key = (key[0], key[1]), key
        self.used.append(key)

    def base_case(self, prop_id):  # type: ignore[override]
        self._obligation((prop_id, "init", ()))
        try:
            return super().base_case(prop_id)
        finally:
            self._key = None  # a memo hit asks nothing: the key must not leak to a later query

    def step_case(self, prop_id, rule_name, lemmas):  # type: ignore[override]
        lemmas = tuple(sorted(set(lemmas)))
        self._obligation((prop_id, rule_name, lemmas))
        try:
            return super().step_case(prop_id, rule_name, lemmas)
        finally:
            self._key = None

    def combined(self, prop_id, lemmas):  # type: ignore[override]
        lemmas = tuple(sorted(set(lemmas)))
        self._obligation((prop_id, "combined", lemmas))
        try:
            return super().combined(prop_id, lemmas)
        finally:
            self._key = None

    def prove(self, prop, progress=None):  # type: ignore[override]
        if self._depth == 0:
            self.used = []
        if prop.kind == "access":
            self._obligation((prop.id, "access", ()))
        self._depth += 1
        try:
            return super().prove(prop, progress)
        finally:
            self._depth -= 1


# ================================================================== second solver
class CrossCheckDisagreement(RuntimeError):
    """z3 said unsat and cvc5 said sat on the same formula: a solver or encoding bug."""


@dataclass
class CrossCheck:
    label: tuple[str, str]
    engine: str
    z3: str
    cvc5: str  # unsat | sat | unknown | error
    seconds: float
    reason: str = ""

    @property
    def agrees(self) -> bool:
        return self.cvc5 == "unsat"

    @property
    def disagrees(self) -> bool:
        return self.z3 == "unsat" and self.cvc5 == "sat"


def cvc5_available() -> bool:
    return importlib.util.find_spec("cvc5") is not None


def ground_formula(assertions: list[Any], tracked: dict[str, Any]) -> list[Any] | None:
    """The ground QF_UFBV formula ``tokenproof.smt.solve`` asks first (every lemma asserted)."""
    from tokenproof import smt

    g = smt.Grounder()
    try:
        parts = [g.positive(a) for a in assertions] + [g.positive(f) for f in tracked.values()]
    except smt._NotGround:  # noqa: SLF001 - same split as smt._ground_attempt
        return None
    sorts = {q.var_sort(i).name() for q, _ in g.foralls for i in range(q.num_vars())}
    terms = smt.ground_terms(parts, sorts)
    inst = smt.instantiate(g.foralls, terms)
    terms2 = smt.ground_terms(parts + inst, sorts)
    if any(len(terms2.get(k, [])) != len(terms.get(k, [])) for k in sorts):
        inst = smt.instantiate(g.foralls, terms2)
    return parts + inst


def to_smtlib(formulas: list[Any]) -> str:
    s = z3.Solver()
    for f in formulas:
        s.add(f)
    text = s.to_smt2().replace("(check-sat)", "")
    return "(set-logic ALL)\n" + text


def cvc5_check(smtlib: str, timeout_ms: int = 10000) -> tuple[str, str]:
    """cvc5's answer on an SMT-LIB2 script without ``check-sat``: (status, reason)."""
    import cvc5

    tm = cvc5.TermManager()
    solver = cvc5.Solver(tm)
    solver.setOption("produce-models", "false")
    solver.setOption("tlimit-per", str(max(1, int(timeout_ms))))
    # enumerative instantiation once E-matching saturates: without it cvc5 answers "unknown (INCOMPLETE)" on
    # quantified obligations (e.g. every lemma step of kernel_destroy_session); it only adds instances, so an
    # unsat stays a proof
    solver.setOption("full-saturate-quant", "true")
    sm = cvc5.SymbolManager(tm)
    parser = cvc5.InputParser(solver, sm)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, smtlib, "tokenproof")
    try:
        while True:
            cmd = parser.nextCommand()
            if cmd.isNull():
                break
            cmd.invoke(solver, sm)
        r = solver.checkSat()
    except Exception as e:  # noqa: BLE001 - a translation problem is "not cross-checked", reported
        return "error", f"{type(e).__name__}: {e}"[:300]
    if r.isUnsat():
        return "unsat", ""
    if r.isSat():
        return "sat", ""
    return "unknown", str(r.getUnknownExplanation()).rpartition(".")[2]  # e.g. INCOMPLETE, TIMEOUT


def cross_check_query(q: Query, timeout_ms: int = 10000) -> CrossCheck:
    """cvc5 on the formula of one z3-``unsat`` query: the ground QF_UFBV instances when z3 proved it on
    them (engine ``ground``), else the quantified formula."""
    t0 = time.perf_counter()
    formulas = ground_formula(q.assertions, q.tracked) if q.engine.startswith("ground") else None
    engine = "ground" if formulas is not None else "quantified"
    if formulas is None:
        formulas = [*q.assertions, *q.tracked.values()]
    status, reason = cvc5_check(to_smtlib(formulas), timeout_ms)
    return CrossCheck(q.label, engine, q.status, status, time.perf_counter() - t0, reason)


def cross_check_queries(queries: Iterable[Query], timeout_ms: int = 10000, strict: bool = True) -> list[CrossCheck]:
    """Re-ask every z3-``unsat`` query to cvc5.  A disagreement raises (``strict``) and is always recorded."""
    out: list[CrossCheck] = []
    seen: set[tuple] = set()
    for q in queries:
        ident = q.key if q.key is not None else q.label
        if q.status != "unsat" or ident in seen:
            continue
        seen.add(ident)
        cc = cross_check_query(q, timeout_ms)
        out.append(cc)
        if cc.disagrees and strict:
            raise CrossCheckDisagreement(f"{q.label[0]} on {q.label[1]}: z3 unsat ({q.engine}) but cvc5 sat")
    return out


def cross_check_results(results: list[ProofResult], prover: RecordingProver, timeout_ms: int = 10000,
                        strict: bool = True) -> list[CrossCheck]:
    """cvc5 on every obligation of the ``proved`` results (call after ``prover.prove``)."""
    proved = {r.prop.id for r in results if r.verdict == "proved"}
    wanted = set(proved)
    for r in results:
        if r.verdict == "proved":
            wanted.update(ob.prop for ob in r.obligations)
    return cross_check_queries([q for q in prover.queries if q.label[0] in wanted], timeout_ms, strict)


SOLVERS = ("cvc5",)  # second solvers `tokenproof prove --cross-check` knows
_VOLATILE_REASONS = ("timeout", "resourceout", "resource", "memout", "interrupt")


def solver_available(solver: str) -> bool:
    return solver == "cvc5" and cvc5_available()


def solver_version(solver: str) -> str:
    """The second solver's version (part of the proof-cache key of a cross-checked record)."""
    try:
        from importlib.metadata import version

        return f"{solver} {version(solver)}"
    except Exception:  # noqa: BLE001
        return f"{solver} ?"


@dataclass
class CrossCheckSummary:
    """The second solver's answers on the obligations one proved property rests on.

    ``obligations``: the z3-``unsat`` obligations re-asked (its own and those of
    the lemmas it rests on; the combined all-rules query when z3 answered it);
    ``agreed``: the second solver said unsat too; ``undecided``: it said
    unknown, timed out or could not read the formula (reported, never a
    disagreement); ``disagreed``: it said sat (a solver or encoding bug);
    ``framed``: obligations discharged without a solver (the rule writes no
    field the property reads), so there is nothing to re-ask."""

    solver: str
    obligations: int = 0
    agreed: int = 0
    undecided: int = 0
    disagreed: int = 0
    framed: int = 0
    seconds: float = 0.0
    disagreements: list[str] = field(default_factory=list)
    undecided_obligations: list[str] = field(default_factory=list)
    volatile: bool = False  # some undecided answer was a resource limit (may go away: not cached)

    def to_json(self) -> dict[str, Any]:
        """Plain data for the report record (no timing: equal input, equal report)."""
        return {"solver": self.solver, "obligations": self.obligations, "agreed": self.agreed,
                "undecided": self.undecided, "disagreed": self.disagreed, "framed": self.framed,
                "disagreements": list(self.disagreements), "undecided_obligations": list(self.undecided_obligations)}


def _obligation_text(key: tuple) -> str:
    return f"{key[0]} × {key[1]}"


class ProofCrossChecker:
    """Re-asks the obligations of each proved property to a second solver (``tokenproof prove --cross-check``).

    Works on a ``RecordingProver``: after ``prover.prove(prop)``, ``check(result)``
    takes every obligation key of ``prover.used`` whose z3 query answered
    ``unsat`` and asks the second solver (each obligation once per checker:
    a lemma's obligations shared by several properties are asked once and
    counted for each)."""

    def __init__(self, prover: RecordingProver, solver: str = "cvc5", timeout_ms: int = 10000,
                 check: Any = None):
        if solver not in SOLVERS:
            raise ValueError(f"unknown cross-check solver {solver!r} (known: {', '.join(SOLVERS)})")
        self.prover = prover
        self.solver = solver
        self.timeout_ms = timeout_ms
        self._check = check or cross_check_query  # tests may substitute the solver call
        self.memo: dict[tuple, CrossCheck] = {}

    def check(self, result: ProofResult) -> CrossCheckSummary | None:
        """The summary for a ``proved`` result (None otherwise: nothing was proved)."""
        if result.verdict != "proved":
            return None
        out = CrossCheckSummary(self.solver)
        t0 = time.perf_counter()
        for key in dict.fromkeys(self.prover.used):
            q = self.prover.by_key.get(key)
            if q is None:  # discharged without a query (frame)
                out.framed += 1
                continue
            if q.status != "unsat":  # e.g. an inconclusive combined query: z3 proved nothing there
                continue
            cc = self.memo.get(key)
            if cc is None:
                cc = self._check(q, self.timeout_ms)
                self.memo[key] = cc
            out.obligations += 1
            if cc.disagrees:
                out.disagreed += 1
                out.disagreements.append(f"{_obligation_text(key)}: z3 unsat ({q.engine}), {self.solver} sat")
            elif cc.agrees:
                out.agreed += 1
            else:
                out.undecided += 1
                why = f"{cc.cvc5}" + (f": {cc.reason}" if cc.reason else "")
                out.undecided_obligations.append(f"{_obligation_text(key)} ({why})")
                if any(w in (cc.reason or "").lower() for w in _VOLATILE_REASONS):
                    out.volatile = True
        out.seconds = time.perf_counter() - t0
        return out


def crosscheck_catalog(ids: list[str] | None = None, profile: str = "kacs", timeout_ms: int = 10000,
                       cvc5_timeout_ms: int = 10000, scenario: str = "standard", strict: bool = True,
                       progress=None) -> tuple[list[ProofResult], list[CrossCheck]]:
    """Prove (z3) the chosen properties, then cross-check every proved obligation with cvc5."""
    from model.profiles import get_profile
    from model.scenarios import SCENARIOS
    from tokenproof.catalog_run import load_catalog, select

    rules = get_profile(profile)
    catalog = load_catalog()
    prover = RecordingProver(rules, catalog, SCENARIOS[scenario]().state, timeout_ms=timeout_ms, profile=profile)
    results = [prover.prove(p, progress) for p in select(catalog, ids)]
    return results, cross_check_results(results, prover, cvc5_timeout_ms, strict)


# ================================================================== vacuity
@dataclass
class VacuityFinding:
    prop: str
    check: str  # premises | guard | antecedent
    status: str  # ok | vacuous | dead-rule | trivial | unknown
    detail: str = ""
    rules: tuple[str, ...] = ()
    witness: str = ""  # concrete | smt

    @property
    def problem(self) -> bool:
        return self.status in ("vacuous", "dead-rule", "trivial")


@dataclass
class _Walk:
    states: list[Any] = field(default_factory=list)
    steps: list[tuple[Any, Any, StepInfo]] = field(default_factory=list)


def reachable_walks(rules: dict[str, Rule] | None = None, seeds: Iterable[int] = range(4), steps: int = 50) -> _Walk:
    """States and steps of deterministic random executor walks from the standard world (reachable)."""
    from model.scenarios import standard
    from tokenproof.killmatrix import walk_records

    rules = rules or RULES
    w = _Walk()
    init = standard().state
    w.states.append(init)
    for seed in seeds:
        for r, _ in walk_records(rules, random.Random(seed), steps):
            for x in [r, *r.kernel_followups]:
                o = x.outcome
                w.steps.append((o.pre, o.post, StepInfo(x.rule, x.actor, x.args, o.errno)))
                w.states.append(o.post)
    return w


class VacuityChecker:
    def __init__(self, rules: dict[str, Rule] | None = None, catalog: dict[str, Property] | None = None,
                 profile: str = "kacs", timeout_ms: int = 10000, scenario: str = "standard",
                 walk: _Walk | None = None):
        from model.scenarios import SCENARIOS
        from tokenproof.catalog_run import load_catalog

        self.rules = rules or RULES
        self.catalog = catalog or load_catalog()
        self.profile = profile
        self.prover = RecordingProver(self.rules, self.catalog, SCENARIOS[scenario]().state, timeout_ms=timeout_ms,
                                      profile=profile, cross_check=False)
        self.walk = walk if walk is not None else reachable_walks(self.rules)
        self.invariants = [p.id for p in self.catalog.values() if p.kind == "state"
                           and p.expected(profile) == "proved"]
        self._guard: dict[str, VacuityFinding] = {}

    # ----------------------------------------------------------- premises
    def premises(self, prop: Property) -> tuple[list[str], VacuityFinding]:
        lemmas = [pid for pid in self.prover.closure(prop) if pid != prop.id or prop.kind == "state"]
        lemmas = [pid for pid in lemmas if self.catalog[pid].kind == "state"]
        for i, s in enumerate(self.walk.states):
            if all(self.catalog[pid].check(s) is True for pid in lemmas):
                return lemmas, VacuityFinding(prop.id, "premises", "ok",
                                              "initial world" if i == 0 else f"reachable state #{i}",
                                              witness="concrete")
        self.prover._label = (prop.id, "vacuity:premises")  # noqa: SLF001
        ans = self.prover._solve([*self.prover.uni.axioms, *[self.prover.holds_pre(l) for l in lemmas]])  # noqa: SLF001
        status = {"sat": "ok", "unsat": "vacuous"}.get(ans.status, "unknown")
        detail = ("no state satisfies " + ", ".join(lemmas)) if status == "vacuous" else (ans.reason or ans.status)
        return lemmas, VacuityFinding(prop.id, "premises", status, detail, witness="smt")

    # ----------------------------------------------------------- guards
    def guard(self, rule_name: str) -> VacuityFinding:
        """Can ``rule_name`` succeed from a state satisfying every proved invariant?"""
        if rule_name in self._guard:
            return self._guard[rule_name]
        for pre, post, info in self.walk.steps:
            if info.rule == rule_name and int(info.errno) == 0:
                f = VacuityFinding("*", "guard", "ok", "a successful step in a reachable walk", (rule_name,),
                                   "concrete")
                self._guard[rule_name] = f
                return f
        tr = self.prover.transition(rule_name)
        from model.state import ERRNO
        from model.values import eq

        errno_ok = _as_z3(eq(tr.errno, 0)) if hasattr(tr.errno, "sort") else z3.BoolVal(int(tr.errno) == 0)
        del ERRNO
        self.prover._label = ("*", f"vacuity:guard:{rule_name}")  # noqa: SLF001
        ans = self.prover._solve([*self.prover.uni.axioms, _as_z3(tr.enabled), errno_ok],  # noqa: SLF001
                                 {pid: self.prover.holds_pre(pid) for pid in self.invariants},
                                 validate=lambda m: self._replays_ok(rule_name, m))
        if ans.status == "unsat":
            f = VacuityFinding("*", "guard", "dead-rule",
                               f"{rule_name} never succeeds from a state satisfying the invariants "
                               f"(needs: {', '.join(ans.core) or 'the axioms'})", (rule_name,), "smt")
        elif ans.status == "sat":
            f = VacuityFinding("*", "guard", "ok", f"satisfiable ({ans.engine})", (rule_name,), "smt")
        else:
            f = VacuityFinding("*", "guard", "unknown", ans.reason or "unknown", (rule_name,), "smt")
        self._guard[rule_name] = f
        return f

    def _replays_ok(self, rule_name: str, model: Any) -> bool:
        from model.sim import apply_rule
        from tokenproof.encode import eval_args, extract

        tr = self.prover.transition(rule_name)
        try:
            ex = extract(model, self.prover.pre)
            if not all(self.catalog[p].check(ex.state) is True for p in self.invariants):
                return False
            actor, args = eval_args(model, ex, tr.rule, tr.args, tr.actor)
            return int(apply_rule(ex.state, tr.rule, actor, args).errno) == 0
        except Exception:  # noqa: BLE001
            return False

    # ----------------------------------------------------------- antecedents
    def antecedent(self, prop: Property, lemmas: list[str]) -> VacuityFinding:
        names = sorted(self.rules) if prop.rules is None else [r for r in prop.rules if r in self.rules]
        posts = self.walk.states[:: max(1, len(self.walk.states) // 40)]
        for pre, _post, info in self.walk.steps:
            if info.rule not in names:
                continue
            for x, e in [(x, e) for x in posts for e in (info.errno, 0, 1)]:
                try:
                    bad = prop.check(pre, x, StepInfo(info.rule, info.actor, info.args, e)) is not True
                except Exception:  # noqa: BLE001 - states of different universes: skip
                    continue
                if bad:
                    return VacuityFinding(prop.id, "antecedent", "ok",
                                          f"reached concretely by a {info.rule} step of a reachable walk",
                                          (info.rule,), "concrete")
        # symbolic: an unconstrained post-state
        anypost = self.prover.uni.fresh_state("anypost")
        from model.state import ERRNO

        anyerrno = self.prover.uni.const("anyerrno", ERRNO)
        tracked = {pid: self.prover.holds_pre(pid) for pid in lemmas}
        unknown = []
        for name in names:
            tr = self.prover.transition(name)
            bad = z3.Not(_as_z3(prop.check(self.prover.pre, anypost, StepInfo(name, tr.actor, tr.args, anyerrno))))
            self.prover._label = (prop.id, f"vacuity:antecedent:{name}")  # noqa: SLF001
            ans = self.prover._solve([*self.prover.uni.axioms, _as_z3(tr.enabled), bad], tracked)  # noqa: SLF001
            if ans.status == "sat":
                return VacuityFinding(prop.id, "antecedent", "ok", f"satisfiable with the invariants on {name}",
                                      (name,), "smt")
            if ans.status == "unknown":
                unknown.append(name)
        if unknown:
            return VacuityFinding(prop.id, "antecedent", "unknown",
                                  f"not established on {', '.join(unknown)}", tuple(unknown), "smt")
        return VacuityFinding(prop.id, "antecedent", "trivial",
                              "holds for every outcome (post-state and errno): no state satisfying the invariants reaches its "
                              "antecedent on " + ", ".join(names), tuple(names), "smt")

    def report(self, props: Iterable[Property], rules: Iterable[str] | None = None) -> list[VacuityFinding]:
        out: list[VacuityFinding] = []
        for p in props:
            if p.kind == "access":
                lemmas = [pid for pid in self.prover.closure(p) if pid != p.id]
                prem = self.premises_of(p, lemmas)
                out.append(prem)
                continue
            lemmas, prem = self.premises(p)
            out.append(prem)
            if p.kind == "transition" and prem.status == "ok":
                out.append(self.antecedent(p, lemmas))
        for name in sorted(rules if rules is not None else self.rules):
            out.append(self.guard(name))
        return out

    def premises_of(self, prop: Property, lemmas: list[str]) -> VacuityFinding:
        fake = Property(prop.id, prop.statement, "transition", prop.sections, prop.check, support=tuple(lemmas))
        saved = self.catalog.get(prop.id)
        self.catalog[prop.id] = fake
        try:
            return self.premises(fake)[1]
        finally:
            self.catalog[prop.id] = saved  # type: ignore[assignment]


def vacuity_report(props: Iterable[Property] | None = None, rules: Iterable[str] | None = None,
                   **kw: Any) -> list[VacuityFinding]:
    """Premises, rule guards and antecedents of the given properties (default: the catalog)."""
    vc = VacuityChecker(**kw)
    chosen = list(props) if props is not None else [vc.catalog[k] for k in sorted(vc.catalog)]
    return vc.report(chosen, rules)


def apply_vacuity(results: list[ProofResult], findings: list[VacuityFinding]) -> list[ProofResult]:
    """A ``proved`` result whose premises are unsatisfiable (or that holds trivially) becomes ``unknown``."""
    bad = {f.prop: f for f in findings if f.status in ("vacuous", "trivial")}
    for r in results:
        f = bad.get(r.prop.id)
        if f is not None and r.verdict == "proved":
            r.verdict = "unknown"
            r.detail = f"VACUOUS ({f.check}): {f.detail}; " + r.detail
    return results


# ================================================================== input bounds
MAX_INPUT_BYTES = 16 * 1024 * 1024  # a trace, state, token spec or SD file
MAX_JSON_DEPTH = 200  # nesting of lists/objects (Python's json recurses: ~1000 is a RecursionError)
MAX_TRACE_STEPS = 10_000  # steps in one trace


class InputTooLarge(ValueError):
    """An input file exceeds a documented bound (docs/soundness.md "Input limits")."""


def check_json_text(text: str | bytes, where: str = "input", max_bytes: int = MAX_INPUT_BYTES,
                    max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse a JSON text that is too large or too deeply nested, *before* ``json.loads``
    (which raises ``RecursionError`` on ~1000 levels).  Brackets inside strings do not count."""
    if len(text) > max_bytes:
        raise InputTooLarge(f"{where}: the file is too large ({len(text):,} bytes; the limit is {max_bytes:,})")
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    depth = 0
    in_str = esc = False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                raise InputTooLarge(f"{where}: nested too deeply (more than {max_depth} levels of lists/objects, "
                                    f"at character {i})")
        elif ch in "]}":
            depth -= 1


INT_RANGE = (-(2**63), 2**64)  # no model value is wider than 64 bits (LUIDs); fds, ids and masks are smaller


def check_trace_size(data: object, where: str = "trace", max_steps: int = MAX_TRACE_STEPS) -> None:
    """Bound the number of steps and refuse integers outside ``INT_RANGE`` anywhere in the document."""
    steps = data.get("steps") if isinstance(data, dict) else None
    if isinstance(steps, list) and len(steps) > max_steps:
        raise InputTooLarge(f"{where}: too many steps ({len(steps):,}; the limit is {max_steps:,})")
    check_numbers(data, where)


def check_numbers(data: object, where: str = "input") -> None:
    todo: list[tuple[object, str]] = [(data, where)]
    while todo:
        x, at = todo.pop()
        if isinstance(x, bool):
            continue
        if isinstance(x, int) and not INT_RANGE[0] <= x < INT_RANGE[1]:
            text = str(x) if abs(x) < 10**30 else f"a {len(str(abs(x)))}-digit number"
            raise InputTooLarge(f"{at}: number out of range ({text}; numbers must fit in 64 bits)")
        if isinstance(x, float) and x != x or isinstance(x, float) and x in (float("inf"), float("-inf")):
            raise InputTooLarge(f"{at}: NaN/Infinity is not a number JSON allows")
        if isinstance(x, dict):
            todo.extend((v, f"{at}.{k}") for k, v in x.items())
        elif isinstance(x, list):
            todo.extend((v, f"{at}[{i}]") for i, v in enumerate(x))


def read_bounded(path: str, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of ``path``; ``InputTooLarge`` past ``max_bytes`` (checked before reading it all),
    ``UnicodeDecodeError`` (a ``ValueError``) if it is not UTF-8, ``OSError`` if unreadable."""
    import os

    size = os.stat(path).st_size
    if size > max_bytes:
        raise InputTooLarge(f"{path}: the file is too large ({size:,} bytes; the limit is {max_bytes:,})")
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise InputTooLarge(f"{path}: the file is too large (more than {max_bytes:,} bytes)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UnicodeDecodeError(e.encoding, e.object[:0], e.start, e.end,
                                 f"not UTF-8 text (byte {e.start}: {e.reason})") from None
