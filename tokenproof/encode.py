"""Moving states between the concrete and the symbolic worlds.

* ``embed_finite``: a concrete state as ground equations over a finite
  symbolic universe (BMC's initial state, the differential test).
* ``init_formula``: a concrete state as the initial condition of an
  unbounded universe (induction base case): named objects equal their
  concrete values, every other object is dead.
* ``extract``: a z3 model of a symbolic state back to a ``ConcreteState``,
  with a map from z3 elements to concrete ids (counterexamples).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import z3

from model import domain as D
from model.concrete import ConcreteState, normalize
from model.state import FIELDS, SCHEMA, SORTS, Type, default_of
from model.symbolic import SymState, Universe


def state_sids(c: ConcreteState) -> list[str]:
    """Every SID value a concrete state mentions."""
    out: set[str] = set()
    for spec in SCHEMA:
        if spec.type.kind != "sid":
            continue
        for key in ([()] if not spec.keys else c.keys_of(spec)):
            out.add(c.view(spec.name)(*key))
    return sorted(out)


@dataclass
class Embedding:
    """Which z3 element stands for which concrete id (per sort), and SIDs by text."""

    uni: Universe
    to_elem: dict[str, dict[int, z3.ExprRef]] = field(default_factory=dict)
    to_id: dict[str, dict[str, int]] = field(default_factory=dict)

    def elem(self, sort: str, oid: int) -> z3.ExprRef:
        return self.to_elem[sort][oid]

    def oid(self, sort: str, e: z3.ExprRef) -> int:
        return self.to_id[sort][str(e)]

    def lift(self, t: Type, v: Any) -> z3.ExprRef:
        """A concrete value of type ``t`` as a z3 term of this universe."""
        if t.kind == "obj":
            if v not in self.to_elem[t.sort]:
                raise KeyError(f"{t.sort} {v} has no element in the symbolic universe")
            return self.to_elem[t.sort][v]
        return self.uni.lift(t, v)


def fresh_ids(existing: Any, sort: str, count: int) -> list[int]:
    """``count`` ids of ``sort`` not in ``existing``, smallest first (fds from 3, other objects from 1);
    at least one id when ``existing`` is empty (every sort of a finite universe has an element)."""
    start = 3 if sort == "Handle" else 1
    taken = set(existing)
    out: list[int] = []
    n = start
    while len(out) < count:
        if n not in taken:
            out.append(n)
        n += 1
    return out if (out or taken) else [start]


def finite_universe(c: ConcreteState, extra: dict[str, int] | None = None,
                    sids: list[str] | None = None, extra_sids: int = 2, bv: bool = False) -> tuple[Universe, Embedding]:
    """A finite universe with one element per object of ``c`` plus ``extra`` fresh
    elements per sort (room for objects the steps create)."""
    extra = extra or {}
    ids: dict[str, list[int]] = {}
    for s in SORTS:
        existing = list(c.universe[s])
        ids[s] = existing + fresh_ids(existing, s, extra.get(s, 0))
    uni = Universe("finite", {s: len(v) for s, v in ids.items()},
                   sids=list(dict.fromkeys([*(sids or []), *state_sids(c)])), extra_sids=extra_sids, bv=bv)
    emb = Embedding(uni)
    for s in SORTS:
        emb.to_elem[s] = dict(zip(ids[s], uni.elements[s]))
        emb.to_id[s] = {str(e): i for i, e in zip(ids[s], uni.elements[s])}
    return uni, emb


def embed_finite(c: ConcreteState, emb: Embedding, prefix: str = "s0") -> tuple[SymState, list[z3.BoolRef]]:
    """A fresh symbolic state constrained to equal ``c`` at every key of the finite universe."""
    uni = emb.uni
    sym = uni.fresh_state(prefix)
    eqs: list[z3.BoolRef] = []
    for spec in SCHEMA:
        fn = sym.fns[spec.name]
        view = c.view(spec.name)
        for key_ids in itertools.product(*(list(emb.to_elem[k]) for k in spec.keys)):
            value = view(*key_ids)
            elems = [emb.to_elem[k][i] for k, i in zip(spec.keys, key_ids)]
            eqs.append(fn(*elems) == _lift_value(emb, spec.type, value))
    return sym, eqs


def _lift_value(emb: Embedding, t: Type, v: Any) -> z3.ExprRef:
    if t.kind == "obj" and v not in emb.to_elem[t.sort]:
        # a reference to an object outside the universe (e.g. the -1 "none"): any element
        return next(iter(emb.to_elem[t.sort].values()))
    return emb.lift(t, v)


def named_constants(c: ConcreteState, uni: Universe) -> Embedding:
    """Distinct z3 constants for every object of ``c`` (unbounded universe)."""
    emb = Embedding(uni)
    for s in SORTS:
        consts = {i: z3.Const(f"{s.lower()}{i}_{uni.tag}", uni.sorts[s]) for i in c.universe[s]}
        emb.to_elem[s] = consts
        emb.to_id[s] = {str(e): i for i, e in consts.items()}
        if len(consts) > 1:
            uni.axioms.append(z3.Distinct(*consts.values()))
    return emb


def init_formula(c: ConcreteState, s: SymState, emb: Embedding) -> list[z3.BoolRef]:
    """Constraints saying the unbounded state ``s`` is ``c``: named objects hold
    their concrete values, every other object and fd holds the concrete
    defaults (dead, closed, zero), as objects outside a concrete universe do."""
    out: list[z3.BoolRef] = []
    for spec in SCHEMA:
        view = c.view(spec.name)
        fn = s.fns[spec.name]
        for key_ids in itertools.product(*(list(emb.to_elem[k]) for k in spec.keys)):
            value = view(*key_ids)
            if spec.type.kind == "obj" and value not in emb.to_elem[spec.type.sort]:
                continue  # "no object": unconstrained
            elems = [emb.to_elem[k][i] for k, i in zip(spec.keys, key_ids)]
            out.append(fn(*elems) == emb.lift(spec.type, value))
    for sort in SORTS:
        if sort == "Handle":
            continue
        x = z3.Const(f"init_{sort.lower()}", s.uni.sorts[sort])
        named = [x == e for e in emb.to_elem[sort].values()]
        unnamed = z3.Not(z3.Or(*named)) if named else z3.BoolVal(True)
        defaults = [s.fns[f.name](x) == emb.uni.lift(f.type, default_of(f.type))
                    for f in SCHEMA if f.keys == (sort,) and f.type.kind != "obj"]
        out.append(z3.ForAll([x], z3.Implies(unnamed, z3.And(*defaults))))
    p = z3.Const("init_p", s.uni.sorts["Process"])
    h = z3.Const("init_h", s.uni.sorts["Handle"])
    open_pairs = [z3.And(p == emb.to_elem["Process"][pi], h == emb.to_elem["Handle"][hi])
                  for pi in emb.to_elem["Process"] for hi in emb.to_elem["Handle"]
                  if c.value("fd_open", (pi, hi))]
    fd_defaults = [s.fns[f.name](p, h) == emb.uni.lift(f.type, default_of(f.type))
                   for f in SCHEMA if f.keys == ("Process", "Handle") and f.type.kind != "obj"]
    out.append(z3.ForAll([p, h], z3.Implies(z3.Not(z3.Or(*open_pairs)) if open_pairs else z3.BoolVal(True),
                                            z3.And(*fd_defaults))))
    return out


# ------------------------------------------------------------------ models back to concrete states
@dataclass
class Extraction:
    state: ConcreteState
    to_id: dict[str, dict[str, int]]
    sid_text: dict[str, str]

    def value(self, model: z3.ModelRef, t: Type, term: Any) -> Any:
        """The concrete value of a (symbolic) term of type ``t`` in ``model``."""
        if not isinstance(term, z3.ExprRef):
            return normalize(t, term) if t.kind != "obj" else term
        v = model.eval(term, model_completion=True)
        return _concrete(self, t, v)


def _concrete(ex: Extraction, t: Type, v: Any) -> Any:
    """A model value (a z3 value, or a number from ``_eval_many``: a Boolean as 0/1) as the executor
    holds it; SIDs and objects by their printed value (a bit-vector numeral prints as its decimal)."""
    if t.kind == "bool":
        return v == 1 if isinstance(v, int) else z3.is_true(v)
    if t.kind == "bv":
        return v if isinstance(v, int) else v.as_long()
    if t.kind == "sid":
        return ex.sid_text[str(v)]
    return ex.to_id[t.sort][str(v)]


def extract(model: z3.ModelRef, s: SymState, emb: Embedding | None = None,
            sid_names: dict[str, str] | None = None) -> Extraction:
    """The concrete state a model assigns to ``s``.

    Finite universes keep the embedding's ids; unbounded universes number the
    model's elements per sort (fds from 3).  SIDs the rules name keep their
    text; other SID elements get fresh domain SIDs.
    """
    uni = s.uni
    to_id: dict[str, dict[str, int]] = {}
    elems: dict[str, list[z3.ExprRef]] = {}
    for sort in SORTS:
        if uni.mode == "finite":
            elems[sort] = list(uni.elements[sort])
            to_id[sort] = dict(emb.to_id[sort]) if emb else {str(e): i + 1 for i, e in enumerate(elems[sort])}
        else:
            found = list(model.get_universe(uni.sorts[sort]) or [])
            if not found:
                found = [model.eval(z3.Const(f"any_{sort}", uni.sorts[sort]), model_completion=True)]
            named = {}
            if emb is not None:
                for oid, const in emb.to_elem.get(sort, {}).items():
                    named[str(model.eval(const, model_completion=True))] = oid
            start = 3 if sort == "Handle" else 1
            ids: dict[str, int] = {}
            used = set(named.values())
            n = start
            for e in found:
                if str(e) in named:
                    ids[str(e)] = named[str(e)]
                    continue
                while n in used:
                    n += 1
                ids[str(e)] = n
                used.add(n)
            elems[sort] = found
            to_id[sort] = ids
    sid_text = _sid_texts(model, uni, sid_names or {})
    ex = Extraction(ConcreteState.empty(), to_id, sid_text)
    c = ex.state
    c.universe = {sort: tuple(sorted(to_id[sort].values())) for sort in SORTS}
    pending: list[tuple[str, Any, Type, Any]] = []  # (field, key, type, term) still to evaluate
    named = {sort: [(to_id[sort][str(e)], e) for e in elems[sort]] for sort in SORTS}
    for spec in SCHEMA:
        fn = s.fns[spec.name]
        for key, args in _keys(spec, named):
            term = fn(*args)
            if isinstance(term, z3.ExprRef):
                pending.append((spec.name, key, spec.type, term))
            else:
                c.set(spec.name, key, ex.value(model, spec.type, term))
    for (name, key, t, _), v in zip(pending, _eval_many(model, [p[3] for p in pending])):
        c.set(name, key, _concrete(ex, t, v))
    return ex


def _keys(spec: Any, named: dict[str, list[tuple[int, Any]]]) -> list[tuple[Any, tuple[Any, ...]]]:
    """(the concrete key, the element arguments) of every key of field ``spec``; ``named`` lists each
    sort's (id, element) pairs.  A field without keys has the one key ``None``."""
    if not spec.keys:
        return [(None, ())]
    out = []
    for combo in itertools.product(*(named[k] for k in spec.keys)):
        ids = tuple(i for i, _ in combo)
        out.append((ids[0] if len(ids) == 1 else ids, tuple(e for _, e in combo)))
    return out


