"""The concrete backend: states as dicts of Python values.

States are persistent: ``with_writes`` copies only the fields it changes, so a
rule's pre-state stays intact for properties that compare pre and post.

Storage (for speed; the interface is unchanged):

* Every field lives in the state's instance ``__dict__`` under its own name,
  so ``s.token_user`` is a plain attribute hit.  A scalar field is stored as
  its value; a keyed field as a ``FieldDict``: a ``dict`` (key, or key tuple
  for two-key fields, to value) that answers its field's default for a key it
  does not store.  The ``FieldDict`` is at the same time the field's view
  (``view[k]``, ``view(k)``, ``view.name``, ``view.spec``), so reading a field
  never builds anything.
* Copy-on-write: a new state shares every field dict it does not change;
  ``copy_with_universe`` shares all of them.
* Each distinct field data carries a generation number and, if it was made by
  ``with_writes``/a concrete ``Step.finish``, the *delta* from its parent: the
  written ``(field, key)`` pairs and the parent's versions of the changed
  fields.  ``model.reclaim.collect_garbage`` uses it to schedule reclamation.
* Linear states (``ConcreteState.linear``, for straight-line runs that never go
  back to a pre-state): a step writes into the field dicts in place instead of
  copying each dict it writes; the delta then lists only the writes that
  changed a value (a write of the value a key already reads is made but not
  listed: every reader of deltas skips such writes) and keeps the old value of
  every such key (``_OldValues``) instead of the parent's dicts.
* Universes are sorted tuples without duplicates (``Ids``), so membership and
  the next free id are binary searches.  A universe made by
  ``copy_with_universe`` (a ``UniverseDict``) remembers the one it grew from
  and the ids it appended, so ``universe_added`` tells what a step allocated
  without comparing whole universes.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import MutableMapping
from typing import Any, Callable, Iterable, Iterator

from model import domain as D
from model.state import ALIVE_FIELD, FIELDS, SCHEMA, SORTS, FieldSpec, FieldView, State, Type, Write, default_of
from model.values import BV, and_, is_sym

_int_new = int.__new__


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


def _normalizer(t: Type) -> Callable[[Any], Any]:
    """``normalize(t, v)`` that returns an already canonical ``v`` as it is
    (the exact ``bool``/``int``/``str`` that ``normalize`` would give back)."""
    if t.kind == "bool":
        def norm(v: Any) -> Any:
            if v is True or v is False:
                return v
            return normalize(t, v)
    elif t.kind == "bv":
        top = (1 << t.width) - 1

        def norm(v: Any) -> Any:
            if type(v) is int and 0 <= v <= top:
                return v
            if type(v) is BV:  # a concrete bit-vector (an int): ``normalize``'s ``int(v) & top``
                return _int_new(int, v) & top
            return normalize(t, v)
    elif t.kind == "obj":
        def norm(v: Any) -> Any:
            if type(v) is int:
                return v
            return normalize(t, v)
    else:
        def norm(v: Any) -> Any:
            if type(v) is str:
                return v
            return normalize(t, v)
    return norm


NORMALIZE: dict[str, Callable[[Any], Any]] = {f.name: _normalizer(f.type) for f in SCHEMA}
_BOOL_FIELDS = frozenset(f.name for f in SCHEMA if f.type.kind == "bool")
_SID_FIELDS = frozenset(f.name for f in SCHEMA if f.type.kind == "sid")
# largest canonical int per bv / object field (an object id is any int: ``normalize`` is ``int(v)``,
# but a negative plain int is canonical too; the fast path just takes the common range)
_INT_TOP: dict[str, int] = {f.name: ((1 << f.type.width) - 1 if f.type.kind == "bv" else 1 << 62)
                            for f in SCHEMA if f.type.kind in ("bv", "obj")}


def _canonical(name: str, value: Any) -> Any:
    """``NORMALIZE[name](value)``, skipped when ``value`` is already stored as it is (the common case)."""
    tv = type(value)
    if tv is bool:
        ok = name in _BOOL_FIELDS
    elif tv is int:
        ok = 0 <= value <= _INT_TOP.get(name, -1)
    else:
        ok = tv is str and name in _SID_FIELDS
    return value if ok else NORMALIZE[name](value)


# ------------------------------------------------------------------ field storage
class FieldDict(dict):
    """The stored values of one keyed field, which is also its read view.

    ``d[k]`` is the stored value or the field's default (``__missing__``);
    ``d(k)`` / ``d(p, h)`` is the call form of ``FieldView``.  One subclass per
    field carries ``spec`` and ``default`` as class attributes.  ``dict.get``
    still sees only what is stored (``raw`` semantics)."""

    __slots__ = ()
    spec: FieldSpec
    default: Any
    name: str
    _one_key: bool

    def __missing__(self, key: Any) -> Any:
        if type(key) is tuple and self._one_key and len(key) == 1:  # view[(k,)] as FieldView allowed it
            return self.get(key[0], self.default)
        return self.default

    def __call__(self, *key: Any) -> Any:
        return self[key[0]] if self._one_key else self[key]


FIELD_CLASS: dict[str, type[FieldDict]] = {
    f.name: type(f"Field_{f.name}", (FieldDict,), {"__slots__": (), "spec": f, "default": default_of(f.type),
                                                    "name": f.name, "_one_key": len(f.keys) == 1})
    for f in SCHEMA if f.keys
}
globals().update({cls.__name__: cls for cls in FIELD_CLASS.values()})  # importable by name: states pickle

# object-typed (Token / Session) fields per key signature: what reclamation scheduling reads
OBJ_FIELDS_BY_KEYS: dict[tuple[str, ...], list[FieldSpec]] = {}
for _f in SCHEMA:
    if _f.keys and _f.type.kind == "obj" and _f.type.sort in ("Token", "Session"):
        OBJ_FIELDS_BY_KEYS.setdefault(_f.keys, []).append(_f)

_GEN = itertools.count(1)  # generation numbers of field data (the store's "_gen" entry)


class Ids(tuple):
    """The ids of one sort's universe: ascending, without duplicates, all ``int``."""

    __slots__ = ()


