"""The unrolling behind BMC (``tokenproof.bmc``): states ``s_0..s_k`` over one finite universe.

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
equations), and a model fixes every field at every depth.
"""

from __future__ import annotations

import atexit
import gc
import itertools
from dataclasses import dataclass
from typing import Any, Callable

import z3

from model.concrete import ConcreteState
from model.rules.registry import Rule
from model.state import FIELDS, SCHEMA, SORTS, THREAD, Type
from model.step import Outcome
from model.symbolic import SymState, Universe
from model.values import is_sym
from tokenproof.encode import _lift_value, finite_universe, fresh_ids

DEFAULT_TIMEOUT_MS = 60_000


def extend_universe(c: ConcreteState, extra: dict[str, int]) -> ConcreteState:
    """``c`` with ``extra[sort]`` unused ids added per sort (the ids ``finite_universe`` picks)."""
    out = c
    for s in SORTS:
        fresh = fresh_ids(c.universe[s], s, extra.get(s, 0))
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
        if not hasattr(self, "_reads_of"):
            self._reads_of = FieldReads(self.decls)
        return self._reads_of(terms)

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
        self.world = init
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


def _release_terms_at_exit() -> None:
    """Before the interpreter tears its modules down: collect the cyclic garbage (an ``Unrolling`` and
    its tables refer to each other) while z3's bindings still work, and keep z3's main context from
    being deleted during the teardown.  Terms still alive then are never released one by one (the
    bindings are gone), and deleting a context that holds millions of them is quadratic in z3 (the
    BMC benchmark, and scripts holding a depth-4 result, sat for minutes at exit).  A process that never
    made z3's main context gets none made here."""
    gc.collect()
    main = getattr(z3.z3, "_main_ctx", None)
    if main is not None:
        main.owner = False  # the process is ending: the OS reclaims it at once


atexit.register(_release_terms_at_exit)


#: z3's bit-vector preprocessing, bit-blasting and SAT solver, as one tactic (``new_solver(qfbv=True)``)
QF_BV_PIPELINE = ("simplify", "propagate-values", "solve-eqs", "elim-uncnstr", "simplify", "max-bv-sharing",
                  "bit-blast", "aig", "sat")


def _qfbv_solver(ctx: z3.Context | None) -> z3.Solver:
    pipeline = z3.Then(*QF_BV_PIPELINE, "fail-if-undecided", ctx=ctx)
    return z3.OrElse(pipeline, z3.Tactic("smt", ctx=ctx), ctx=ctx).solver()


def new_solver(timeout_ms: int, rlimit: int = 0, ctx: z3.Context | None = None, qfbv: bool = False) -> z3.Solver:
    """A ``z3.Solver`` (in ``ctx``, default z3's main context) with a (wall-clock) timeout and, if
    given, a resource limit.

    ``qfbv``: the assertions will be pure bit-vector formulas (``run_bmc(bv=True)``); the solver is
    then the ``QF_BV_PIPELINE`` tactic, not z3's default solver (which picks its ``qfbv`` tactic for
    them).  Measured alone on the depth-3 and depth-4 queries of five catalog pairs (2-core
    machine): satisfiable shortcut queries 1.5-3x faster (install-ignores-the-session-check's first
    depth-4 shortcut 3.9 s -> 1.3 s), unsatisfiable ones 10-30 % faster, the whole depth-4 queries
    about the same (9-16 s).  It honours timeouts, resource limits and ``Context.interrupt`` alike.
    A formula that is not pure bit-vector after all (the SAT step leaves it undecided) falls back to
    z3's SMT core rather than answering ``unknown``."""
    s = _qfbv_solver(ctx) if qfbv else z3.Solver(ctx=ctx)
    s.set("timeout", int(timeout_ms))
    if rlimit:
        s.set("rlimit", int(rlimit))
    return s



def _raw(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The ctypes entry behind a ``z3core`` wrapper, without the wrapper's error check after every call
    (the walk below only passes ASTs z3 gave it)."""
    elems = (getattr(fn, "__defaults__", None) or (None,))[0]
    return getattr(elems, "f", fn)


_RAW_WALK = tuple(_raw(f) for f in (z3.Z3_get_ast_id, z3.Z3_get_ast_kind, z3.Z3_get_app_decl,
                                    z3.Z3_get_app_num_args, z3.Z3_get_app_arg, z3.Z3_get_func_decl_id,
                                    z3.Z3_get_quantifier_body))


class FieldReads:
    """``reads(terms)``: the names of the fields whose function declarations (``decls``: field name ->
    ``z3.FuncDeclRef``) are applied anywhere in the terms, with the answer of every subterm kept
    across calls (the template's terms share most of their subterms, so each is walked once).  z3
    reuses the id of a freed term, so the walked roots (and with them every memoised subterm) stay
    alive as long as this object."""

    def __init__(self, decls: dict[str, Any]):
        self.key_of = {z3.Z3_get_func_decl_id(f.ctx_ref(), f.ast): name for name, f in decls.items()}
        self.sets: dict[int, frozenset[str]] = {}
        self.roots: list[Any] = []

    def __call__(self, terms: list[Any]) -> set[str]:
        roots = [t for t in terms if is_sym(t)]
        out: set[str] = set()
        if not roots:
            return out
        self.roots.extend(roots)
        ctx = roots[0].ctx_ref()
        for root in roots:
            out |= self._walk(ctx, root.as_ast())
        return out

    def _walk(self, ctx: Any, root: Any) -> frozenset[str]:
        """Post-order over the subterms of ``root`` not seen yet."""
        sets, key_of = self.sets, self.key_of
        get_id, get_kind, get_decl, nargs, get_arg, decl_id, body = _RAW_WALK
        app, quant = z3.Z3_APP_AST, z3.Z3_QUANTIFIER_AST
        empty: frozenset[str] = frozenset()
        todo: list[tuple[Any, bool]] = [(root, False)]
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
        return sets[get_id(ctx, root)]


def _pack(terms: list[Any]) -> Any:
    """One application of an uninterpreted function to the terms (so one z3 call can rewrite them all)."""
    return z3.Function("bmc.pack", *[t.sort() for t in terms], z3.BoolSort())(*terms)


def sel_width(n: int) -> int:
    """Bits of a selector over ``n`` rules."""
    return max(1, (n - 1).bit_length())


def _as_bool(x: Any) -> z3.BoolRef:
    return x if is_sym(x) else z3.BoolVal(bool(x))
