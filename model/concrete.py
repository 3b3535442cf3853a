"""The concrete backend: states as dicts of Python values.

States are persistent: ``with_writes`` copies only the fields it changes, so a
rule's pre-state stays intact for properties that compare pre and post.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable

from model import domain as D
from model.state import FIELDS, SCHEMA, SORTS, FieldSpec, FieldView, State, Type, Write, default_of
from model.values import is_sym


def normalize(t: Type, v: Any) -> Any:
    """A concrete value in canonical form for type ``t`` (fails on z3 terms)."""
    if is_sym(v):
        raise TypeError(f"symbolic value {v} written into a concrete state")
    if t.kind == "bool":
        return bool(v)
    if t.kind == "bv":
        return int(v) & ((1 << t.width) - 1)
    if t.kind == "obj":
        return int(v)
    return str(v)


class ConcreteState(State):
    backend = "concrete"

    def __init__(self, data: dict[str, Any], universe: dict[str, tuple]):
        self._data = data
        self.universe = universe
        self._views: dict[str, FieldView] = {}  # per-state cache (states are persistent)

    def __getattr__(self, name: str) -> Any:
        # fast path of State.__getattr__: cached views, scalars read directly
        spec = FIELDS.get(name)
        if spec is None:
            raise AttributeError(name)
        if not spec.keys:
            return self._data[name]
        return self.view(name)

    # ------------------------------------------------------------ construction
    @classmethod
    def empty(cls) -> "ConcreteState":
        data: dict[str, Any] = {}
        for f in SCHEMA:
            data[f.name] = default_of(f.type) if not f.keys else {}
        return cls(data, {s: () for s in SORTS})

    def copy_with_universe(self, sort: str, new_ids: Iterable[int]) -> "ConcreteState":
        """The same state with fresh (unset, hence dead) objects added to a sort."""
        uni = dict(self.universe)
        uni[sort] = tuple(sorted(set(uni[sort]) | set(new_ids)))
        return ConcreteState(self._data, uni)

    def set(self, name: str, key: Any, value: Any) -> None:
        """In-place write, for building initial states only."""
        spec = FIELDS[name]
        value = normalize(spec.type, value)
        if not spec.keys:
            self._data[name] = value
            self._views.pop(name, None)
            return
        if not isinstance(key, tuple):
            key = (key,)
        for sort, k in zip(spec.keys, key):
            if k not in self.universe[sort]:
                self.universe = {**self.universe, sort: tuple(sorted(set(self.universe[sort]) | {k}))}
        self._data[name][key if len(key) > 1 else key[0]] = value

    # ------------------------------------------------------------ State interface
    def view(self, name: str) -> FieldView:
        v = self._views.get(name)
        if v is not None:
            return v
        spec = FIELDS[name]
        d = self._data[name]
        if not spec.keys:
            v = FieldView(spec, lambda: d)
        else:
            default = default_of(spec.type)
            get = d.get
            if len(spec.keys) == 1:
                v = FieldView(spec, lambda k: get(k, default))
            else:
                v = FieldView(spec, lambda *k: get(k, default))
        self._views[name] = v
        return v

    def raw(self, name: str) -> Any:
        return self._data[name]

    def sid(self, text: str) -> str:
        return text

    def forall(self, sort: str, fn: Callable[[Any], Any]) -> bool:
        return all(fn(x) for x in self.universe[sort])

    def exists(self, sort: str, fn: Callable[[Any], Any]) -> bool:
        return any(fn(x) for x in self.universe[sort])

    def alive(self, sort: str) -> list[int]:
        from model.state import ALIVE_FIELD

        if sort == "Handle":
            return list(self.universe["Handle"])
        d = self._data[ALIVE_FIELD[sort]]
        return [x for x in self.universe[sort] if d.get(x, False)]

    def keys_of(self, spec: FieldSpec) -> Iterable[Any]:
        return itertools.product(*(self.universe[s] for s in spec.keys))

    def with_writes(self, writes: list[Write]) -> "ConcreteState":
        data = dict(self._data)
        copied: set[str] = set()
        for w in writes:
            spec = FIELDS[w.field]
            if w.where is None:
                if not w.when:
                    continue
                value = normalize(spec.type, w.value)
                if not spec.keys:
                    data[w.field] = value
                    continue
                if w.field not in copied:
                    data[w.field] = dict(data[w.field])
                    copied.add(w.field)
                key = w.key if len(w.key) > 1 else w.key[0]
                data[w.field][key] = value
                continue
            if not w.when:
                continue
            rows = w.rows if w.rows is not None else self.keys_of(spec)
            updates = []
            for key in rows:
                key = key if isinstance(key, tuple) else (key,)
                cond, value = w.where(*key)
                if cond:
                    updates.append((key if len(key) > 1 else key[0], normalize(spec.type, value)))
            if updates:
                if w.field not in copied:
                    data[w.field] = dict(data[w.field])
                    copied.add(w.field)
                data[w.field].update(updates)
        return ConcreteState(data, self.universe)

    # ------------------------------------------------------------ comparison and display
    def value(self, name: str, key: Any = None) -> Any:
        v = self.view(name)
        if not FIELDS[name].keys:
            return v()
        return v[key]

    def snapshot(self) -> dict[str, dict]:
        """Every field at every key of the universe (for equality and diffs)."""
        out: dict[str, dict] = {}
        for spec in SCHEMA:
            v = self.view(spec.name)
            if not spec.keys:
                out[spec.name] = {(): v()}
            else:
                out[spec.name] = {k: v(*k) for k in self.keys_of(spec)}
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConcreteState) and self.snapshot() == other.snapshot()

    def __hash__(self) -> int:  # pragma: no cover - states are compared, not hashed
        return id(self)


def next_free(ids: Iterable[int], start: int = 0) -> int:
    used = set(ids)
    n = start
    while n in used:
        n += 1
    return n


__all__ = ["ConcreteState", "normalize", "next_free", "D"]
