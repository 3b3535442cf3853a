"""Unbounded proofs by induction over the rules (DEVELOPERS.md "Provers").

For a state property P with support lemmas L (the closure of ``support``):

* base: ``Init ∧ ¬Q`` is unsatisfiable for every Q in S = {P} ∪ L;
* step: for every Q in S and every rule r,
  ``S(pre) ∧ enabled_r(pre, args) ∧ ¬Q(post_r)`` is unsatisfiable — one query
  per (property, rule), lemmas tracked so the unsat core says which ones the
  proof used;
* cross-check (optional, ``cross_check=True``): one combined query over all
  rules must agree.  It is a sanity check of the solver, not part of the
  proof (the proof rests on the per-rule queries, whose disjunction it is),
  so it is off by default: it timed out on most large properties anyway,
  and ``tokenproof prove --cross-check cvc5`` re-asks every obligation to a
  second solver instead.

Speed (issue #3).  Everything a query is built from is built once per
prover: each rule's symbolic step (``transition``), each lemma's pre-state
formula, the initial world of the base cases, and the grounding of every
formula (``smt.GroundCache``: each z3 node is walked once per run, not once
per query).  A step obligation ``(Q, r, S)`` that is implied by one already
answered ``unsat`` with unsat core ``K ⊆ S`` is not asked again (more
lemmas only strengthen the premise), so a lemma shared by many properties
is proved once per rule.  ``phases`` accumulates where the time went.

The universes are unbounded (uninterpreted sorts), so a proof holds for any
number of threads, processes, tokens, handles and sessions.  A satisfiable
step is a counterexample to induction (CTI): the model's pre-state and step
are extracted, replayed on the concrete executor, and reported; whether the
property is really false is then decided by bounded model checking from the
initial world.  ``unknown`` (timeouts, solver ``unknown``) is never ``proved``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import z3

from model.concrete import ConcreteState
from model.rules.registry import Rule
from model.sim import apply_rule
from model.state import THREAD
from model.symbolic import SymState, Universe
from properties.base import Property, StepInfo
from tokenproof.encode import Extraction, eval_args, extract, init_formula, named_constants, state_sids
from tokenproof.smt import GroundCache


class ProverBug(RuntimeError):
    """The solver and the concrete executor disagree: a bug in tokenproof."""


@dataclass
class Obligation:
    prop: str
    rule: str  # rule name, "init" or "combined"
    status: str  # unsat | sat | unknown
    seconds: float
    core: tuple[str, ...] = ()
    reason: str = ""


@dataclass
class CTI:
    """A counterexample to induction: a pre-state satisfying the lemmas and one step breaking the property."""

    prop: str
    rule: str
    actor: Any
    args: dict[str, Any]
    pre: ConcreteState
    post: ConcreteState
    errno: int


@dataclass
class ProofResult:
    prop: Property
    verdict: str  # proved | refuted | unknown
    seconds: float
    lemmas_used: tuple[str, ...] = ()
    detail: str = ""
    obligations: list[Obligation] = field(default_factory=list)
    cti: CTI | None = None
    counterexample: Any = None  # a replayed BMC trace (tokenproof.bmc) when refuted
    counterexample_file: str | None = None

    @property
    def as_expected(self) -> bool:
        return self.verdict == self.prop.expected(self.profile)

    profile: str = "kacs"


@dataclass
class _RuleTransition:
    rule: Rule
    actor: Any
    args: dict[str, Any]
    post: SymState
    enabled: Any
    errno: Any
    writes: frozenset[str] = frozenset()


class _ReadRecorder(SymState):
    """A symbolic state that notes which fields a check reads."""

    def __init__(self, base: SymState):
        super().__init__(base.uni, base.fns)
        self.reads: set[str] = set()

    def view(self, name: str):
        self.reads.add(name)
        return super().view(name)


class InductionProver:
    """Proves catalog properties by (mutual) induction on an unbounded state."""

    def __init__(self, rules: dict[str, Rule], catalog: dict[str, Property], init: ConcreteState,
                 timeout_ms: int = 10000, profile: str = "kacs", cross_check: bool = False,
                 cross_check_timeout_ms: int = 3000, reuse_cores: bool | None = None):
        self.rules = rules
        self.catalog = catalog
        self.init = init
        self.timeout_ms = timeout_ms
        self.profile = profile
        self.cross_check = cross_check
        self.cross_check_timeout_ms = cross_check_timeout_ms
        self.uni = Universe("unbounded", sids=state_sids(init))
        self.pre = self.uni.fresh_state("pre")
        self._transitions: dict[str, _RuleTransition] = {}
        self._pre_formula: dict[str, Any] = {}
        self._cache: dict[tuple, Obligation] = {}
        self._ctis: dict[tuple, CTI] = {}
        self._base: dict[str, Obligation] = {}
        self._reads: dict[str, frozenset[str]] = {}
        self.query_times: list[float] = []
        self.engines: dict[str, int] = {}
        self.framed = 0
        self.subsumed = 0  # step obligations implied by an earlier unsat one (core ⊆ lemmas)
        self.phases: dict[str, float] = {}  # seconds per phase: encode, ground.build, ground.check, ...
        self.ground_cache = GroundCache()
        self._cores: dict[tuple[str, str], list[frozenset[str]]] = {}
        self._init_world: tuple[Universe, SymState, list[Any]] | None = None
        self._shared_next = 0
        # Reusing cores means an obligation can be discharged without a query of its own; a subclass that
        # records every query (tokenproof.soundness.RecordingProver, for a second solver) wants each
        # obligation asked, so reuse is off when ``_solve`` is overridden (unless asked for explicitly).
        self.reuse_cores = (type(self)._solve is InductionProver._solve) if reuse_cores is None else reuse_cores

    def _phase(self, name: str, seconds: float) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + seconds

    # ------------------------------------------------------------ building blocks
    def transition(self, name: str) -> _RuleTransition:
        if name not in self._transitions:
            t0 = time.perf_counter()
            rule = self.rules[name]
            actor = None if rule.kernel else self.uni.const("actor", THREAD)
            args = {a.name: self.uni.const(a.name, a.type) for a in rule.args}
            out = rule.apply(self.pre, actor, args)
            writes = frozenset(f for f, fn in out.post.fns.items() if fn is not self.pre.fns[f])
            self._transitions[name] = _RuleTransition(rule, actor, args, out.post, out.enabled, out.errno, writes)
            self._phase("encode", time.perf_counter() - t0)
        return self._transitions[name]

    def holds_pre(self, prop_id: str) -> Any:
        if prop_id not in self._pre_formula:
            t0 = time.perf_counter()
            self._pre_formula[prop_id] = _as_z3(self.catalog[prop_id].check(self.pre))
            self._phase("encode", time.perf_counter() - t0)
        return self._pre_formula[prop_id]

    def reads(self, prop_id: str) -> frozenset[str]:
        """The fields a state property's check reads."""
        if prop_id not in self._reads:
            rec = _ReadRecorder(self.pre)
            self.catalog[prop_id].check(rec)
            self._reads[prop_id] = frozenset(rec.reads)
        return self._reads[prop_id]

    def closure(self, prop: Property) -> list[str]:
        """``prop`` and every lemma it (transitively) rests on."""
        out: list[str] = []
        todo = [prop.id]
        while todo:
            pid = todo.pop()
            if pid in out:
                continue
            if pid not in self.catalog:
                raise KeyError(f"property {prop.id}: unknown support lemma {pid}")
            out.append(pid)
            todo.extend(self.catalog[pid].support)
        return out

    def _solve(self, assertions, tracked=None, validate=None, timeout_ms=None):
        from tokenproof.smt import solve

        # the next query's first ``shared`` assertions are a prefix many queries share (set by the caller; an
        # attribute rather than a parameter so that subclasses overriding ``_solve`` keep working)
        shared, self._shared_next = self._shared_next, 0
        # (a stand-in for ``smt.solve``, e.g. a test's, may not take the cache arguments)
        extra = dict(cache=self.ground_cache, shared=shared) if getattr(solve, "accepts_cache", False) else {}
        ans = solve(assertions, tracked, timeout_ms or self.timeout_ms, validate=validate, **extra)
        self.query_times.append(ans.seconds)
        self.engines[ans.engine] = self.engines.get(ans.engine, 0) + 1
        for k, v in getattr(ans, "phases", {}).items():
            self._phase(k, v)
        return ans

    # ------------------------------------------------------------ obligations
    def initial_world(self) -> tuple[Universe, SymState, list[Any]]:
        """The initial state as an unbounded symbolic state and its constraints (built once per prover)."""
        if self._init_world is None:
            t0 = time.perf_counter()
            uni = Universe("unbounded", sids=state_sids(self.init))
            s0 = uni.fresh_state("init")
            emb = named_constants(self.init, uni)
            self._init_world = (uni, s0, [*uni.axioms, *init_formula(self.init, s0, emb)])
            self._phase("encode", time.perf_counter() - t0)
        return self._init_world

    def base_case(self, prop_id: str) -> Obligation:
        if prop_id not in self._base:
            _, s0, init = self.initial_world()
            t0 = time.perf_counter()
            bad = z3.Not(_as_z3(self.catalog[prop_id].check(s0)))
            self._phase("encode", time.perf_counter() - t0)
            self._shared_next = len(init)  # the initial world: asserted once, in one incremental solver
            ans = self._solve([*init, bad])
            self._base[prop_id] = Obligation(prop_id, "init", ans.status, ans.seconds, (), ans.reason)
        return self._base[prop_id]

    def step_case(self, prop_id: str, rule_name: str, lemmas: Iterable[str]) -> Obligation:
        lemmas = tuple(sorted(set(lemmas)))
        key = (prop_id, rule_name, lemmas)
        if key in self._cache:
            return self._cache[key]
        if self.reuse_cores:
            have = set(lemmas)
            for core in self._cores.get((prop_id, rule_name), ()):
                if core <= have:
                    # implied: the same step query with the lemmas ``core ⊆ lemmas`` is unsat, and more
                    # lemmas only strengthen its premise
                    self.subsumed += 1
                    ob = Obligation(prop_id, rule_name, "unsat", 0.0, tuple(sorted(core)), "implied by a proved "
                                    "obligation with fewer lemmas")
                    self._cache[key] = ob
                    return ob
        prop = self.catalog[prop_id]
        tr = self.transition(rule_name)
        if prop.kind == "state" and prop_id in lemmas and not (self.reads(prop_id) & tr.writes):
            # frame: the rule writes no field the property reads, so Q(post) is Q(pre), assumed
            self.framed += 1
            ob = Obligation(prop_id, rule_name, "unsat", 0.0, (prop_id,), "frame")
            self._cache[key] = ob
            return ob
        t0 = time.perf_counter()
        if prop.kind == "state":
            bad = z3.Not(_as_z3(prop.check(tr.post)))
        else:
            bad = z3.Not(_as_z3(prop.check(self.pre, tr.post, StepInfo(rule_name, tr.actor, tr.args, tr.errno))))
        self._phase("encode", time.perf_counter() - t0)
        tracked = {lid: self.holds_pre(lid) for lid in lemmas}
        found: dict[str, CTI] = {}

        def validate(model: z3.ModelRef) -> bool:
            cti = self._try_cti(prop_id, rule_name, tr, model, lemmas)
            if cti is not None:
                found["cti"] = cti
            return cti is not None

        self._shared_next = len(self.uni.axioms) + 1  # the rule's transition: one incremental solver per rule
        ans = self._solve([*self.uni.axioms, _as_z3(tr.enabled), bad], tracked, validate)
        status, dt, reason, core = ans.status, ans.seconds, ans.reason, tuple(sorted(ans.core))
        if status == "sat":
            t0 = time.perf_counter()
            self._ctis[key] = found.get("cti") or self._cti(prop_id, rule_name, tr, ans.model)
            self._phase("cti", time.perf_counter() - t0)
        elif status == "unsat":
            self._cores.setdefault((prop_id, rule_name), []).append(frozenset(core))
        ob = Obligation(prop_id, rule_name, status, dt, core, reason)
        self._cache[key] = ob
        return ob

    def combined(self, prop_id: str, lemmas: Iterable[str]) -> Obligation:
        """All rules in one query: must agree with the per-rule queries."""
        lemmas = tuple(sorted(set(lemmas)))
        key = (prop_id, "combined", lemmas)
        if key in self._cache:
            return self._cache[key]
        prop = self.catalog[prop_id]
        sel = z3.Int("rule")
        branches = []
        for i, name in enumerate(sorted(self.rules)):
            tr = self.transition(name)
            if prop.kind == "state":
                bad = z3.Not(_as_z3(prop.check(tr.post)))
            else:
                bad = z3.Not(_as_z3(prop.check(self.pre, tr.post, StepInfo(name, tr.actor, tr.args, tr.errno))))
            branches.append(z3.And(sel == i, _as_z3(tr.enabled), bad))
        ans = self._solve([*self.uni.axioms, *[self.holds_pre(lid) for lid in lemmas], z3.Or(*branches)],
                          timeout_ms=self.cross_check_timeout_ms)
        ob = Obligation(prop_id, "combined", ans.status, ans.seconds, (), ans.reason)
        self._cache[key] = ob
        return ob

    def _cti(self, prop_id: str, rule_name: str, tr: _RuleTransition, model: z3.ModelRef) -> CTI:
        ex: Extraction = extract(model, self.pre)
        actor, args = eval_args(model, ex, tr.rule, tr.args, tr.actor)
        try:
            out = apply_rule(ex.state, tr.rule, actor, args)
        except Exception as e:  # noqa: BLE001 - any failure here is a tokenproof bug
            raise ProverBug(f"CTI for {prop_id} on {rule_name} does not replay: {e}") from e
        errno = int(out.errno)
        model_errno = ex.value(model, _errno_type(), tr.errno)
        if errno != model_errno:
            raise ProverBug(f"CTI for {prop_id} on {rule_name}: solver errno {model_errno}, executor errno {errno}")
        return CTI(prop_id, rule_name, actor, args, ex.state, out.post, errno)

    def _try_cti(self, prop_id: str, rule_name: str, tr: _RuleTransition, model: z3.ModelRef,
                 lemmas: Iterable[str]) -> CTI | None:
        """A model of the ground instances, accepted only if it is a real CTI:
        the lemmas hold on the finite pre-state it describes and the concrete
        step breaks the property."""
        try:
            ex: Extraction = extract(model, self.pre)
            actor, args = eval_args(model, ex, tr.rule, tr.args, tr.actor)
            if not all(self.catalog[lid].check(ex.state) for lid in lemmas):
                return None
            out = apply_rule(ex.state, tr.rule, actor, args)
        except Exception:  # noqa: BLE001 - not a usable model; the quantified query decides
            return None
        prop = self.catalog[prop_id]
        info = StepInfo(rule_name, actor, args, int(out.errno))
        holds = prop.check(out.post) if prop.kind == "state" else prop.check(ex.state, out.post, info)
        if holds:
            return None
        return CTI(prop_id, rule_name, actor, args, ex.state, out.post, int(out.errno))

    def cti(self, prop_id: str, rule_name: str, lemmas: Iterable[str]) -> CTI | None:
        return self._ctis.get((prop_id, rule_name, tuple(sorted(set(lemmas)))))

    # ------------------------------------------------------------ whole properties
    def prove(self, prop: Property, progress: Callable[[str], None] | None = None) -> ProofResult:
        t0 = time.perf_counter()
        if prop.kind == "state":
            result = self._prove_state(prop, progress)
        elif prop.kind == "transition":
            result = self._prove_transition(prop, progress)
        else:
            result = self._prove_access(prop)
        result.seconds = time.perf_counter() - t0
        result.profile = self.profile
        return result

    def _lemma_states(self, prop: Property) -> list[str]:
        ids = [pid for pid in self.closure(prop) if pid != prop.id or prop.kind == "state"]
        for pid in ids:
            if self.catalog[pid].kind != "state":
                raise ValueError(f"{prop.id}: support lemma {pid} is not a state property")
        return ids

    def _prove_state(self, prop: Property, progress) -> ProofResult:
        group = self._lemma_states(prop)
        obligations: list[Obligation] = []
        for pid in group:
            ob = self.base_case(pid)
            obligations.append(ob)
            if ob.status != "unsat":
                return self._failed(prop, obligations, ob, group)
        for pid in group:
            for name in sorted(self.rules):
                if progress:
                    progress(f"{prop.id}: {pid} × {name}")
                ob = self.step_case(pid, name, group)
                obligations.append(ob)
                if ob.status != "unsat":
                    return self._failed(prop, obligations, ob, group)
        note = self._cross_check(prop, group, obligations)
        used = sorted({lid for ob in obligations for lid in ob.core if lid != prop.id})
        return ProofResult(prop, "proved", 0, tuple(used), "inductive" + (" with lemmas" if used else "") + note,
                           obligations)

    def _cross_check(self, prop: Property, lemmas: list[str], obligations: list[Obligation]) -> str:
        """The combined all-rules query; it must not contradict the per-rule proofs.

        The proof rests on the per-rule queries (the combined query is their
        disjunction); a combined ``sat`` means the encoding is inconsistent and
        fails loudly, a combined timeout only leaves the cross-check open.
        """
        if not self.cross_check:
            return ""
        comb = self.combined(prop.id, lemmas)
        obligations.append(comb)
        if comb.status == "sat":
            raise ProverBug(f"{prop.id}: every per-rule step query is unsat but the combined query is sat")
        return "" if comb.status == "unsat" else f" (combined cross-check inconclusive: {comb.reason or comb.status})"

    def _prove_transition(self, prop: Property, progress) -> ProofResult:
        lemmas = [pid for pid in self.closure(prop) if pid != prop.id]
        for pid in lemmas:
            if self.catalog[pid].kind != "state":
                raise ValueError(f"{prop.id}: support lemma {pid} is not a state property")
        obligations: list[Obligation] = []
        names = sorted(self.rules) if prop.rules is None else [r for r in prop.rules if r in self.rules]
        for name in names:
            if progress:
                progress(f"{prop.id} × {name}")
            ob = self.step_case(prop.id, name, lemmas)
            obligations.append(ob)
            if ob.status != "unsat":
                return self._failed(prop, obligations, ob, lemmas)
        unproved = self._unproved_lemmas(lemmas, progress)
        used = sorted({lid for ob in obligations for lid in ob.core})
        if unproved:
            return ProofResult(prop, "unknown", 0, tuple(used),
                               f"holds for every step assuming {', '.join(unproved)}, which are not proved", obligations)
        note = self._cross_check(prop, lemmas, obligations)
        return ProofResult(prop, "proved", 0, tuple(used), "every step" + note, obligations)

    def _prove_access(self, prop: Property) -> ProofResult:
        from properties.base import access_query  # symbolic query builder

        lemmas = [pid for pid in self.closure(prop) if pid != prop.id]
        q = access_query(self.pre, self.uni)
        ans = self._solve([*self.uni.axioms, *[self.holds_pre(lid) for lid in lemmas],
                           z3.Not(_as_z3(prop.check(self.pre, q)))])
        status, reason = ans.status, ans.reason
        ob = Obligation(prop.id, "access", status, ans.seconds, (), reason)
        if status == "unsat":
            unproved = self._unproved_lemmas(lemmas, None)
            if unproved:
                return ProofResult(prop, "unknown", 0, (), f"assumes unproved {', '.join(unproved)}", [ob])
            return ProofResult(prop, "proved", 0, tuple(lemmas), "for every token, SD and request", [ob])
        if status == "sat":
            return ProofResult(prop, "refuted", 0, (), "a token, SD and request break it", [ob])
        return ProofResult(prop, "unknown", 0, (), reason or status, [ob])

    def _unproved_lemmas(self, lemmas: list[str], progress) -> list[str]:
        out = []
        for lid in lemmas:
            if self.prove(self.catalog[lid], progress).verdict != "proved":
                out.append(lid)
        return out

    def _failed(self, prop: Property, obligations: list[Obligation], ob: Obligation, group: list[str]) -> ProofResult:
        if ob.status == "unknown":
            return ProofResult(prop, "unknown", 0, (), f"{ob.prop} on {ob.rule}: solver {ob.reason or 'unknown'}",
                               obligations)
        if ob.rule == "init":
            return ProofResult(prop, "refuted", 0, (), f"{ob.prop} is false in the initial world", obligations)
        cti = self.cti(ob.prop, ob.rule, group)
        who = "it" if ob.prop == prop.id else f"its lemma {ob.prop}"
        return ProofResult(prop, "unknown", 0, (),
                           f"not inductive: {who} can be broken by {ob.rule} from a state satisfying "
                           f"{', '.join(group)} (counterexample to induction)", obligations, cti)


def _errno_type():
    from model.state import ERRNO

    return ERRNO


def _as_z3(x: Any) -> z3.BoolRef:
    if isinstance(x, z3.ExprRef):
        return x
    return z3.BoolVal(bool(x))
