"""Bounded model checking of one property from a concrete initial world.

The initial world (``SCENARIOS["standard"]`` by default) is embedded into a
finite symbolic universe: one element per object of the world plus ``extra``
fresh elements per sort (room for the objects the steps create).  The
unrolling is ground: every state is a table of z3 terms, one per field and
key (``Tables``), with no uninterpreted state function and no defining
equation:

* ``s_0``: literals (the initial world);
* step ``k`` (``s_k -> s_{k+1}``): a selector ``sel_k`` (a bit-vector over the
  rules) picks one rule; the actor (a Thread, ignored by kernel rules) and
  each rule's arguments are fresh z3 constants; ``sel_k == r`` implies rule
  ``r``'s model preconditions (``enabled``); a failing step (errno != 0) is
  allowed and leaves the state unchanged apart from its ``set_now`` effects,
  exactly as on the executor;
* ``s_{k+1}.f(x)`` is the term ``If(sel_k == r1, post_r1.f(x), If(...,
  s_k.f(x)))`` over the rules that can write ``f`` (fields nobody writes share
  the initial literals), built from ``s_k``'s terms by substitution into a
  ``Template`` (each rule's Python code runs once per run, not per depth) and
  only for the fields something reads (field-level cone of influence).

So each query is the negated property over the steps' choices alone (what
z3's ``solve-eqs`` would otherwise have to recover from defining
equations), and a model fixes every field at every depth.  One
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

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import z3

from model.concrete import ConcreteState
from model.rules.registry import RULES, Rule

from model.state import FIELDS, SCHEMA, SORTS, THREAD, Type
from model.step import Outcome
from model.symbolic import SymState, Universe
from model.values import is_sym, not_
from properties.base import Property, StepInfo
from tokenproof.encode import Embedding, _lift_value, finite_universe

DEFAULT_EXTRA: dict[str, int] = {"Thread": 2, "Process": 1, "Token": 3, "Handle": 2, "Session": 1, "Socket": 1}
DEFAULT_DEPTH = 4
DEFAULT_TIMEOUT_MS = 60_000
# Rules whose steps make the unrolling largest: they write request contents (SIDs, levels, privilege
# and restriction sets) into a new token that every later step may read.  Measured on the depth-4
# impersonate-peer query: 55 % (create), 17 % (duplicate) and 11 % (restrict) of its 948k clauses.
DEFERRED_RULES: tuple[str, ...] = ("kacs_create_token", "ioctl_duplicate", "ioctl_restrict")

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
    cone: "Cone | None" = None  # the rule-level cone of influence used (None: every rule)
    staged_hits: int = 0  # 1 when the counterexample came from the query without the deferred rules

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
    field, on demand (cone of influence).  ``reads``/``writes`` give each rule's
    footprint at field level (for the rule-level cone, ``rule_cone``).
    """

    def __init__(self, uni: Universe, rules: dict[str, Rule], base: "Template | None" = None):
        self.uni = uni
        self.rules = rules
        self.names = list(rules)
        if base is None:
            self.pre = uni.fresh_state("T")
            self.decls = dict(self.pre.fns)
            self.actor = uni.const("actor_T", THREAD)
            self.args: dict[str, dict[str, Any]] = {}
            self.outs: dict[str, Outcome] = {}
            for name, r in rules.items():
                a = {x.name: uni.const(f"{name}.{x.name}@T", x.type) for x in r.args}
                self.args[name] = a
                self.outs[name] = r.apply(self.pre, None if r.kernel else self.actor, a)
            self._reads: dict[tuple[str, str], set[str]] = {}
        else:  # a subset of ``base``'s rules, sharing its rule applications
            self.pre, self.actor, self._reads, self.decls = base.pre, base.actor, base._reads, base.decls
            self.args = {n: base.args[n] for n in self.names}
            self.outs = {n: base.outs[n] for n in self.names}
        self.sel = z3.BitVec(f"sel_T_{uni.tag}_{len(self.names)}", sel_width(len(rules)))
        enabled = [z3.ULE(self.sel, len(self.names) - 1)]  # (ULT against n would wrap when n is a power of two)
        for i, name in enumerate(self.names):
            out = self.outs[name]
            if out.enabled is not True:
                enabled.append(z3.Implies(self.sel == i, _as_bool(out.enabled)))
        self.enabled = z3.And(*enabled)
        self.enabled_deps = self.deps([self.enabled])
        self.writers: dict[str, list[tuple[int, Callable[..., Any]]]] = {}
        self.writes: dict[str, set[str]] = {n: set() for n in self.names}
        for spec in SCHEMA:
            old = self.pre.fns[spec.name]
            w = [(i, self.outs[n].post.fns[spec.name]) for i, n in enumerate(self.names)
                 if self.outs[n].post.fns[spec.name] is not old]
            if w:
                self.writers[spec.name] = w
                for i, _ in w:
                    self.writes[self.names[i]].add(spec.name)
        self._defs: dict[str, tuple[list[tuple[tuple[Any, ...], Any]], set[str]]] = {}

    def restrict(self, names: list[str]) -> "Template":
        """The template of the rules ``names`` only (the same rule applications)."""
        return Template(self.uni, {n: self.rules[n] for n in names}, base=self)

    def deps(self, terms: list[Any]) -> set[str]:
        """The template-state fields the terms read."""
        if not hasattr(self, "_field_ids"):
            self._field_ids = {z3.Z3_get_func_decl_id(f.ctx_ref(), f.ast): n for n, f in self.decls.items()}
            self._deps_memo = DepsMemo()
        return _walk_memo(terms, self._field_ids, self._deps_memo)

    def reads(self, rule: str, what: str) -> set[str]:
        """Fields rule ``rule`` reads to compute ``what``: ``"enabled"``, ``"errno"`` or a field it writes.

        The fields the z3 term mentions; a written field's post value is taken
        at a generic (symbolic) key, so the reads of every key are covered (a
        write's guards are part of its value: it only happens when they pass).
        """
        k = (rule, what)
        if k not in self._reads:
            out = self.outs[rule]
            if what in ("enabled", "errno"):
                terms = [getattr(out, what)]
            else:
                spec = FIELDS[what]
                key = [self.uni.const(f"key_{x}", SORT_TYPES[x]) for x in spec.keys]
                terms = [self.uni.lift(spec.type, out.post.fns[what](*key))]
            self._reads[k] = self.deps(terms)
        return self._reads[k]

    def definition(self, name: str) -> tuple[list[tuple[tuple[Any, ...], Any]], set[str]]:
        """``(key, value)`` of ``next_f(key)`` for every key, over the template, and the fields they read."""
        if name not in self._defs:
            spec = FIELDS[name]
            uni = self.uni
            old = self.pre.fns[name]
            pairs, values = [], []
            for key in itertools.product(*(uni.elements[x] for x in spec.keys)):
                value = uni.lift(spec.type, old(*key))
                for i, f in reversed(self.writers[name]):
                    value = z3.If(self.sel == i, uni.lift(spec.type, f(*key)), value)
                values.append(value)
                pairs.append((key, value))
            self._defs[name] = (pairs, self.deps(values))
        return self._defs[name]