def _eval_many(model: z3.ModelRef, terms: list[Any]) -> list[Any]:
    """The model's values of the terms: Python ints (a Boolean as 0/1) from one evaluation of their
    concatenation when every term is a bit-vector or Boolean (the evaluator's cache is then shared
    by all of them), else one z3 value per term."""
    if not terms or not all(z3.is_bv(t) or z3.is_bool(t) for t in terms):
        return [model.eval(t, model_completion=True) for t in terms]
    one, zero = z3.BitVecVal(1, 1), z3.BitVecVal(0, 1)
    parts = [t if z3.is_bv(t) else z3.If(t, one, zero) for t in terms]
    total = model.eval(parts[0] if len(parts) == 1 else z3.Concat(*parts), model_completion=True).as_long()
    out = []
    for p in reversed(parts):  # Concat puts its first argument in the high bits
        w = p.size()
        out.append(total & ((1 << w) - 1))
        total >>= w
    return out[::-1]


def _sid_texts(model: z3.ModelRef, uni: Universe, extra_names: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for text, const in uni.sid_consts.items():
        out[str(model.eval(const, model_completion=True))] = text
    if uni.mode == "finite":
        elems = uni.elements["SID"]
    else:
        elems = list(model.get_universe(uni.sorts["SID"]) or [])
    n = 0
    for e in elems:
        if str(e) not in out:
            while f"S-1-5-21-7-7-7-{5000 + n}" in out.values():
                n += 1
            out[str(e)] = f"S-1-5-21-7-7-7-{5000 + n}"
            n += 1
    return out


def eval_args(model: z3.ModelRef, ex: Extraction, rule, args: dict[str, Any], actor: Any) -> tuple[Any, dict[str, Any]]:
    """Concrete actor and arguments of a symbolic rule application."""
    from model.state import THREAD

    conc = {a.name: ex.value(model, a.type, args[a.name]) for a in rule.args}
    act = None if actor is None else ex.value(model, THREAD, actor)
    return act, conc


__all__ = ["finite_universe", "embed_finite", "named_constants", "init_formula", "extract", "eval_args",
           "Embedding", "Extraction", "FIELDS", "D", "default_of"]
