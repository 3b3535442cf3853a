"""The symbolic backends: states as z3 functions over object sorts.

Two flavours share one class:

* ``unbounded`` (induction, §DEVELOPERS "unbounded proofs"): every sort is an
  uninterpreted z3 sort, so a proof covers any number of threads, processes,
  tokens, handles and sessions; ``forall``/``exists`` become z3 quantifiers.
* ``finite`` (BMC, differential tests): every sort is an enumeration of the
  given elements; quantifiers expand to conjunctions and disjunctions.

The next state is built by substitution: a written field becomes
``lambda x: If(cond(x), new(x), old(x))`` over the previous field, with no
fresh functions or defining quantifiers.  BMC ``materialize``s a state at each
depth (finite sorts only: one ground equation per key).
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable

import z3

from model import domain as D
from model.state import FIELDS, SCHEMA, SORTS, FieldView, State, Type, Write
from model.values import and_, is_sym

_counter = itertools.count()


class Universe:
    """The z3 sorts of one symbolic world (shared by all states of a query)."""

    def __init__(self, mode: str, sizes: dict[str, int] | None = None,
                 sids: Iterable[str] = (), extra_sids: int = 2, bv: bool = False):
        assert mode in ("unbounded", "finite")
        assert not bv or mode == "finite", "bit-vector elements need a finite universe"
        self.mode = mode
        self.bv = bv
        self.ranges: list[z3.BoolRef] = []  # bv: the range constraints of the constants made so far
        self.const_types: dict[int, Type] = {}  # bv: the model type of each constant (sorts no longer tell)
        self.tag = next(_counter)
        self.sorts: dict[str, z3.SortRef] = {}
        self.elements: dict[str, list[z3.ExprRef]] = {}
        self.axioms: list[z3.BoolRef] = []
        sid_names = list(dict.fromkeys([*D.WELL_KNOWN_SIDS, D.MALFORMED_SID, *sids]))
        if mode == "unbounded":
            for s in SORTS:
                self.sorts[s] = z3.DeclareSort(f"{s}_{self.tag}")
            self.sorts["SID"] = z3.DeclareSort(f"SID_{self.tag}")
            self.sid_consts = {n: z3.Const(f"sid[{n}]_{self.tag}", self.sorts["SID"]) for n in sid_names}
            self.axioms.append(z3.Distinct(*self.sid_consts.values()))
        else:
            sizes = sizes or {}
            for s in SORTS:
                self.sorts[s], self.elements[s] = self._finite_sort(s, max(1, sizes.get(s, 1)))
            names = sid_names + [f"S-1-5-21-0-0-0-{9000 + i}" for i in range(extra_sids)]
            self.sorts["SID"], self.elements["SID"] = self._finite_sort("SID", len(names))
            self.sid_consts = dict(zip(names, self.elements["SID"]))
        self.sid_names = {str(v): k for k, v in self.sid_consts.items()}

    def _finite_sort(self, name: str, n: int) -> tuple[z3.SortRef, list[z3.ExprRef]]:
        """``n`` distinct elements: an enumeration sort, or (``bv``) the numbers ``0..n-1``
        of a bit-vector sort (every formula then is QF_BV, which z3 bit-blasts to SAT)."""
        if self.bv:
            w = max(1, (n - 1).bit_length())
            return z3.BitVecSort(w), [z3.BitVecVal(i, w) for i in range(n)]
        prefix = "sid" if name == "SID" else name[:2].lower()
        sort, consts = z3.EnumSort(f"{name}_{self.tag}", [f"{prefix}{i}_{self.tag}" for i in range(n)])
        return sort, list(consts)

    def take_ranges(self) -> list[z3.BoolRef]:
        """The range constraints of the bit-vector constants made since the last call
        (``bv``: an object or SID constant is one of its sort's elements)."""
        out, self.ranges = self.ranges, []
        return out

    def z3sort(self, t: Type) -> z3.SortRef:
        if t.kind == "bool":
            return z3.BoolSort()
        if t.kind == "bv":
            return z3.BitVecSort(t.width)
        if t.kind == "sid":
            return self.sorts["SID"]
        return self.sorts[t.sort]

    def const(self, name: str, t: Type) -> z3.ExprRef:
        c = z3.Const(f"{name}_{self.tag}_{next(_counter)}", self.z3sort(t))
        if self.bv:
            self.const_types[c.get_id()] = t
        if self.bv and t.kind in ("obj", "sid"):
            key = "SID" if t.kind == "sid" else t.sort
            n = len(self.elements[key])
            if n < 1 << self.sorts[key].size():  # some bit patterns are no element (n = 1 has two)
                self.ranges.append(z3.ULE(c, n - 1))
        return c

    def lift(self, t: Type, v: Any) -> z3.ExprRef:
        """A concrete-or-symbolic value as a z3 term of type ``t``."""
        if is_sym(v):
            return v
        if t.kind == "bool":
            return z3.BoolVal(bool(v))
        if t.kind == "bv":
            return z3.BitVecVal(int(v), t.width)
        if t.kind == "sid":
            return self.sid_consts[v]
        raise TypeError(f"cannot lift {v!r} to {t}: objects must be symbolic here")

    def fresh_state(self, prefix: str = "s") -> "SymState":
        fns: dict[str, Callable[..., Any]] = {}
        for spec in SCHEMA:
            dom = [self.sorts[k] for k in spec.keys]
            f = z3.Function(f"{prefix}.{spec.name}_{self.tag}_{next(_counter)}", *dom, self.z3sort(spec.type))
            fns[spec.name] = f
        return SymState(self, fns)


class SymState(State):
    backend = "symbolic"

    def __init__(self, uni: Universe, fns: dict[str, Callable[..., Any]]):
        self.uni = uni
        self.fns = fns

    def view(self, name: str) -> FieldView:
        return FieldView(FIELDS[name], self.fns[name])

    def sid(self, text: str) -> z3.ExprRef:
        return self.uni.sid_consts[text]

    def _bound(self, sort: str) -> z3.ExprRef:
        return z3.Const(f"q_{sort.lower()}_{next(_counter)}", self.uni.sorts[sort])

    def forall(self, sort: str, fn: Callable[[Any], Any]) -> Any:
        if self.uni.mode == "finite":
            return and_(*[fn(e) for e in self.uni.elements[sort]])
        x = self._bound(sort)
        body = fn(x)
        return z3.ForAll([x], body) if is_sym(body) else body

    def exists(self, sort: str, fn: Callable[[Any], Any]) -> Any:
        if self.uni.mode == "finite":
            from model.values import or_

            return or_(*[fn(e) for e in self.uni.elements[sort]])
        x = self._bound(sort)
        body = fn(x)
        return z3.Exists([x], body) if is_sym(body) else body

    def with_writes(self, writes: list[Write]) -> "SymState":
        fns = dict(self.fns)
        for w in writes:
            spec = FIELDS[w.field]
            old = fns[w.field]
            fns[w.field] = _compose(self.uni, spec, old, w)
        return SymState(self.uni, fns)

    # ------------------------------------------------------------ BMC support
    def materialize(self, prefix: str) -> tuple["SymState", list[z3.BoolRef]]:
        """Fresh functions equal to this state's fields at every key (finite mode)."""
        assert self.uni.mode == "finite"
        fresh = self.uni.fresh_state(prefix)
        eqs: list[z3.BoolRef] = []
        for spec in SCHEMA:
            new, cur = fresh.fns[spec.name], self.fns[spec.name]
            for key in itertools.product(*(self.uni.elements[k] for k in spec.keys)):
                eqs.append(new(*key) == self.uni.lift(spec.type, cur(*key)))
        return fresh, eqs


def _compose(uni: Universe, spec, old: Callable[..., Any], w: Write) -> Callable[..., Any]:
    t = spec.type
    if w.where is None:
        value = uni.lift(t, w.value)
        when = w.when
        if not spec.keys:
            return lambda: z3.If(when, value, uni.lift(t, old())) if is_sym(when) else (value if when else old())
        key = w.key

        def point(*x: Any) -> Any:
            hit = and_(when, *[a == b for a, b in zip(x, key)])
            return z3.If(hit, value, uni.lift(t, old(*x))) if is_sym(hit) else (value if hit else old(*x))

        return point

    where, when = w.where, w.when

    def bulk(*x: Any) -> Any:
        cond, value = where(*x)
        hit = and_(when, cond)
        if not is_sym(hit):
            return uni.lift(t, value) if hit else old(*x)
        return z3.If(hit, uni.lift(t, value), uni.lift(t, old(*x)))

    return bulk