SORT_TYPES = {s: Type("obj", sort=s) for s in SORTS}


class Substitution:
    """Template -> one step, applied many times: ``ground`` maps whole subterms (a state read at
    a known key -> that key's term), then ``substitute_funs`` maps the remaining function symbols
    (selector, actor, arguments, and state reads at symbolic keys -> a case split); C arrays built once."""

    def __init__(self, pairs: list[tuple[Any, Any]], ground: Any = ()):
        self.pairs = pairs
        self.n = len(pairs)
        self._from = (z3.FuncDecl * self.n)()
        self._to = (z3.Ast * self.n)()
        for i, (f, t) in enumerate(pairs):
            self._from[i] = f.as_func_decl()
            self._to[i] = t.as_ast()
        self.ground = list(ground)
        self.m = len(self.ground)
        self._gfrom = (z3.Ast * self.m)()
        self._gto = (z3.Ast * self.m)()
        for i, (f, t) in enumerate(self.ground):
            self._gfrom[i] = f.as_ast()
            self._gto[i] = t.as_ast()

    def __call__(self, t: Any) -> Any:
        if not is_sym(t):
            return t
        ctx = t.ctx.ref()
        a = t.as_ast()
        if self.m:
            a = z3.Z3_substitute(ctx, a, self.m, self._gfrom, self._gto)
        if self.n:
            a = z3.Z3_substitute_funs(ctx, a, self.n, self._from, self._to)
        return z3.z3._to_expr_ref(a, t.ctx)

    def many(self, terms: list[Any]) -> list[Any]:
        """``self(t)`` for every term, in one pass (one substitution cache shared by the terms)."""
        idx = [i for i, t in enumerate(terms) if is_sym(t)]
        if not idx:
            return list(terms)
        app = self(_pack([terms[i] for i in idx]))
        out = list(terms)
        for j, i in enumerate(idx):
            out[i] = app.arg(j)
        return out


