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

MAX_INSTANCES = 4000


@dataclass
class Answer:
    status: str  # sat | unsat | unknown
    seconds: float
    core: list[Any] = field(default_factory=list)
    model: z3.ModelRef | None = None
    reason: str = ""
    engine: str = ""  # "ground" (QF_UFBV on instances) or "quantified"


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

    def __init__(self) -> None:
        self.memo: dict[int, bool] = {}
        self.foralls: list[tuple[z3.QuantifierRef, Any]] = []  # (forall, guard literal or None)

    def positive(self, f: z3.ExprRef, guard: Any = None) -> z3.ExprRef:
        """``f`` asserted: returns its ground part; collects top-level universals."""
        if not has_quantifier(f, self.memo):
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
        if not has_quantifier(f, self.memo):
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


def solve(assertions: list[z3.ExprRef], tracked: dict[str, z3.ExprRef] | None = None,
          timeout_ms: int = 10000, want_model: bool = True,
          validate: Callable[[z3.ModelRef], bool] | None = None) -> Answer:
    """Satisfiability of ``assertions`` plus the ``tracked`` lemmas (name → formula).

    The unsat core lists the names of the tracked lemmas the proof needed.
    ``validate`` may accept a model of the ground instances as a genuine model
    (e.g. by checking the lemmas on the finite state it describes); then no
    quantified query is needed.
    """
    tracked = tracked or {}
    lits = {name: z3.Bool(f"track[{name}]") for name in tracked}
    t0 = time.perf_counter()
    ground = _ground_attempt(assertions, tracked, lits, timeout_ms)
    if ground is not None and ground.status == "unsat":
        ground.seconds = time.perf_counter() - t0
        return ground
    if ground is not None and ground.status == "sat" and validate is not None and ground.model is not None:
        if validate(ground.model):
            ground.seconds = time.perf_counter() - t0
            ground.engine = "ground+validated"
            return ground
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
    return ans


def _ground_attempt(assertions, tracked, lits, timeout_ms) -> Answer | None:
    g = Grounder()
    try:
        parts = [g.positive(a) for a in assertions]
        for name, f in tracked.items():
            parts.append(z3.Implies(lits[name], g.positive(f, lits[name])))
    except _NotGround:
        return None
    sorts = {q.var_sort(i).name() for q, _ in g.foralls for i in range(q.num_vars())}
    terms = ground_terms(parts, sorts)
    inst = instantiate(g.foralls, terms)
    # a second round: instances mention new ground terms (e.g. thread_real(t) for a thread t)
    terms2 = ground_terms(parts + inst, sorts)
    if any(len(terms2.get(k, [])) != len(terms.get(k, [])) for k in sorts):
        inst = instantiate(g.foralls, terms2)
    s = z3.SolverFor("QF_UFBV")
    s.set("timeout", timeout_ms)
    s.add(*parts)
    s.add(*inst)
    r = s.check(*lits.values())
    ans = Answer(str(r), 0.0, engine="ground")
    if r == z3.unsat:
        names = {str(v): k for k, v in lits.items()}
        ans.core = [names[str(c)] for c in s.unsat_core() if str(c) in names]
    elif r == z3.sat:
        ans.model = s.model()
    return ans