def as_ids(t: Iterable[Any]) -> tuple:
    """``t`` as ``Ids`` if it is ascending, duplicate-free and all ints; else unchanged (as a tuple)."""
    if type(t) is Ids:
        return t
    t = tuple(t)
    if all(type(x) is int for x in t) and all(a < b for a, b in zip(t, t[1:])):
        return Ids(t)
    return t


class UniverseDict(dict):
    """A universe (sort -> ids) made by ``copy_with_universe``.  ``lineage`` is
    ``(base, sort, old, ids)`` when it is the universe dict ``base`` with the ids
    of ``sort`` grown from ``old`` to ``ids`` by appending larger ids (else None).
    ``universe_added`` reads it; it pickles and copies as a plain dict."""

    __slots__ = ("lineage",)

    def __reduce__(self) -> tuple:
        return (dict, (dict(self),))


def universe_added(old: dict[str, tuple], new: dict[str, tuple], depth: int = 16) -> dict[str, list] | None:
    """Per sort, the ids ``new`` appends to ``old``, if ``new`` was made from ``old`` by
    ``copy_with_universe`` appending ids (at most ``depth`` times); else None (unknown).
    Every link is checked by identity (the grown sort's old and new ``Ids``, every other
    sort's ``Ids``), so a dict edited in place after its making is not trusted."""
    segments: dict[str, list] = {}
    n = new
    while n is not old:
        if type(n) is not UniverseDict or depth == 0:
            return None
        lin = getattr(n, "lineage", None)
        if lin is None:
            return None
        base, sort, o, ids = lin
        if len(n) != len(base) or n.get(sort) is not ids or base.get(sort) is not o:
            return None
        for k, v in n.items():
            if k != sort and base.get(k) is not v:
                return None
        segments.setdefault(sort, []).append(ids[len(o):])
        n = base
        depth -= 1
    return {sort: [x for seg in reversed(segs) for x in seg] for sort, segs in segments.items()}


#: below this many ids a linear ``in`` (in C) beats ``bisect_left`` on an ``Ids`` (a tuple subclass,
#: which ``bisect`` indexes through the generic sequence protocol: several times slower than ``in``)
BISECT_MIN = 64