class Tables:
    """One state of the unrolling as one z3 term per field and key (a ground encoding).

    ``table(field)[key]`` is a literal at depth 0 (the initial world) and, at
    a later depth, the simplified term the step's rules give it, built from
    the previous depth's terms (``Unrolling.field_table``: only the fields
    something reads are ever built).  ``fns`` reads a key; a symbolic key is
    a case split over the finite sort's elements.  No uninterpreted function
    and no defining equation is left: each query is the property over terms
    of the steps' choices (selector, actor, arguments).
    """

    def __init__(self, uni: Universe, index: dict[int, int], table: Callable[[str], dict[tuple[int, ...], Any]]):
        self.uni = uni
        self.index = index
        self.table = table
        self.fns = {spec.name: self._reader(spec) for spec in SCHEMA}

    def _reader(self, spec: Any) -> Callable[..., Any]:
        uni, index, name = self.uni, self.index, spec.name

        def read(*xs: Any) -> Any:
            tab = self.table(name)

            def go(prefix: tuple[int, ...], rest: tuple[Any, ...]) -> Any:
                if not rest:
                    return tab[prefix]
                x, more = rest[0], rest[1:]
                i = index.get(x.get_id()) if z3.is_app(x) and x.num_args() == 0 else None
                if i is not None:
                    return go(prefix + (i,), more)
                elems = uni.elements[spec.keys[len(prefix)]]
                out = go(prefix + (len(elems) - 1,), more)
                for j in range(len(elems) - 2, -1, -1):
                    out = z3.If(x == elems[j], go(prefix + (j,), more), out)
                return out
            return go((), xs)

        return read

    def state(self) -> SymState:
        return SymState(self.uni, self.fns)


