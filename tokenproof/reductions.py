"""Two sound reductions of BMC's queries: symmetric fresh objects, and no failing step before the last.

Both only remove traces that have a *shortest* counterexample's equivalent elsewhere, so the
first depth at which a query is satisfiable, and every "no violation up to depth d", are
unchanged (``tokenproof.bmc.run_bmc``, ``reduce=True``):

* **Symmetry of the fresh objects.**  The ``extra`` elements BMC adds per sort start dead with
  default contents (an fd number: closed in every process) and nothing refers to them; when swapping two of them maps the initial world
  to itself (``interchangeable``, checked on the concrete world), no rule, property or access
  query can tell them apart (rules and properties name objects only through arguments, fields
  and quantifiers over the whole universe).  Renaming the fresh objects of any trace in the
  order they first come alive gives a trace of the same length with the same verdicts, so the
  query may require that order (``SymmetryBreaking``): fresh object ``i+1`` of a sort is alive
  (an fd number: open) at some state up to ``d`` only if fresh object ``i`` is.
* **A failing step is a stutter.**  A step whose guard fails changes only the fields of its
  ``set_now`` effects (``Outcome.failure_writes``: the used bits of §7.1).  Before the violating
  step, such a step of a rule that writes no field the query depends on under failure can be
  deleted: the shorter trace is still an execution (the later steps read the same values) and
  violates the property at its last step, so a *shortest* counterexample has none.  Once
  depth ``k`` is known to have no violation, step ``k-1`` of every deeper query may therefore be
  required to succeed for those rules (``steps_succeed``); "the fields the query depends on" is
  the rule-level cone's field set (``tokenproof.bmc.rule_cone``) or, without the cone, every
  field.
"""

from __future__ import annotations

from typing import Any, Iterable

import z3

from model.concrete import ConcreteState
from model.state import ALIVE_FIELD, SCHEMA
from tokenproof.unrolling import _as_bool

#: per sort, the field that says an object is in use: alive; an fd number: open in some process
IN_USE_FIELD = {**ALIVE_FIELD, "Handle": "fd_open"}


def _swap(a: int, b: int):
    return lambda x: b if x == a else a if x == b else x


def swap_is_automorphism(c: ConcreteState, sort: str, a: int, b: int) -> bool:
    """Whether exchanging objects ``a`` and ``b`` of ``sort`` maps the state ``c`` to itself (every
    field, at every key, with references to either object exchanged too)."""
    swap = _swap(a, b)
    for spec in SCHEMA:
        if sort not in spec.keys and not (spec.type.kind == "obj" and spec.type.sort == sort):
            continue
        view = c.view(spec.name)
        refers = spec.type.kind == "obj" and spec.type.sort == sort
        for key in ([()] if not spec.keys else c.keys_of(spec)):
            image = tuple(swap(x) if s == sort else x for s, x in zip(spec.keys, key))
            value = view(*key)
            if view(*image) != (swap(value) if refers else value):
                return False
    return True


def interchangeable(c: ConcreteState, world: ConcreteState,
                    sorts: Iterable[str] = IN_USE_FIELD) -> dict[str, list[list[int]]]:
    """Per sort, the classes (two objects or more) of interchangeable objects of ``c`` among those
    added beyond ``world``'s (BMC's fresh elements, and the "no object" ids the embedding adds): two
    objects are in one class when swapping them maps ``c`` to itself.  (Swaps with one
    representative suffice: if ``(r a)`` and ``(r b)`` are automorphisms, so is
    ``(a b) = (r a)(r b)(r a)``.)"""
    out: dict[str, list[list[int]]] = {}
    for sort in sorts:
        known = set(world.universe[sort])
        classes: list[list[int]] = []
        for i in c.universe[sort]:
            if i in known:
                continue
            home = next((k for k in classes if swap_is_automorphism(c, sort, k[0], i)), None)
            if home is None:
                classes.append([i])
            else:
                home.append(i)
        if any(len(k) > 1 for k in classes):
            out[sort] = [k for k in classes if len(k) > 1]
    return out


class SymmetryBreaking:
    """"Fresh objects come alive in index order": for each state ``d``, each class of
    interchangeable fresh elements ``e_0, e_1, ...`` (``interchangeable``) satisfies ``used_d(e_{i+1}) -> used_d(e_i)``,
    where ``used_d(e)`` says ``e`` is alive in some state ``0..d``."""

    def __init__(self, unr: Any, classes: dict[str, list[list[int]]]):
        self.unr = unr
        index = {s: {i: n for n, i in enumerate(unr.init.universe[s])} for s in classes}
        self.classes = [(s, [index[s][i] for i in ids]) for s, ks in classes.items() for ids in ks]
        self._used: dict[tuple[str, int], Any] = {}

    def constraints(self, d: int) -> list[Any]:
        """The ordering of state ``d`` (call once per state, in increasing ``d``)."""
        out = []
        for sort, elems in self.classes:
            used = []
            for e in elems:
                now = self._in_use(sort, d, e)
                prev = self._used.get((sort, e))
                self._used[(sort, e)] = u = now if prev is None else z3.Or(prev, now)
                used.append(u)
            out += [z3.Implies(later, earlier) for earlier, later in zip(used, used[1:])]
        return out

    def _in_use(self, sort: str, d: int, e: int) -> Any:
        """Element ``e`` of ``sort`` is in use in state ``d`` (``IN_USE_FIELD``; an fd number: in any process)."""
        table = self.unr.field_table(d, IN_USE_FIELD[sort])
        return z3.Or(*[_as_bool(v) for key, v in table.items() if key[-1] == e])


def steps_succeed(unr: Any, j: int, fields: set[str] | None) -> list[Any]:
    """Step ``j`` does not fail, for every rule whose failing step writes no field of ``fields``
    (``None``: every field): required of the steps before the last of a shortest counterexample.  A
    rule whose outcome does not say what its failure writes (``failure_writes`` is ``None``) is left free."""
    out = []
    for i, name in enumerate(unr.rule_names):
        writes = unr.template.outs[name].failure_writes
        if writes is None or (writes if fields is None else writes & fields):
            continue
        errno = unr.step_term(j, name, "errno")
        if isinstance(errno, int):
            if errno != 0:
                out.append(unr.steps[j].sel != i)
            continue
        out.append(z3.Implies(unr.steps[j].sel == i, errno == 0))
    return out


__all__ = ["IN_USE_FIELD", "interchangeable", "swap_is_automorphism", "SymmetryBreaking", "steps_succeed"]