def contains(ids: tuple, k: Any) -> bool:
    """``k in ids`` (a binary search for a large ``Ids``)."""
    if type(ids) is Ids and type(k) is int and len(ids) >= BISECT_MIN:
        i = bisect_left(ids, k)
        return i < len(ids) and ids[i] == k
    return k in ids


def _sorted_union(old: tuple, new_ids: Iterable[Any]) -> tuple:
    """``tuple(sorted(set(old) | set(new_ids)))``, returning ``old`` itself if nothing is new."""
    new = list(new_ids)
    if len(new) == 1 and type(old) is Ids and type(new[0]) is int:
        x = new[0]
        if not old or x > old[-1]:  # a fresh id past the end (what allocate_fresh picks)
            return Ids(old + (x,))
        if contains(old, x):
            return old
    if type(old) is Ids and all(type(x) is int for x in new):
        missing = sorted({x for x in new if not contains(old, x)})
        if not missing:
            return old
        if not old or missing[0] > old[-1]:
            return Ids(old + tuple(missing))
        return Ids(sorted(set(old) | set(missing)))
    return as_ids(sorted(set(old) | set(new)))


class _DataProxy(MutableMapping):
    """``state._data``: the field store as a mapping (name -> value or dict).
    Writing a field through it replaces the field (a plain dict is adopted)."""

    def __init__(self, state: "ConcreteState"):
        self._s = state

    def __getitem__(self, name: str) -> Any:
        if name not in FIELDS:
            raise KeyError(name)
        return self._s.__dict__[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._s._replace_field(name, value)

    def __delitem__(self, name: str) -> None:  # pragma: no cover - not supported
        raise TypeError("fields cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._s.__dict__ if n in FIELDS)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class ConcreteState(State):
    backend = "concrete"
    __slots__ = ("universe", "_cache")

    def __init__(self, data: dict[str, Any], universe: dict[str, tuple]):
        store: dict[str, Any] = {}
        for name, v in data.items():
            cls = FIELD_CLASS.get(name)
            store[name] = cls(v) if cls is not None else v
        store["_gen"] = next(_GEN)
        store["_delta"] = None
        self.__dict__.update(store)
        self.universe = {k: as_ids(v) for k, v in universe.items()}
        self._cache = {}  # derived data shared along a lineage, validated by identity (alive lists)

    def __getattr__(self, name: str) -> Any:
        # only reached for a name the store does not hold
        if name in FIELDS:
            raise KeyError(name)
        raise AttributeError(name)

    @classmethod
    def _make(cls, store: dict[str, Any], universe: dict[str, tuple], cache: dict) -> "ConcreteState":
        new = object.__new__(cls)
        new.__dict__ = store
        new.universe = universe
        new._cache = cache
        return new

    @property
    def _data(self) -> _DataProxy:
        return _DataProxy(self)

    def _touched_in_place(self) -> None:
        """The field data changed in place: a new generation, no delta, no cached derivations."""
        self.__dict__["_gen"] = next(_GEN)
        self.__dict__["_delta"] = None
        self._cache.clear()

    def _replace_field(self, name: str, value: Any) -> None:
        if name not in FIELDS:
            raise KeyError(name)
        cls = FIELD_CLASS.get(name)
        self.__dict__[name] = cls(value) if cls is not None and type(value) is not cls else value
        self._touched_in_place()

    # ------------------------------------------------------------ construction
    @classmethod
    def empty(cls) -> "ConcreteState":
        data: dict[str, Any] = {}
        for f in SCHEMA:
            data[f.name] = default_of(f.type) if not f.keys else {}
        return cls(data, {s: () for s in SORTS})

    def linear(self, delta: bool = True) -> "ConcreteState":
        """This state, for straight-line use (a random walk, a trace run without diffs): the
        same data in field dicts of its own, marked linear.  A concrete ``Step.finish`` on a
        linear state (and on every state made from it) writes into the field dicts in place
        instead of copying each dict it writes (``_apply_in_place``): the post-state is a new
        state object, but the pre-state's keyed fields then read the post-state's values.
        So every step applied to a linear state must be the one kept (its post-state is the
        next state); the pre-state keeps only its universe, its scalars, its generation and
        its delta, which is what reclamation scheduling reads (``model.reclaim``).  With
        ``delta=False`` steps record no delta either (for runs without reclamation: a
        collection then makes the full pass).  Outcomes are those of the persistent states
        (tests/model/test_linear_perf.py)."""
        store: dict[str, Any] = {}
        for name, v in self.__dict__.items():
            cls = FIELD_CLASS.get(name)
            store[name] = cls(v) if cls is not None else v
        store["_gen"] = next(_GEN)
        store["_delta"] = None
        store["_linear"] = True if delta else "no delta"
        return ConcreteState._make(store, self.universe, {})

    @property
    def is_linear(self) -> bool:
        return bool(self.__dict__.get("_linear"))

    def copy_with_universe(self, sort: str, new_ids: Iterable[int]) -> "ConcreteState":
        """The same state with fresh (unset, hence dead) objects added to a sort
        (the state itself if they are all there already)."""
        old = self.universe[sort]
        ids = _sorted_union(old, new_ids)
        if ids is old:
            return self
        uni = UniverseDict(self.universe)
        uni[sort] = ids
        if type(old) is Ids and type(ids) is Ids and (not old or ids[len(old)] > old[-1]):
            # ``ids`` is ``old`` followed by the new ids (all larger): remember that
            uni.lineage = (self.universe, sort, old, ids)
            hit = self._cache.get(sort)
            if hit is not None and hit[0] is old and sort in ALIVE_FIELD and hit[1] is self.__dict__[ALIVE_FIELD[sort]]:
                # the alive list of the grown universe: the old one plus the appended ids that are alive
                d = hit[1]
                extra = [x for x in ids[len(old):] if d.get(x)]
                self._cache[sort] = (ids, d, hit[2] + extra if extra else hit[2])
        else:
            uni.lineage = None
        return ConcreteState._make(self.__dict__, uni, self._cache)  # shares the field data

    def set(self, name: str, key: Any, value: Any) -> None:
        """In-place write, for building initial states only."""
        spec = FIELDS[name]
        value = normalize(spec.type, value)
        if not spec.keys:
            self.__dict__[name] = value
            self._touched_in_place()
            return
        if not isinstance(key, tuple):
            key = (key,)
        for sort, k in zip(spec.keys, key):
            if not contains(self.universe[sort], k):
                self.universe = {**self.universe, sort: _sorted_union(self.universe[sort], [k])}
        self.__dict__[name][key if len(key) > 1 else key[0]] = value
        self._touched_in_place()

    # ------------------------------------------------------------ State interface
    def view(self, name: str) -> FieldView:
        if name in FIELD_CLASS:
            return self.__dict__[name]  # the FieldDict is the view
        spec = FIELDS[name]
        d = self.__dict__[name]
        return FieldView(spec, lambda: d)

    def raw(self, name: str) -> Any:
        if name not in FIELDS:
            raise KeyError(name)
        return self.__dict__[name]

    def sid(self, text: str) -> str:
        return text

    def forall(self, sort: str, fn: Callable[[Any], Any]) -> bool:
        for x in self.universe[sort]:
            if not fn(x):
                return False
        return True

    def exists(self, sort: str, fn: Callable[[Any], Any]) -> bool:
        for x in self.universe[sort]:
            if fn(x):
                return True
        return False

    def exists_alive(self, sort: str, fn: Callable[[Any], tuple], match: tuple[str, Any] | None = None) -> bool:
        """``State.exists_alive``: the objects for which the conjunction is False whatever
        ``fn`` says (dead ones, and ones whose ``match`` field differs) are not looked at."""
        xs = self.alive(sort)
        if match is None:
            for x in xs:
                if and_(*fn(x)):
                    return True
            return False
        # the live objects whose ``match`` field equals the value, found by ``list.index`` (its
        # ``==``, as ``eq`` on concrete values) over the field's values read in one ``map``
        vals = list(map(self.__dict__[match[0]].__getitem__, xs))
        value, i = match[1], 0
        while True:
            try:
                i = vals.index(value, i)
            except ValueError:
                return False
            if and_(*fn(xs[i])):
                return True
            i += 1

    # The base class nests ``forall``/``exists`` with two lambdas per pair; the same pairs,
    # in the same order, with the same truth tests, in one loop.
    def forall2(self, s1: str, s2: str, fn: Callable[[Any, Any], Any]) -> bool:
        inner = self.universe[s2]
        for a in self.universe[s1]:
            for b in inner:
                if not fn(a, b):
                    return False
        return True

    def exists2(self, s1: str, s2: str, fn: Callable[[Any, Any], Any]) -> bool:
        inner = self.universe[s2]
        for a in self.universe[s1]:
            for b in inner:
                if fn(a, b):
                    return True
        return False

    def alive(self, sort: str) -> list[int]:
        uni = self.universe[sort]
        if sort == "Handle":
            return list(uni)
        d = self.__dict__[ALIVE_FIELD[sort]]
        hit = self._cache.get(sort)
        if hit is not None and hit[0] is uni and hit[1] is d:
            return list(hit[2])
        out = list(filter(d.get, uni))  # [x for x in uni if d.get(x, False)], in C
        self._cache[sort] = (uni, d, out)
        return list(out)

    def keys_of(self, spec: FieldSpec) -> Iterable[Any]:
        return itertools.product(*(self.universe[s] for s in spec.keys))

    def with_writes(self, writes: list[Write]) -> "ConcreteState":
        """Apply ``writes`` in order (the reference semantics of a step's effects)."""
        store = dict(self.__dict__)
        copied: set[str] = set()
        written: list[tuple[str, Any]] = []
        for w in writes:
            spec = FIELDS[w.field]
            if w.where is None:
                if not w.when:
                    continue
                value = normalize(spec.type, w.value)
                if not spec.keys:
                    store[w.field] = value
                    written.append((w.field, None))
                    copied.add(w.field)
                    continue
                if w.field not in copied:
                    store[w.field] = FIELD_CLASS[w.field](store[w.field])
                    copied.add(w.field)
                key = w.key if len(w.key) > 1 else w.key[0]
                store[w.field][key] = value
                written.append((w.field, key))
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
                    store[w.field] = FIELD_CLASS[w.field](store[w.field])
                    copied.add(w.field)
                store[w.field].update(updates)
                written.extend((w.field, k) for k, _ in updates)
        return self._derived(store, written, copied)

    def _apply_fast(self, entries: list[tuple]) -> "ConcreteState":
        """``with_writes`` for ``Step.finish`` on this backend: ``entries`` are
        ``(field, key tuple, value, when, where, rows)`` (``Step``'s pending effects, ``when``
        not read) whose guard already holds, in
        order.  Same effect as ``with_writes`` of the corresponding ``Write``s
        (tests/model/test_performance_semantics.py compares the two)."""
        if "_linear" in self.__dict__:
            return self._apply_in_place(entries)
        store = dict(self.__dict__)
        copied: set[str] = set()
        written: list[tuple[str, Any]] = []
        add = written.append
        for name, k, value, _when, where, rows in entries:
            if where is None:
                value = _canonical(name, value)
                if not k:
                    store[name] = value
                    add((name, None))
                    copied.add(name)
                    continue
                if name not in copied:
                    store[name] = FIELD_CLASS[name](store[name])
                    copied.add(name)
                key = k[0] if len(k) == 1 else k
                store[name][key] = value
                add((name, key))
                continue
            updates = [(key if len(key) > 1 else key[0], value) for key, value in self._bulk(name, where, rows)]
            if updates:
                if name not in copied:
                    store[name] = FIELD_CLASS[name](store[name])
                    copied.add(name)
                store[name].update(updates)
                written.extend((name, kk) for kk, _ in updates)
        return self._derived(store, written, copied)

    def _apply_in_place(self, entries: list[tuple]) -> "ConcreteState":
        """``_apply_fast`` for a linear state (``linear``): the same values written at the same
        keys in the same order, into this state's field dicts in place.  Every bulk update is
        evaluated first, on the unchanged state (as ``_apply_fast`` evaluates them all on this
        state).  The delta lists the writes that changed a value and keeps the old value of
        every key they wrote (``_OldValues``), unless the state was made with
        ``linear(delta=False)``.  A write of the value its key already reads is made (the key
        may become stored) but not listed: the readers of deltas (``model.reclaim``'s reclamation
        scheduling and reference index, ``_progressed``, the alive-list cache) skip such
        writes anyway (tests/model/test_step_helpers_perf.py)."""
        for e in entries:
            if e[4] is not None:
                entries = self._resolve_bulk(entries)
                break
        parent = self.__dict__
        store = dict(parent)  # the pre-state keeps its scalars, generation and delta
        written: list[tuple[str, Any]] = []
        add = written.append
        if parent["_linear"] is True:
            old: dict[str, Any] = {}
            for name, k, value, _when, _where, _rows in entries:
                value = _canonical(name, value)
                if not k:
                    if name not in old:
                        prev = store[name]
                        if prev == value:  # changes nothing (see below)
                            store[name] = value
                            continue
                        old[name] = prev
                    store[name] = value
                    add((name, None))
                    continue
                key = k[0] if len(k) == 1 else k
                d = store[name]
                o = old.get(name)
                if o is None or key not in o:
                    prev = d[key]  # stored or default: what every read of the old state saw
                    if prev == value:
                        # a write that leaves the value as every read sees it is made (the key may
                        # become stored) but not recorded: the delta lists what the step changed,
                        # and every reader of it skips such writes anyway (a later write of the
                        # same key in this step still finds the old value here)
                        d[key] = value
                        continue
                    if o is None:
                        o = old[name] = _OldValues()
                        o.current = d
                    o[key] = prev
                d[key] = value
                add((name, key))
            store["_delta"] = (parent["_gen"], written, old)
            touched: Any = old
        else:  # no delta: the same writes, nothing recorded
            touched = set()
            for name, k, value, _when, _where, _rows in entries:
                value = _canonical(name, value)
                if not k:
                    store[name] = value
                else:
                    store[name][k[0] if len(k) == 1 else k] = value
                    if name in _ALIVE_NAMES:
                        touched.add(name)
                        add((name, k[0] if len(k) == 1 else k))
            store["_delta"] = None
        store["_gen"] = next(_GEN)
        cache = self._cache
        if cache and touched:
            for name in touched:
                sort = _ALIVE_SORT.get(name)
                if sort is not None:
                    _alive_in_place(cache, sort, self.universe[sort], store[name], written, name)
        return ConcreteState._make(store, self.universe, cache)

    def _resolve_bulk(self, entries: list[tuple]) -> list[tuple]:
        """``entries`` with every bulk update (``where``) replaced by the point writes it makes,
        all evaluated on this state before anything is written (as ``_apply_fast`` does)."""
        out: list[tuple] = []
        add = out.append
        for e in entries:
            name, k, value, _when, where, rows = e
            if where is None:
                add(e)
                continue
            for key, value in self._bulk(name, where, rows):
                add((name, key, value, True, None, None))
        return out

    def _bulk(self, name: str, where: Callable[..., tuple[Any, Any]], rows: Any) -> Iterator[tuple[tuple, Any]]:
        """The (key tuple, stored value) pairs that the bulk update ``where`` of field ``name``
        sets on this state, over ``rows`` (None: every key of the field)."""
        norm = NORMALIZE[name]
        keys = FIELDS[name].keys
        if rows is None and len(keys) == 1:  # every object of the sort: ``keys_of`` without 1-tuples
            for x in self.universe[keys[0]]:
                cond, value = where(x)
                if cond:
                    yield (x,), norm(value)
            return
        for key in (rows if rows is not None else self.keys_of(FIELDS[name])):
            key = key if isinstance(key, tuple) else (key,)
            cond, value = where(*key)
            if cond:
                yield key, norm(value)

    def _derived(self, store: dict[str, Any], written: list[tuple[str, Any]], changed: set[str]) -> "ConcreteState":
        """The state with field store ``store``; its delta: ``written`` (field, key) pairs
        (key None for a scalar) and this state's versions of the ``changed`` fields."""
        parent = self.__dict__
        old = {name: parent[name] for name in changed}
        store["_gen"] = next(_GEN)
        store["_delta"] = (parent["_gen"], written, old)
        cache = self._cache
        if cache:
            for name, sort in _ALIVE_ITEMS:
                if name in changed:
                    _advance_alive(cache, sort, self.universe[sort], old[name], store[name], written, name)
        return ConcreteState._make(store, self.universe, cache)

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


_ALIVE_ITEMS = tuple((f, sort) for sort, f in ALIVE_FIELD.items())
_ALIVE_NAMES = frozenset(ALIVE_FIELD.values())
_ALIVE_SORT = {f: sort for sort, f in ALIVE_FIELD.items()}


def _advance_alive(cache: dict, sort: str, uni: tuple, d_old: dict, d_new: dict,
                   written: list[tuple[str, Any]], name: str) -> None:
    """Carry the cached alive list of ``sort`` (``ConcreteState.alive``) across a step that
    changed its alive field from ``d_old`` to ``d_new`` by the ``written`` keys of ``name``:
    the same list that ``alive`` would compute, ``[x for x in uni if d_new.get(x)]``, made
    from the old one by inserting or removing the written keys only.  Leaves the cache as it
    is when it does not hold the list for ``(uni, d_old)`` (``alive`` then recomputes)."""
    hit = cache.get(sort)
    if hit is None or hit[0] is not uni or hit[1] is not d_old or type(uni) is not Ids:
        return
    out = list(hit[2])
    if _rewrite_alive(out, uni, d_new, written, name):
        cache[sort] = (uni, d_new, out)


def _rewrite_alive(out: list, uni: tuple, d: dict, written: list[tuple[str, Any]], name: str) -> bool:
    """Bring the sorted alive list ``out`` of ``uni`` up to date, in place, with the ``written``
    keys of the alive field ``name`` (now ``d``): insert or remove each.  False (``out`` then
    describes nothing) when a written key is not an id."""
    for field_name, k in written:
        if field_name != name:
            continue
        if type(k) is not int:
            return False
        i = bisect_left(out, k)
        present = i < len(out) and out[i] == k
        if bool(d.get(k)) and contains(uni, k):
            if not present:
                out.insert(i, uni[_index_in(uni, k)])  # the universe's own id object, as ``alive`` lists it
        elif present:
            del out[i]
    return True


class _OldValues(dict):
    """A keyed field as it was before an in-place step (``_apply_in_place``): the recorded old
    value of every key the step wrote, the field's current value (``current``) for any other key."""

    __slots__ = ("current",)

    def __missing__(self, key: Any) -> Any:
        return self.current[key]


def _alive_in_place(cache: dict, sort: str, uni: tuple, d: dict, written: list[tuple[str, Any]], name: str) -> None:
    """``_advance_alive`` for an alive field ``d`` changed in place: the cached list for
    ``(uni, d)`` is brought up to date; any other cached list of ``d`` (another universe)
    is dropped, as it no longer describes ``d``."""
    hit = cache.get(sort)
    if hit is None or hit[1] is not d:
        return
    if hit[0] is not uni or type(uni) is not Ids:
        del cache[sort]
        return
    out = hit[2]  # the cache's own list (``alive`` hands out copies): updated in place
    if not _rewrite_alive(out, uni, d, written, name):
        del cache[sort]
        return
    cache[sort] = (uni, d, out)


def _index_in(ids: tuple, k: Any) -> int:
    """The position of ``k`` in the ``Ids`` ``ids``, which holds it (``bisect_left``, or
    ``tuple.index`` below ``BISECT_MIN`` ids: the same position)."""
    return ids.index(k) if len(ids) < BISECT_MIN else bisect_left(ids, k)


def next_free(ids: Iterable[int], start: int = 0) -> int:
    """The least ``n >= start`` not in ``ids``."""
    if type(ids) is Ids and type(start) is int:
        # ascending distinct ints from index i: ids[i + j] == start + j holds for a prefix of j
        i = bisect_left(ids, start)
        lo, hi = 0, len(ids) - i  # find the first j with ids[i + j] != start + j
        while lo < hi:
            mid = (lo + hi) // 2
            if ids[i + mid] == start + mid:
                lo = mid + 1
            else:
                hi = mid
        return start + lo
    used = set(ids)
    n = start
    while n in used:
        n += 1
    return n


__all__ = ["ConcreteState", "normalize", "next_free", "D", "FieldDict", "Ids", "as_ids", "contains", "BISECT_MIN",
           "UniverseDict", "universe_added"]