class Unrolling:
    """States ``s_0..s_k`` and steps ``0..k-1`` over one finite universe and one solver.

    The states are *terms*: ``s_{k+1}.f(x)`` is step ``k``'s template
    definition of ``f`` (``If(sel_k == r1, post_r1.f(x), ..., s_k.f(x))``)
    with ``s_k``'s terms substituted in and simplified, the initial state is
    literals.  Only the fields a query or a step's preconditions read are
    built (cone of influence, per field and depth), and no defining equation
    is asserted, so the solver sees the property over the steps' choices
    alone (what z3's ``solve-eqs`` would otherwise have to recover), and a
    model gives every field's value at every depth.
    """

    def __init__(self, init: ConcreteState, rules: dict[str, Rule], extra: dict[str, int] | None = None,
                 extra_sids: int = 2, timeout_ms: int = DEFAULT_TIMEOUT_MS, names: Any = None,
                 pack: bool = True, bv: bool = False):
        self.init = exact_universe(extend_universe(init, extra or {}))
        self.uni, self.emb = finite_universe(self.init, extra_sids=extra_sids, bv=bv)
        for s in SORTS:  # the embedding covers exactly the extended concrete universe
            assert sorted(self.emb.to_elem[s]) == sorted(self.init.universe[s]), s
        self.rules = dict(rules)
        self.rule_names = list(self.rules)
        self.names = names
        self.timeout_ms = int(timeout_ms)
        self.pack = pack  # normalized templates, one substitution per field and depth (False: per key)
        self._known: dict[str, Any] = {}
        self._known_ids: dict[int, str] = {}
        self._norm_defs: dict[str, tuple[list[Any], set[str]]] = {}
        self._norm_terms: dict[int, tuple[list[Any], set[str]]] = {}
        self._insts: dict[tuple[int, frozenset[str]], Substitution] = {}
        self._fnorm: dict[str, tuple[list[tuple[Any, Any]], list[tuple[Any, Any]], list[Any]]] = {}
        self.solver = new_solver(self.timeout_ms)
        self.template = Template(self.uni, self.rules)
        self.index: dict[int, int] = {}
        for s in SORTS:
            for i, e in enumerate(self.uni.elements[s]):
                self.index[e.get_id()] = i
        self._init = self._initial_tables()
        self._tabs: list[dict[str, dict[tuple[int, ...], Any]]] = [self._init]
        self._substs: dict[tuple[int, frozenset[str]], Substitution] = {}
        self._term_deps: dict[int, set[str]] = {}
        self._alive: list[Any] = []  # every term ``at_step`` cached by id, kept alive
        self._chosen: dict[int, str] = {}  # step -> the rule a found counterexample takes (see ``complete``)
        self.tables: list[Tables] = [Tables(self.uni, self.index, self._init.__getitem__)]
        self.states: list[SymState] = [self.tables[0].state()]
        self.steps: list[StepVars] = []

    def _keys(self, spec: Any) -> list[tuple[int, ...]]:
        return list(itertools.product(*(range(len(self.uni.elements[x])) for x in spec.keys)))

    def _initial_tables(self) -> dict[str, dict[tuple[int, ...], Any]]:
        """The initial world as literals (what ``embed_finite`` equates the initial functions to)."""
        emb, c = self.emb, self.init
        table: dict[str, dict[tuple[int, ...], Any]] = {}
        for spec in SCHEMA:
            view = c.view(spec.name)
            ids = [list(emb.to_elem[k]) for k in spec.keys]
            tab = {}
            for key in self._keys(spec):
                tab[key] = _lift_value(emb, spec.type, view(*[ids[n][i] for n, i in enumerate(key)]))
            table[spec.name] = tab
        return table

    def restrict(self, names: list[str]) -> None:
        """Encode only the rules ``names`` (before the first ``extend``)."""
        assert not self.steps, "restrict before unrolling"
        self._norm_defs.clear(), self._norm_terms.clear(), self._insts.clear()
        self.template = self.template.restrict(names)
        self.rules = {n: self.rules[n] for n in names}
        self.rule_names = list(names)

    @property
    def depth(self) -> int:
        return len(self.steps)

    def sel_is(self, k: int, name: str) -> z3.BoolRef:
        return self.steps[k].sel == self.rule_names.index(name)

    # ------------------------------------------------------------ lazy states
    def field_table(self, d: int, name: str) -> dict[tuple[int, ...], Any]:
        """The terms of field ``name`` at depth ``d`` (built on first use)."""
        tabs = self._tabs[d]
        if name not in tabs:
            if name not in self.template.writers:
                tabs[name] = self._init[name]
            elif d - 1 in self._chosen:  # a found counterexample: only the rule its step took
                rule = self._chosen[d - 1]
                if name not in self.template.writes[rule]:
                    tabs[name] = self.field_table(d - 1, name)
                else:
                    spec, uni = FIELDS[name], self.uni
                    post = self.template.outs[rule].post.fns[name]
                    keys = self._keys(spec)
                    vals = [uni.lift(spec.type, post(*[uni.elements[x][i] for x, i in zip(spec.keys, key)]))
                            for key in keys]
                    if self.pack:
                        tabs[name] = dict(zip(keys, self.instantiate(d - 1, *self.normalized(vals))))
                    else:
                        sub = self.substitution(d - 1, self.template.deps(vals))
                        tabs[name] = {key: sub(v) for key, v in zip(keys, vals)}
            elif self.pack:
                if name not in self._norm_defs:
                    self._norm_defs[name] = self.normalized([v for _, v in self.template.definition(name)[0]])
                tabs[name] = dict(zip(self._keys(FIELDS[name]), self.instantiate(d - 1, *self._norm_defs[name])))
            else:
                pairs, deps = self.template.definition(name)
                sub = self.substitution(d - 1, deps)
                tabs[name] = {key: sub(v) for key, (_, v) in zip(self._keys(FIELDS[name]), pairs)}
        return tabs[name]

    def substitution(self, k: int, fields: set[str]) -> Substitution:
        """Template -> step ``k``: its selector, actor, arguments and ``s_k``'s terms for ``fields``."""
        key = (k, frozenset(fields))
        if key not in self._substs:
            tpl, sv = self.template, self.steps[k]
            pairs: list[tuple[Any, Any]] = [(tpl.sel.decl(), sv.sel), (tpl.actor.decl(), sv.actor)]
            for name, a in tpl.args.items():
                for n, c in a.items():
                    pairs.append((c.decl(), sv.args[name][n]))
            pre = self.tables[k]
            ground: list[tuple[Any, Any]] = []
            for f in sorted(fields):
                spec = FIELDS[f]
                xs = [z3.Var(i, self.uni.sorts[s]) for i, s in enumerate(spec.keys)]
                pairs.append((tpl.decls[f], pre.fns[f](*xs)))
                if spec.keys:
                    tab, decl, el = self.field_table(k, f), tpl.decls[f], self.uni.elements
                    for kk, term in tab.items():
                        ground.append((decl(*[el[x][i] for x, i in zip(spec.keys, kk)]), term))
            self._substs[key] = Substitution(pairs, ground)
        return self._substs[key]

    # ---- the packed path: template terms normalized once, then one Z3_substitute per field and depth
    def known(self, name: str) -> Any:
        """A function symbol standing for field ``name`` read at an element key (``normalized``)."""
        if name not in self._known:
            d = self.template.decls[name]
            self._known[name] = z3.Function(f"{name}!known_{self.uni.tag}",
                                            *[d.domain(i) for i in range(d.arity())], d.range())
            self._known_ids[z3.Z3_get_func_decl_id(d.ctx_ref(), self._known[name].ast)] = name
        return self._known[name]

    def normalized(self, terms: list[Any]) -> tuple[list[Any], set[str]]:
        """Template terms rewritten so that every state read is ``known(f)`` at element keys: a read at a
        known key is renamed, a read at a symbolic key becomes a case split over the sort's elements
        (done once per template term, on the small template term); and the fields they read."""
        fields = set(self.template.deps(terms))
        ground: list[tuple[Any, Any]] = []
        funs: list[tuple[Any, Any]] = []
        for f in sorted(fields):
            g, fn, _ = self._field_norm(f)
            ground += g
            funs += fn
        return Substitution(funs, ground).many(terms), fields

    def _field_norm(self, f: str) -> tuple[list[tuple[Any, Any]], list[tuple[Any, Any]], list[Any]]:
        """For field ``f``: (read at an element key -> ``known``), (the field -> its case split over
        ``known``), and ``known`` at every key (in ``_keys`` order)."""
        if f not in self._fnorm:
            spec, decl, kn, el = FIELDS[f], self.template.decls[f], self.known(f), self.uni.elements
            if not spec.keys:
                self._fnorm[f] = ([(decl(), kn())], [], [kn()])
            else:
                tab: dict[tuple[int, ...], Any] = {}
                ground = []
                for key in self._keys(spec):
                    xs = [el[x][i] for x, i in zip(spec.keys, key)]
                    ground.append((decl(*xs), kn(*xs)))
                    tab[key] = ground[-1][1]
                reader = Tables(self.uni, self.index, lambda _n: tab).fns[f]
                body = reader(*[z3.Var(i, self.uni.sorts[x]) for i, x in enumerate(spec.keys)])
                self._fnorm[f] = (ground, [(decl, body)], list(tab.values()))
        return self._fnorm[f]

    def instantiate(self, k: int, terms: list[Any], fields: set[str]) -> list[Any]:
        """Normalized template terms at state ``k`` (and step ``k``'s choices, when step ``k`` exists)."""
        key = (k, frozenset(fields))
        if key not in self._insts:
            tpl = self.template
            ground: list[tuple[Any, Any]] = []
            if k < len(self.steps):
                sv = self.steps[k]
                ground += [(tpl.sel, sv.sel), (tpl.actor, sv.actor)]
                for name, a in tpl.args.items():
                    for n, c in a.items():
                        ground.append((c, sv.args[name][n]))
            for f in sorted(fields):
                tab = self.field_table(k, f)
                ground += zip(self._field_norm(f)[2], [tab[kk] for kk in self._keys(FIELDS[f])])
            self._insts[key] = Substitution([], ground)
        return self._insts[key].many(terms)

    def at_step(self, k: int, term: Any) -> Any:
        """A template term (over the template pre-state and step) at step ``k``."""
        if not is_sym(term):
            return term
        i = term.get_id()
        self._alive.append(term)  # the caches below are keyed by z3 ids, which z3 reuses once freed
        if self.pack:
            if i not in self._norm_terms:
                self._norm_terms[i] = self.normalized([term])
            return self.instantiate(k, *self._norm_terms[i])[0]
        if i not in self._term_deps:
            self._term_deps[i] = self.template.deps([term])
        return self.substitution(k, self._term_deps[i])(term)

    def add(self, *constraints: Any) -> None:
        """Assert constraints over the unrolling's states."""
        self.solver.add(*[_as_bool(c) for c in constraints])

    # ------------------------------------------------------------ unrolling
    def extend(self) -> None:
        """Add the transition ``s_k -> s_{k+1}`` (permanently)."""
        k = len(self.steps)
        uni, tpl = self.uni, self.template
        sv = StepVars(k, z3.BitVec(f"sel_{k}_{uni.tag}", tpl.sel.size()), uni.const(f"actor{k}", THREAD),
                      {name: {x.name: uni.const(f"{name}.{x.name}@{k}", x.type) for x in r.args}
                       for name, r in self.rules.items()})
        self.steps.append(sv)
        self.solver.add(*self.uni.take_ranges())
        d = k + 1
        self._tabs.append({})
        self.tables.append(Tables(uni, self.index, lambda name, d=d: self.field_table(d, name)))
        self.states.append(self.tables[d].state())
        self.solver.add(self.at_step(k, tpl.enabled))

    def step_term(self, k: int, name: str, what: str) -> Any:
        """Rule ``name``'s ``enabled`` or ``errno`` at step ``k`` (a term over ``s_k``)."""
        return self.at_step(k, getattr(self.template.outs[name], what))

    def complete(self, model: z3.ModelRef, k: int, violated: Any, query: Any = None) -> z3.ModelRef | None:
        """A model of the whole unrolling up to depth ``k``: ``model`` itself (every state is a term
        over the steps' choices, so the model determines every field at every depth).

        From here on, fields not built yet are built from the rule each step
        took in ``model`` only (the same terms the full definition reduces to
        when the selector has the model's value), which is much cheaper than
        every rule's definition of every field.  (Called once, on a
        refutation; the unrolling answers no further queries after it.)
        """
        for j in range(k):
            self._chosen[j] = self.rule_names[model.eval(self.steps[j].sel, model_completion=True).as_long()]
        return model


