"""Bounded model checking of one property from a concrete initial world.

The initial world (``SCENARIOS["standard"]`` by default) is embedded into a
finite symbolic universe: one element per object of the world plus ``extra``
fresh elements per sort (room for the objects the steps create).  The
unrolling is

* ``s_0``: the embedded initial state (one ground equation per key);
* step ``k`` (``s_k -> s_{k+1}``): a selector ``sel_k`` (an Int in
  ``0..len(rules)-1``) picks one rule; the actor (a Thread, ignored by kernel
  rules) and each rule's arguments are fresh z3 constants; ``sel_k == r``
  implies rule ``r``'s model preconditions (``enabled``); a failing step
  (errno != 0) is allowed and leaves the state unchanged apart from its
  ``set_now`` effects, exactly as on the executor;
* ``s_{k+1}`` is *materialized*: fresh functions with one ground equation per
  key, ``s_{k+1}.f(x) == If(sel_k == r1, post_r1.f(x), If(..., s_k.f(x)))``
  over only the rules that can write ``f`` (fields nobody writes share the
  previous function).

One ``z3.Solver`` is used incrementally: transitions are asserted
permanently, the negated property at depth ``k`` is checked under an
assumption literal, and depths are tried in increasing order, so the first
counterexample found is a shortest one.

Verdicts: ``refuted`` (with a model, turned into a concrete trace by
``tokenproof.cex`` and replayed by ``tokenproof.replay``), ``bounded-ok`` (no
violation up to the depth: *not* a proof) and ``unknown`` (the solver gave
up; z3's ``reason_unknown`` is kept).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import z3

from model.concrete import ConcreteState
from model.rules.registry import RULES, Rule

from model.state import FIELDS, SCHEMA, SORTS, THREAD
from model.step import Outcome
from model.symbolic import SymState, Universe
from model.values import is_sym, not_
from properties.base import Property, StepInfo
from tokenproof.encode import Embedding, embed_finite, finite_universe

DEFAULT_EXTRA: dict[str, int] = {"Thread": 2, "Process": 1, "Token": 3, "Handle": 2, "Session": 1, "Socket": 1}
DEFAULT_DEPTH = 4
DEFAULT_TIMEOUT_MS = 60_000

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


def extend_universe(c: ConcreteState, extra: dict[str, int]) -> ConcreteState:
    """``c`` with ``extra[sort]`` unused ids added per sort (the ids ``finite_universe`` picks)."""
    out = c
    for s in SORTS:
        existing = set(c.universe[s])
        start = 3 if s == "Handle" else 1
        fresh: list[int] = []
        n = start
        while len(fresh) < extra.get(s, 0):
            if n not in existing:
                fresh.append(n)
            n += 1
        if not existing and not fresh:
            fresh = [start]  # finite_universe gives every sort at least one element
        if fresh:
            out = out.copy_with_universe(s, fresh)
    return out


def exact_universe(c: ConcreteState) -> ConcreteState:
    """``c`` with every object id some field refers to added to its sort's universe.

    The "no object" references (-1 for unset fields, 0 for an unlinked pair)
    then are elements of the finite embedding too: dead objects whose fields
    hold their defaults, on both backends.  Without them the embedding would map
    such a reference to some real object, and a rule reading through it (a
    mutant that skips a guard reads a closed fd's token, say) would diverge
    from the executor.
    """
    out = c
    for spec in SCHEMA:
        if spec.type.kind != "obj":
            continue
        view = out.view(spec.name)
        keys = [()] if not spec.keys else list(out.keys_of(spec))
        missing = {view(*k) for k in keys} - set(out.universe[spec.type.sort])
        if missing:
            out = out.copy_with_universe(spec.type.sort, sorted(missing))
    return out


@dataclass
class StepVars:
    """The symbolic choice made at one step of the unrolling."""

    index: int
    sel: z3.BitVecRef
    actor: z3.ExprRef
    args: dict[str, dict[str, Any]]  # rule name -> arg name -> z3 constant


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

    @property
    def refuted(self) -> bool:
        return self.verdict == REFUTED

    def counterexample(self):
        """The concrete trace of a refutation (``tokenproof.cex.Counterexample``)."""
        from tokenproof.cex import from_model

        if self.verdict != REFUTED:
            raise ValueError(f"no counterexample: the verdict is {self.verdict}")
        return from_model(self)


class Template:
    """One step of every rule, built once on a template pre-state.

    Each depth of the unrolling is this template with the template's state
    functions, actor, arguments and selector substituted by the depth's own
    (``z3.substitute_funs``, done in C), so the rules' Python code runs once per
    rule set rather than once per depth.  Next-state definitions are built per
    field, on demand (cone of influence).
    """

    def __init__(self, uni: Universe, rules: dict[str, Rule]):
        self.uni = uni
        self.rules = rules
        self.names = list(rules)
        self.pre = uni.fresh_state("T")
        self.next = uni.fresh_state("T'")
        self.field_of = {f.name(): name for name, f in self.pre.fns.items()}
        self.sel = z3.BitVec(f"sel_T_{uni.tag}", sel_width(len(rules)))
        self.actor = uni.const("actor_T", THREAD)
        self.args: dict[str, dict[str, Any]] = {}
        self.outs: dict[str, Outcome] = {}
        enabled = [z3.ULE(self.sel, len(self.names) - 1)]  # (ULT against n would wrap when n is a power of two)
        for i, (name, r) in enumerate(rules.items()):
            a = {x.name: uni.const(f"{name}.{x.name}@T", x.type) for x in r.args}
            out = r.apply(self.pre, None if r.kernel else self.actor, a)
            self.args[name], self.outs[name] = a, out
            if out.enabled is not True:
                enabled.append(z3.Implies(self.sel == i, _as_bool(out.enabled)))
        self.enabled = z3.And(*enabled)
        self.enabled_deps = self.deps([self.enabled])
        self.writers: dict[str, list[tuple[int, Callable[..., Any]]]] = {}
        for spec in SCHEMA:
            old = self.pre.fns[spec.name]
            w = [(i, self.outs[n].post.fns[spec.name]) for i, n in enumerate(self.names)
                 if self.outs[n].post.fns[spec.name] is not old]
            if w:
                self.writers[spec.name] = w
        self._defs: dict[str, tuple[list[z3.BoolRef], set[str]]] = {}

    def deps(self, terms: list[Any]) -> set[str]:
        """The template-state fields the terms read."""
        out: set[str] = set()
        seen: set[int] = set()
        todo = [t for t in terms if is_sym(t)]
        while todo:
            e = todo.pop()
            i = e.get_id()
            if i in seen:
                continue
            seen.add(i)
            if z3.is_app(e):
                f = self.field_of.get(e.decl().name())
                if f is not None:
                    out.add(f)
                todo.extend(e.children())
            elif z3.is_quantifier(e):
                todo.append(e.body())
        return out

    def definition(self, name: str) -> tuple[list[z3.BoolRef], set[str]]:
        """Equations ``next_f(x) == value(x)`` over the template, and the fields they read."""
        if name not in self._defs:
            spec = FIELDS[name]
            uni = self.uni
            old, nxt = self.pre.fns[name], self.next.fns[name]
            eqs, values = [], []
            for key in itertools.product(*(uni.elements[x] for x in spec.keys)):
                value = uni.lift(spec.type, old(*key))
                for i, f in reversed(self.writers[name]):
                    value = z3.If(self.sel == i, uni.lift(spec.type, f(*key)), value)
                values.append(value)
                eqs.append(nxt(*key) == value)
            self._defs[name] = (eqs, self.deps(values))
        return self._defs[name]

    def substitution(self, pre: SymState, post: SymState, sv: StepVars) -> "Substitution":
        pairs: list[tuple[Any, Any]] = [(self.sel.decl(), sv.sel), (self.actor.decl(), sv.actor)]
        for name, a in self.args.items():
            for n, c in a.items():
                pairs.append((c.decl(), sv.args[name][n]))
        for spec in SCHEMA:
            dom = [self.uni.sorts[k] for k in spec.keys]
            xs = [z3.Var(i, s) for i, s in enumerate(dom)]
            pairs.append((self.pre.fns[spec.name], pre.fns[spec.name](*xs)))
            if spec.name in self.writers:
                pairs.append((self.next.fns[spec.name], post.fns[spec.name](*xs)))
        return Substitution(pairs)


class Substitution:
    """A ``substitute_funs`` map with its C arrays built once (it is applied many times)."""

    def __init__(self, pairs: list[tuple[Any, Any]]):
        self.pairs = pairs
        self.n = len(pairs)
        self._from = (z3.FuncDecl * self.n)()
        self._to = (z3.Ast * self.n)()
        for i, (f, t) in enumerate(pairs):
            self._from[i] = f.as_func_decl()
            self._to[i] = t.as_ast()

    def __call__(self, t: Any) -> Any:
        if not is_sym(t):
            return t
        return z3.z3._to_expr_ref(z3.Z3_substitute_funs(t.ctx.ref(), t.as_ast(), self.n, self._from, self._to), t.ctx)


class Unrolling:
    """States ``s_0..s_k`` and steps ``0..k-1`` over one finite universe and one solver.

    Constraints are asserted lazily by *cone of influence*: a field's defining
    equations at a depth (``s_{k+1}.f(x) == ...``, or the initial values) are
    asserted only once a query or an asserted constraint mentions that field at
    that depth.  Definitions only constrain their own fresh functions, so
    leaving the rest out changes no answer; it keeps the solver's problem to
    the fields the property and the steps' preconditions depend on.
    """

    def __init__(self, init: ConcreteState, rules: dict[str, Rule], extra: dict[str, int] | None = None,
                 extra_sids: int = 2, timeout_ms: int = DEFAULT_TIMEOUT_MS, names: Any = None):
        self.init = exact_universe(extend_universe(init, extra or {}))
        self.uni, self.emb = finite_universe(self.init, extra_sids=extra_sids)
        for s in SORTS:  # the embedding covers exactly the extended concrete universe
            assert sorted(self.emb.to_elem[s]) == sorted(self.init.universe[s]), s
        self.rules = dict(rules)
        self.rule_names = list(self.rules)
        self.names = names
        self.timeout_ms = int(timeout_ms)
        self.solver = z3.Solver()
        self.solver.set("timeout", self.timeout_ms)
        self.template = Template(self.uni, self.rules)
        self.decl_key: dict[str, tuple[int, str]] = {}
        self.owner: list[dict[str, int]] = []  # per depth: field -> depth whose function it uses
        self.asserted: set[tuple[int, str]] = set()
        self._subst: list[list[tuple[Any, Any]]] = []
        s0, eqs = embed_finite(self.init, self.emb, "s0")
        self.init_defs: dict[str, list[z3.BoolRef]] = {}
        i = 0
        for spec in SCHEMA:
            n = 1
            for x in spec.keys:
                n *= len(self.uni.elements[x])
            self.init_defs[spec.name] = eqs[i:i + n]
            self.decl_key[s0.fns[spec.name].name()] = (0, spec.name)
            i += n
        assert i == len(eqs)
        self.owner.append({spec.name: 0 for spec in SCHEMA})
        self.states: list[SymState] = [s0]
        self.steps: list[StepVars] = []

    @property
    def depth(self) -> int:
        return len(self.steps)

    def sel_is(self, k: int, name: str) -> z3.BoolRef:
        return self.steps[k].sel == self.rule_names.index(name)

    # ------------------------------------------------------------ cone of influence
    def _deps(self, terms: list[Any]) -> set[tuple[int, str]]:
        out: set[tuple[int, str]] = set()
        seen: set[int] = set()
        todo = [t for t in terms if is_sym(t)]
        key_of = self.decl_key
        while todo:
            e = todo.pop()
            i = e.get_id()
            if i in seen:
                continue
            seen.add(i)
            if z3.is_app(e):
                k = key_of.get(e.decl().name())
                if k is not None:
                    out.add(k)
                todo.extend(e.children())
            elif z3.is_quantifier(e):
                todo.append(e.body())
        return out

    def _deps_of(self, key: tuple[int, str]) -> set[tuple[int, str]]:
        d, name = key
        if d == 0:
            return set()
        _, deps = self.template.definition(name)
        return {(self.owner[d - 1][f], f) for f in deps}

    def require(self, keys: set[tuple[int, str]]) -> None:
        """Assert the definitions of the fields ``keys`` (depth, field) and of everything they read."""
        todo = [k for k in keys if k not in self.asserted]
        new: list[tuple[int, str]] = []
        while todo:
            key = todo.pop()
            if key in self.asserted:
                continue
            self.asserted.add(key)
            new.append(key)
            todo.extend(k for k in self._deps_of(key) if k not in self.asserted)
        by_depth: dict[int, list[str]] = {}
        for d, name in new:
            by_depth.setdefault(d, []).append(name)
        for d, names in sorted(by_depth.items()):
            if d == 0:
                for name in names:
                    self.solver.add(*self.init_defs[name])
                continue
            eqs = [e for name in sorted(names) for e in self.template.definition(name)[0]]
            self.solver.add(self._subst[d - 1](z3.And(*eqs)))

    def add(self, *constraints: Any) -> None:
        """Assert constraints over the unrolling's states (with the definitions they need)."""
        cs = [_as_bool(c) for c in constraints]
        self.solver.add(*cs)
        self.require(self._deps(cs))

    # ------------------------------------------------------------ unrolling
    def extend(self) -> None:
        """Add the transition ``s_k -> s_{k+1}`` (permanently)."""
        k = len(self.steps)
        pre = self.states[k]
        uni, tpl = self.uni, self.template
        sv = StepVars(k, z3.BitVec(f"sel_{k}_{uni.tag}", self.template.sel.size()), uni.const(f"actor{k}", THREAD),
                      {name: {x.name: uni.const(f"{name}.{x.name}@{k}", x.type) for x in r.args}
                       for name, r in self.rules.items()})
        fresh = uni.fresh_state(f"s{k + 1}")
        fns = dict(pre.fns)
        owner = dict(self.owner[k])
        for name in tpl.writers:
            fns[name] = fresh.fns[name]
            owner[name] = k + 1
            self.decl_key[fresh.fns[name].name()] = (k + 1, name)
        subst = tpl.substitution(pre, fresh, sv)
        self._subst.append(subst)
        self.states.append(SymState(uni, fns))
        self.owner.append(owner)
        self.steps.append(sv)
        self.solver.add(subst(tpl.enabled))
        self.require({(self.owner[k][f], f) for f in tpl.enabled_deps})

    def step_term(self, k: int, name: str, what: str) -> Any:
        """Rule ``name``'s ``enabled`` or ``errno`` at step ``k`` (a term over ``s_k``)."""
        v = getattr(self.template.outs[name], what)
        return self._subst[k](v)

    def complete(self, model: z3.ModelRef, k: int, violated: Any, query: Any = None) -> z3.ModelRef | None:
        """A model of the *whole* unrolling up to depth ``k`` that takes the same steps.

        The cone-of-influence query leaves fields outside the cone unconstrained;
        a counterexample needs every field's real value (replay compares them
        all).  A separate solver gets every field's definition for the steps
        found (rule, actor, arguments and query pinned: a nearly ground
        problem) and the violation.  ``None`` if it cannot decide (unknown);
        unsat would mean the cone left out a constraint (a tokenproof bug).
        """
        s = z3.Solver()
        s.set("timeout", self.timeout_ms)
        for eqs in self.init_defs.values():
            s.add(*eqs)
        tpl = self.template
        for j in range(k):
            st = self.steps[j]
            sel = model.eval(st.sel, model_completion=True)
            name = self.rule_names[sel.as_long()]
            s.add(st.sel == sel)
            if not self.rules[name].kernel:
                s.add(st.actor == model.eval(st.actor, model_completion=True))
            for a in st.args[name].values():
                s.add(a == model.eval(a, model_completion=True))
            out = tpl.outs[name]
            s.add(_as_bool(self.step_term(j, name, "enabled")))
            eqs = []
            for fname in tpl.writers:
                spec = FIELDS[fname]
                new, post = tpl.next.fns[fname], out.post.fns[fname]
                for key in itertools.product(*(self.uni.elements[x] for x in spec.keys)):
                    eqs.append(new(*key) == self.uni.lift(spec.type, post(*key)))
            s.add(self._subst[j](z3.And(*eqs)))
        for c in _query_consts(query):
            s.add(c == model.eval(c, model_completion=True))
        s.add(_as_bool(violated))
        answer = s.check()
        if answer == z3.sat:
            return s.model()
        if answer == z3.unsat:
            raise AssertionError("tokenproof bug: the cone-of-influence counterexample does not extend to "
                                 "the whole state (a definition outside the cone constrains the steps)")
        return None


def sel_width(n: int) -> int:
    """Bits of a selector over ``n`` rules."""
    return max(1, (n - 1).bit_length())


def _as_bool(x: Any) -> z3.BoolRef:
    return x if is_sym(x) else z3.BoolVal(bool(x))


def _query_consts(q: Any) -> list[z3.ExprRef]:
    """The z3 constants inside an AccessQuery (dataclasses and lists)."""
    import dataclasses

    out: list[z3.ExprRef] = []

    def walk(x: Any) -> None:
        if isinstance(x, z3.ExprRef):
            if z3.is_const(x) and x.decl().kind() == z3.Z3_OP_UNINTERPRETED:
                out.append(x)
        elif dataclasses.is_dataclass(x) and not isinstance(x, type):
            for f in dataclasses.fields(x):
                walk(getattr(x, f.name))
        elif isinstance(x, (list, tuple)):
            for y in x:
                walk(y)

    walk(q)
    return out


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


def run_bmc(prop: Property, *, depth: int = DEFAULT_DEPTH, scenario: str = "standard",
            extra: dict[str, int] | None = None, timeout_ms: int = DEFAULT_TIMEOUT_MS,
            rules: dict[str, Rule] | None = None, mutant: str | None = None, profile: str = "kacs",
            extra_sids: int = 2, world: Any = None) -> BMCResult:
    """Check ``prop`` on every execution of at most ``depth`` steps from ``scenario``.

    ``rules`` is the rule set (default: the KACS rules; pass ``mutant.rules()``
    to check a mutant).  ``extra`` sizes the universe (fresh elements per sort
    beyond the world's objects).  ``timeout_ms`` bounds each solver query.
    """
    from model.scenarios import SCENARIOS

    t0 = time.perf_counter()
    if world is None:
        if scenario not in SCENARIOS:
            raise KeyError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
        world = SCENARIOS[scenario]()
    rules = rules if rules is not None else RULES
    unr = Unrolling(world.state, rules, DEFAULT_EXTRA if extra is None else extra, extra_sids, timeout_ms,
                    names=world)
    query = None
    if prop.kind == "access":
        from properties.base import access_query

        query = access_query(unr.states[0], unr.uni)
    res = BMCResult(prop, BOUNDED_OK, -1, depth, 0.0, unrolling=unr, query=query, scenario=scenario,
                    mutant=mutant, profile=profile)
    for k in range(depth + 1):
        if k > 0:
            unr.extend()
        tq = time.perf_counter()
        bad = violation(prop, unr, k, query)
        if bad is False:
            res.stats.append(DepthStat(k, time.perf_counter() - tq, "unsat"))
            res.depth = k
            continue
        lit = z3.Bool(f"violation_{k}_{unr.uni.tag}")
        unr.add(z3.Implies(lit, _as_bool(bad)))
        answer = unr.solver.check(lit)
        res.stats.append(DepthStat(k, time.perf_counter() - tq, str(answer)))
        if answer == z3.sat:
            model = unr.complete(unr.solver.model(), k, bad, query)
            if model is None:
                res.verdict, res.reason = UNKNOWN, "the solver could not complete the counterexample (timeout)"
                break
            res.verdict, res.depth, res.model = REFUTED, k, model
            break
        if answer == z3.unknown:
            res.verdict, res.reason = UNKNOWN, unr.solver.reason_unknown()
            break
        # no violation at depth k on any path: P(s_k) is implied by the unrolling, and
        # asserting it helps the deeper queries (a k-induction-style strengthening)
        unr.solver.add(z3.Not(lit), z3.Not(_as_bool(bad)))
        res.depth = k
    res.seconds = time.perf_counter() - t0
    return res


__all__ = ["run_bmc", "BMCResult", "Unrolling", "StepVars", "parse_universe", "extend_universe",
           "DEFAULT_EXTRA", "DEFAULT_DEPTH", "DEFAULT_TIMEOUT_MS", "REFUTED", "BOUNDED_OK", "UNKNOWN", "Embedding"]
