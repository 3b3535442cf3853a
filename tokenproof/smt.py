"""z3 behind small helpers: one ``solve`` with three answers.

Proof obligations mix universally quantified lemmas (over uninterpreted
sorts) with large quantifier-free bit-vector terms (AccessCheck, guards).
z3's default solver handles the quantifiers but can stall on the bit-vector
part; its QF_UFBV solver is fast but takes no quantifiers.  ``solve`` first
skolemizes existentials, instantiates every universal lemma with the ground
terms of its sorts found in the query, and asks QF_UFBV: an ``unsat`` there is
an ``unsat`` of the original (instances are consequences of the lemmas).
Otherwise the original, quantified query is asked; its answer stands.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import z3
from z3 import z3core

MAX_INSTANCES = 4000


@dataclass
class Answer:
    status: str  # sat | unsat | unknown
    seconds: float
    core: list[Any] = field(default_factory=list)
    model: z3.ModelRef | None = None
    reason: str = ""
    engine: str = ""  # "ground" (QF_UFBV on instances) or "quantified"
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase (ground.build, ground.check, ...)


class _NotGround(Exception):
    pass


def _fresh(sort: z3.SortRef, hint: str) -> z3.ExprRef:
    _fresh.n += 1  # type: ignore[attr-defined]
    return z3.Const(f"sk!{hint}!{_fresh.n}", sort)  # type: ignore[attr-defined]


_fresh.n = 0  # type: ignore[attr-defined]


def _open(q: z3.QuantifierRef) -> tuple[list[z3.ExprRef], z3.ExprRef]:
    n = q.num_vars()
    consts = [_fresh(q.var_sort(i), q.var_name(i)) for i in range(n)]
    body = z3.substitute_vars(q.body(), *reversed(consts))
    return consts, body


def has_quantifier(e: z3.ExprRef, memo: dict[int, bool] | None = None) -> bool:
    memo = {} if memo is None else memo
    k = e.get_id()
    if k in memo:
        return memo[k]
    if z3.is_quantifier(e):
        memo[k] = True
        return True
    r = any(has_quantifier(c, memo) for c in e.children()) if z3.is_app(e) else False
    memo[k] = r
    return r


class Grounder:
    """Splits formulas into a ground part and universally quantified lemmas."""

    def __init__(self, cache: "GroundCache | None" = None) -> None:
        self.memo: dict[int, bool] = {}
        self.foralls: list[tuple[z3.QuantifierRef, Any]] = []  # (forall, guard literal or None)
        self._has_q = cache.has_quantifier if cache is not None else (lambda f: has_quantifier(f, self.memo))

    def positive(self, f: z3.ExprRef, guard: Any = None) -> z3.ExprRef:
        """``f`` asserted: returns its ground part; collects top-level universals."""
        if not self._has_q(f):
            return f
        if z3.is_quantifier(f):
            if f.is_forall():
                self.foralls.append((f, guard))
                return z3.BoolVal(True)
            if f.is_exists():
                _, body = _open(f)
                return self.positive(body, guard)
            raise _NotGround()
        if z3.is_and(f):
            return z3.And(*[self.positive(c, guard) for c in f.children()])
        if z3.is_not(f):
            return self.negative(f.arg(0), guard)
        if z3.is_implies(f):
            return self.positive(z3.Or(z3.Not(f.arg(0)), f.arg(1)), guard)
        if z3.is_or(f):
            parts = [self._no_forall(self.positive, c) for c in f.children()]
            return z3.Or(*parts)
        raise _NotGround()

    def negative(self, f: z3.ExprRef, guard: Any = None) -> z3.ExprRef:
        """``not f`` asserted: returns its ground part."""
        if not self._has_q(f):
            return z3.Not(f)
        if z3.is_quantifier(f):
            if f.is_forall():
                _, body = _open(f)
                return self.negative(body, guard)
            if f.is_exists():
                n = f.num_vars()
                xs = [z3.Const(f.var_name(i), f.var_sort(i)) for i in range(n)]
                body = z3.substitute_vars(f.body(), *reversed(xs))
                self.foralls.append((z3.ForAll(xs, z3.Not(body)), guard))
                return z3.BoolVal(True)
            raise _NotGround()
        if z3.is_not(f):
            return self.positive(f.arg(0), guard)
        if z3.is_or(f):
            return z3.And(*[self.negative(c, guard) for c in f.children()])
        if z3.is_implies(f):
            return z3.And(self.positive(f.arg(0), guard), self.negative(f.arg(1), guard))
        if z3.is_and(f):
            return z3.Or(*[self._no_forall(self.negative, c) for c in f.children()])
        raise _NotGround()

    def _no_forall(self, fn, c: z3.ExprRef) -> z3.ExprRef:
        before = len(self.foralls)
        out = fn(c, None)
        if len(self.foralls) != before:  # a universal under a disjunction: not separable
            raise _NotGround()
        return out


def ground_terms(fs: Iterable[z3.ExprRef], sorts: set[str]) -> dict[str, list[z3.ExprRef]]:
    """Ground subterms of the given uninterpreted sorts."""
    out: dict[str, dict[int, z3.ExprRef]] = {}
    seen: set[int] = set()
    stack = list(fs)
    while stack:
        e = stack.pop()
        k = e.get_id()
        if k in seen:
            continue
        seen.add(k)
        if z3.is_quantifier(e) or z3.is_var(e):
            continue
        s = e.sort()
        if s.kind() == z3.Z3_UNINTERPRETED_SORT and s.name() in sorts:
            out.setdefault(s.name(), {})[k] = e
        stack.extend(e.children())
    return {k: list(v.values()) for k, v in out.items()}


def instantiate(foralls: list[tuple[z3.QuantifierRef, Any]], terms: dict[str, list[z3.ExprRef]]) -> list[z3.ExprRef]:
    out: list[z3.ExprRef] = []
    for q, guard in foralls:
        n = q.num_vars()
        pools = [terms.get(q.var_sort(i).name(), []) for i in range(n)]
        if any(not p for p in pools):
            continue
        count = 0
        for combo in itertools.product(*pools):
            body = z3.substitute_vars(q.body(), *reversed(combo))
            out.append(body if guard is None else z3.Implies(guard, body))
            count += 1
            if count >= MAX_INSTANCES:
                break
    return out


# ------------------------------------------------------------------ memoized grounding (one per prover)
def _raw(fn: Any) -> Any:
    """The bare ctypes entry point behind a ``z3core`` wrapper (no per-call error check: only used on
    well-formed ASTs that are alive, for read-only queries)."""
    return fn.__defaults__[-1].f


_ARG = _raw(z3core.Z3_get_app_arg)
_NARGS = _raw(z3core.Z3_get_app_num_args)
_ID = _raw(z3core.Z3_get_ast_id)
_KIND = _raw(z3core.Z3_get_ast_kind)
_SORT = _raw(z3core.Z3_get_sort)
_SORT_KIND = _raw(z3core.Z3_get_sort_kind)
_SORT_ID = _raw(z3core.Z3_get_sort_id)
_EMPTY: frozenset[int] = frozenset()


class GroundCache:
    """Memoized grounding shared by every query of one prover.

    The queries of a catalog run share most of their terms (a rule's
    transition is built once and appears in every property's step query on
    that rule; the lemmas' pre-state formulas are the same in every query).
    This cache walks each z3 node once per run instead of once per query:

    * ``info(e)``: whether ``e`` contains a quantifier, and the ids of its
      ground subterms of uninterpreted sorts outside quantifiers (what
      ``has_quantifier`` and ``ground_terms`` compute), memoized per node;
    * ``split(f, guard)``: the ``Grounder`` result of one asserted formula;
    * ``instances(q, guard, pools)``: the instances of one universal.

    Results are the same as the uncached functions above (terms are ordered
    by node id, so the order is deterministic).  Every memoized node is kept
    alive by a reference to its root, so a node id is never reused for
    another term while the cache lives.
    """

    def __init__(self) -> None:
        self.quant: dict[int, bool] = {}
        self.below: dict[int, frozenset[int]] = {}
        self.terms: dict[int, tuple[str, z3.ExprRef]] = {}  # node id -> (sort name, term)
        self.roots: list[Any] = []
        self._sorts: dict[int, tuple[str | None, Any]] = {}
        self._split: dict[tuple[int, int], tuple[Any, list, Any]] = {}
        self._inst: dict[tuple, list[z3.ExprRef]] = {}
        self._solvers: dict[tuple[int, ...], z3.Solver] = {}

    def solver_for(self, base: list[z3.ExprRef]) -> z3.Solver:
        """One incremental QF_UFBV solver per shared prefix (e.g. a rule's axioms and ``enabled``): the
        prefix is asserted once, each query is asked inside ``push``/``pop``.  Sound: a query sees exactly
        its own assertions (what a popped scope asserted is retracted, with every clause learned from it)."""
        key = tuple(b.get_id() for b in base)
        s = self._solvers.get(key)
        if s is None:
            s = z3.SolverFor("QF_UFBV")
            s.add(*base)
            self._solvers[key] = s
            self.roots.append(list(base))
        return s

    def _sort_name(self, ctx: Any, sort_ptr: Any, ctxobj: Any) -> str | None:
        sid = _SORT_ID(ctx, sort_ptr)
        hit = self._sorts.get(sid)
        if hit is None:
            s = z3.SortRef(sort_ptr, ctxobj)  # kept: the sort id stays this sort's
            hit = (s.name() if _SORT_KIND(ctx, sort_ptr) == z3.Z3_UNINTERPRETED_SORT else None, s)
            self._sorts[sid] = hit
        return hit[0]

    def info(self, e: z3.ExprRef) -> tuple[bool, frozenset[int]]:
        ctx = e.ctx_ref()
        root = e.as_ast()
        rid = _ID(ctx, root)
        if rid in self.below:
            return self.quant[rid], self.below[rid]
        self.roots.append(e)
        quant, below, terms = self.quant, self.below, self.terms
        ctxobj = e.ctx
        stack: list[tuple[Any, int, bool]] = [(root, rid, False)]
        while stack:
            p, k, expanded = stack.pop()
            if k in below:
                continue
            kind = _KIND(ctx, p)
            if kind == z3.Z3_QUANTIFIER_AST:
                quant[k], below[k] = True, _EMPTY
                continue
            if kind not in (z3.Z3_APP_AST, z3.Z3_NUMERAL_AST):  # a bound variable
                quant[k], below[k] = False, _EMPTY
                continue
            n = _NARGS(ctx, p) if kind == z3.Z3_APP_AST else 0
            if not expanded:
                kids = []
                for i in range(n):
                    c = _ARG(ctx, p, i)
                    ck = _ID(ctx, c)
                    if ck not in below:
                        kids.append((c, ck, False))
                if kids:
                    stack.append((p, k, True))
                    stack.extend(kids)
                    continue
            q = False
            acc: frozenset[int] = _EMPTY
            many: list[frozenset[int]] | None = None
            for i in range(n):
                ck = _ID(ctx, _ARG(ctx, p, i))
                q = q or quant[ck]
                b = below[ck]
                if b and b is not acc:
                    if not acc:
                        acc = b
                    elif not b <= acc:
                        if many is None:
                            many = [acc]
                        many.append(b)
            if many is not None:
                acc = frozenset().union(*many)
            name = self._sort_name(ctx, _SORT(ctx, p), ctxobj) if kind == z3.Z3_APP_AST else None
            if name is not None:
                if k not in terms:
                    terms[k] = (name, z3.z3._to_expr_ref(p, ctxobj))
                acc = acc | {k}
            quant[k], below[k] = q, acc
        return quant[rid], below[rid]

    def has_quantifier(self, e: z3.ExprRef) -> bool:
        return self.info(e)[0]

    def ground_terms(self, fs: Iterable[z3.ExprRef], sorts: set[str]) -> dict[str, list[z3.ExprRef]]:
        ids: set[int] = set()
        for f in fs:
            ids |= self.info(f)[1]
        out: dict[str, list[z3.ExprRef]] = {}
        for k in sorted(ids):
            name, t = self.terms[k]
            if name in sorts:
                out.setdefault(name, []).append(t)
        return out

    def split(self, f: z3.ExprRef, guard: Any = None) -> tuple[z3.ExprRef, list[tuple[z3.QuantifierRef, Any]]]:
        """``Grounder().positive(f, guard)`` and the universals it collected (raises ``_NotGround``)."""
        key = (f.get_id(), -1 if guard is None else guard.get_id())
        hit = self._split.get(key)
        if hit is None:
            g = Grounder(self)
            try:
                hit = (g.positive(f, guard), list(g.foralls), None)
            except _NotGround as e:
                hit = (None, [], e)
            self._split[key] = hit
            self.roots.append((f, guard))
        if hit[2] is not None:
            raise _NotGround()
        return hit[0], hit[1]

    def instances(self, q: z3.QuantifierRef, guard: Any, pools: list[list[z3.ExprRef]]) -> list[z3.ExprRef]:
        key = (q.get_id(), -1 if guard is None else guard.get_id(), tuple(tuple(t.get_id() for t in p) for p in pools))
        hit = self._inst.get(key)
        if hit is None:
            hit = []
            for combo in itertools.product(*pools):
                body = z3.substitute_vars(q.body(), *reversed(combo))
                hit.append(body if guard is None else z3.Implies(guard, body))
                if len(hit) >= MAX_INSTANCES:
                    break
            self._inst[key] = hit
            self.roots.append((q, guard))
        return hit

    def instantiate(self, foralls: list[tuple[z3.QuantifierRef, Any]],
                    terms: dict[str, list[z3.ExprRef]]) -> list[z3.ExprRef]:
        out: list[z3.ExprRef] = []
        for q, guard in foralls:
            pools = [terms.get(q.var_sort(i).name(), []) for i in range(q.num_vars())]
            if any(not p for p in pools):
                continue
            out.extend(self.instances(q, guard, pools))
        return out


def solve(assertions: list[z3.ExprRef], tracked: dict[str, z3.ExprRef] | None = None,
          timeout_ms: int = 10000, want_model: bool = True,
          validate: Callable[[z3.ModelRef], bool] | None = None,
          cache: GroundCache | None = None, ground_timeout_ms: int | None = None, shared: int = 0) -> Answer:
    """Satisfiability of ``assertions`` plus the ``tracked`` lemmas (name → formula).

    The unsat core lists the names of the tracked lemmas the proof needed.
    ``validate`` may accept a model of the ground instances as a genuine model
    (e.g. by checking the lemmas on the finite state it describes); then no
    quantified query is needed.  ``cache`` (a ``GroundCache``) shares the
    grounding work between the queries of one prover; ``ground_timeout_ms``
    bounds the ground attempt (default: ``timeout_ms``).  With a cache, the
    first ``shared`` assertions are a prefix common to many queries (a
    rule's transition): their ground part stays asserted in one incremental
    solver and the rest of each query is asked in a ``push``/``pop`` scope.
    ``Answer.phases`` says where the time went.
    """
    tracked = tracked or {}
    lits = {name: z3.Bool(f"track[{name}]") for name in tracked}
    t0 = time.perf_counter()
    phases: dict[str, float] = {}
    gt = timeout_ms if ground_timeout_ms is None else min(ground_timeout_ms, timeout_ms)
    ground = _ground_attempt(assertions, tracked, lits, gt, cache, phases, shared)
    if ground is not None and ground.status == "unsat":
        ground.seconds = time.perf_counter() - t0
        ground.phases = phases
        return ground
    if ground is not None and ground.status == "sat" and validate is not None and ground.model is not None:
        t1 = time.perf_counter()
        ok = validate(ground.model)
        phases["validate"] = time.perf_counter() - t1
        if ok:
            ground.seconds = time.perf_counter() - t0
            ground.engine = "ground+validated"
            ground.phases = phases
            return ground
    t1 = time.perf_counter()
    s = z3.Solver()
    s.set("timeout", timeout_ms)
    for a in assertions:
        s.add(a)
    for name, f in tracked.items():
        s.add(z3.Implies(lits[name], f))
    r = s.check(*lits.values())
    ans = Answer(str(r), time.perf_counter() - t0, engine="quantified")
    if r == z3.unsat:
        names = {str(v): k for k, v in lits.items()}
        ans.core = [names[str(c)] for c in s.unsat_core() if str(c) in names]
    elif r == z3.sat and want_model:
        ans.model = s.model()
    else:
        ans.reason = s.reason_unknown()
    phases["quantified.check"] = time.perf_counter() - t1
    ans.phases = phases
    return ans


solve.accepts_cache = True  # type: ignore[attr-defined]  # the prover passes ``cache``/``shared`` only then


def _ground_attempt(assertions, tracked, lits, timeout_ms, cache: GroundCache | None = None,
                    phases: dict[str, float] | None = None, shared: int = 0) -> Answer | None:
    t0 = time.perf_counter()
    phases = {} if phases is None else phases
    foralls: list[tuple[z3.QuantifierRef, Any]] = []
    try:
        if cache is None:
            g = Grounder()
            parts = [g.positive(a) for a in assertions]
            for name, f in tracked.items():
                parts.append(z3.Implies(lits[name], g.positive(f, lits[name])))
            foralls = g.foralls
            terms_of, inst_of = ground_terms, instantiate
        else:
            parts = []
            for a in assertions:
                ground, qs = cache.split(a)
                parts.append(ground)
                foralls.extend(qs)
            for name, f in tracked.items():
                ground, qs = cache.split(f, lits[name])
                parts.append(z3.Implies(lits[name], ground))
                foralls.extend(qs)
            terms_of, inst_of = cache.ground_terms, cache.instantiate
    except _NotGround:
        phases["ground.build"] = time.perf_counter() - t0
        return None
    sorts = {q.var_sort(i).name() for q, _ in foralls for i in range(q.num_vars())}
    terms = terms_of(parts, sorts)
    inst = inst_of(foralls, terms)
    # a second round: instances mention new ground terms (e.g. thread_real(t) for a thread t)
    terms2 = terms_of(parts + inst, sorts)
    if any(len(terms2.get(k, [])) != len(terms.get(k, [])) for k in sorts):
        inst = inst_of(foralls, terms2)
    t1 = time.perf_counter()
    phases["ground.build"] = t1 - t0
    shared = min(shared, len(assertions)) if cache is not None else 0
    if shared:
        s = cache.solver_for(parts[:shared])
        s.push()
        rest = parts[shared:]
    else:
        s = z3.SolverFor("QF_UFBV")
        rest = parts
    try:
        s.set("timeout", timeout_ms)
        s.add(*rest)
        s.add(*inst)
        r = s.check(*lits.values())
        ans = Answer(str(r), 0.0, engine="ground")
        if r == z3.unsat:
            names = {str(v): k for k, v in lits.items()}
            ans.core = [names[str(c)] for c in s.unsat_core() if str(c) in names]
        elif r == z3.sat:
            ans.model = s.model()
    finally:
        if shared:
            s.pop()
    if shared and r == z3.sat:
        # the model of a satisfiable query (a counterexample to induction) comes from a fresh solver on the
        # same formula, as without the shared solver: it then depends on this query alone, not on the queries
        # the shared solver answered before (which vary with the --jobs schedule)
        fresh = z3.SolverFor("QF_UFBV")
        fresh.set("timeout", timeout_ms)
        fresh.add(*parts)
        fresh.add(*inst)
        if fresh.check(*lits.values()) == z3.sat:
            ans.model = fresh.model()
    phases["ground.check"] = time.perf_counter() - t1
    return ans