def new_solver(timeout_ms: int, rlimit: int = 0) -> z3.Solver:
    """A ``z3.Solver`` with a (wall-clock) timeout and, if given, a resource limit."""
    s = z3.Solver()
    s.set("timeout", int(timeout_ms))
    if rlimit:
        s.set("rlimit", int(rlimit))
    return s


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


def _raw(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The ctypes entry behind a ``z3core`` wrapper, without the wrapper's error check after every call
    (half the time of a DAG walk; the walks below only pass ASTs z3 gave them)."""
    elems = (getattr(fn, "__defaults__", None) or (None,))[0]
    return getattr(elems, "f", fn)


_RAW_WALK = tuple(_raw(f) for f in (z3.Z3_get_ast_id, z3.Z3_get_ast_kind, z3.Z3_get_app_decl,
                                    z3.Z3_get_app_num_args, z3.Z3_get_app_arg, z3.Z3_get_func_decl_id,
                                    z3.Z3_get_quantifier_body))


def _walk(terms: list[Any], key_of: dict[int, Any], leaves_only: bool) -> set[Any]:
    """``key_of[d]`` for every function declaration ``d`` applied in the terms (a DAG walk on z3's C API;
    ``leaves_only``: only constants are looked up)."""
    out: set[Any] = set()
    roots = [t for t in terms if is_sym(t)]
    if not roots:
        return out
    ctx = roots[0].ctx_ref()
    get_id, get_kind, get_decl, nargs, get_arg, decl_id, body = _RAW_WALK
    app, quant = z3.Z3_APP_AST, z3.Z3_QUANTIFIER_AST
    seen: set[int] = set()
    todo = [t.as_ast() for t in roots]
    while todo:
        a = todo.pop()
        i = get_id(ctx, a)
        if i in seen:
            continue
        seen.add(i)
        kind = get_kind(ctx, a)
        if kind == app:
            n = nargs(ctx, a)
            if n == 0 or not leaves_only:
                k = key_of.get(decl_id(ctx, get_decl(ctx, a)))
                if k is not None:
                    out.add(k)
            for j in range(n):
                todo.append(get_arg(ctx, a, j))
        elif kind == quant:
            todo.append(body(ctx, a))
    return out


class DepsMemo:
    """What ``_walk_memo`` found under each subterm (by z3 id), and the roots it walked: z3 reuses the
    id of a freed term, so the roots (and with them every subterm) stay alive with the memo."""

    def __init__(self) -> None:
        self.sets: dict[int, frozenset] = {}
        self.roots: list[Any] = []


def _walk_memo(terms: list[Any], key_of: dict[int, Any], memo: DepsMemo) -> set[Any]:
    """``_walk`` (every declaration, not only leaves) with the answer of every subterm kept across
    calls: the template's terms share most of their subterms, so each is walked once."""
    roots = [t for t in terms if is_sym(t)]
    if not roots:
        return set()
    memo.roots.extend(roots)
    sets = memo.sets
    ctx = roots[0].ctx_ref()
    get_id, get_kind, get_decl, nargs, get_arg, decl_id, body = _RAW_WALK
    app, quant = z3.Z3_APP_AST, z3.Z3_QUANTIFIER_AST
    empty: frozenset = frozenset()
    out: set[Any] = set()
    for root in roots:
        todo: list[tuple[Any, bool]] = [(root.as_ast(), False)]
        while todo:
            a, ready = todo.pop()
            i = get_id(ctx, a)
            if i in sets and not ready:
                continue
            kind = get_kind(ctx, a)
            kids = [get_arg(ctx, a, j) for j in range(nargs(ctx, a))] if kind == app else \
                [body(ctx, a)] if kind == quant else []
            if not ready:
                todo.append((a, True))
                todo.extend((c, False) for c in kids if get_id(ctx, c) not in sets)
                continue
            acc = set().union(*(sets[get_id(ctx, c)] for c in kids)) if kids else set()
            k = key_of.get(decl_id(ctx, get_decl(ctx, a))) if kind == app else None
            if k is not None:
                acc.add(k)
            sets[i] = frozenset(acc) if acc else empty
        out |= sets[get_id(ctx, root.as_ast())]
    return out


def _pack(terms: list[Any]) -> Any:
    """One application of an uninterpreted function to the terms (so one z3 call can rewrite them all)."""
    return z3.Function("bmc.pack", *[t.sort() for t in terms], z3.BoolSort())(*terms)


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
                  rlimit: int) -> tuple[Any, z3.Solver, bool]:
    """Check ``query`` (fresh solvers), first without the ``defer`` rules' steps: an under-approximation,
    so its satisfiable answer is one of ``query``; else the whole query.  (answer, solver, staged?)"""
    narrow = without_rules(query, unr, k, defer)
    if narrow is not None:
        sv = new_solver(timeout_ms, rlimit)
        sv.add(*narrow)
        if sv.check() == z3.sat:
            return z3.sat, sv, True
    sv = new_solver(timeout_ms, rlimit)
    sv.add(*query)
    return sv.check(), sv, False


def run_bmc(prop: Property, *, depth: int = DEFAULT_DEPTH, scenario: str = "standard",
            extra: dict[str, int] | None = None, timeout_ms: int = DEFAULT_TIMEOUT_MS,
            rules: dict[str, Rule] | None = None, mutant: str | None = None, profile: str = "kacs",
            extra_sids: int = 2, world: Any = None, cone: bool = False, fresh: bool = True,
            rlimit: int = 0, split: bool = False, pack: bool = True, bv: bool = False,
            defer: tuple[str, ...] = DEFERRED_RULES) -> BMCResult:
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
    sorts: every query is then QF_BV and z3 bit-blasts it to its SAT solver.
    Measured: a satisfiable depth-4 query (the impersonate-peer mutant) about
    2x faster (median 10 s against 21 s of CPU over five seeds), but the
    unsatisfiable deep queries of the explorer agreement 2-4x slower; so off
    by default.

    ``defer`` (with ``fresh``): each depth is first asked without the steps of
    these rules (``_check_staged``: the rules that make the unrolling largest,
    ``DEFERRED_RULES``); a satisfiable answer is a trace of the full rule set,
    so it is taken at once, and otherwise the depth is asked again with every
    rule.  Verdicts and depths are unchanged (every "no violation at depth k"
    still comes from the full query); only which counterexample is found may
    differ.  ``()`` turns it off.
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
    for k in range(depth + 1):
        if k > 0:
            unr.extend()
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
                a, sv, staged = _check_staged(query_k, unr, k, defer, timeout_ms, rlimit)
                if a == z3.sat:
                    answer, solver = a, sv
                    res.staged_hits += staged
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
        # no violation at depth k on any path: P(s_k) is implied by the unrolling, and
        # asserting it helps the deeper queries (a k-induction-style strengthening)
        unr.solver.add(z3.Not(_as_bool(bad)))
        if prefix is not None and k > 0:  # step k-1 is now a step before any violating one
            sel = unr.steps[k - 1].sel
            unr.solver.add(z3.Or(*[sel == i for i in prefix]) if prefix else z3.BoolVal(False))
        res.depth = k
    res.seconds = time.perf_counter() - t0
    return res


__all__ = ["run_bmc", "without_rules", "DEFERRED_RULES", "rule_cone", "Cone", "BMCResult", "Unrolling", "StepVars", "parse_universe", "extend_universe",
           "DEFAULT_EXTRA", "DEFAULT_DEPTH", "DEFAULT_TIMEOUT_MS", "REFUTED", "BOUNDED_OK", "UNKNOWN", "Embedding"]
