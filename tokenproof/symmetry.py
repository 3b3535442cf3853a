"""Canonical state keys for the explicit-state explorer: symmetry reduction
and the abstraction of token contents no checked property can distinguish.

A *key* is a hashable tuple standing for a concrete state.  Two states get the
same key only if they are isomorphic: one is the other with the objects of
each sort (threads, processes, tokens, fd numbers, sessions, sockets) renamed
by a bijection, the dynamic logon SIDs renamed by a bijection, and the
abstracted fields (below) ignored.  The key *is* the renamed state, so it can
never merge two non-isomorphic states, whatever renaming is chosen.

Canonical renaming (``Canonicalizer.key``):

1. every object gets a colour from its own non-reference fields (references
   and dynamic SIDs masked); well-known objects (fixed ids) get a colour of
   their own and keep their ids;
2. colours are refined until stable: an object's new colour is its colour,
   the colours of the objects it references, the colours of the objects
   referencing it (with the field), and for processes/fd numbers the fd rows
   (colour-renamed);
3. objects are numbered in colour order; objects of equal colour (ties) are
   tried in every order (while the product of the tie permutations stays
   below ``tie_limit``) and the smallest key wins.

Colours are isomorphism-invariant, so with every tie enumerated the key is a
true canonical form (exact: isomorphic states get equal keys).  If a state has
more tie orders than ``tie_limit``, the identity order is taken: the key is
still sound (never merges non-isomorphic states) but may miss a symmetry; the
number of such states is reported (``incomplete``).

Abstraction (``dropped`` / ``RANKED``):

* the fields ``dropped`` are left out of the key.  They are computed per rule
  set and checked property set by ``tokenproof.abstraction.analyse``, which
  proves that states differing only in these fields cannot be told apart by
  any step (preconditions, errnos, arguments, the other fields' new values)
  nor by any checked property (state properties do not read them; transition
  properties reading them are proved, per rule, independent of their values
  before the step).  With the KACS rules and the whole catalog: ``token_id``,
  ``token_modified_id``, ``next_token_id``, ``token_privs_used``,
  ``token_default_dacl``, ``token_owner_index``, ``token_group_index``,
  ``token_scope``, ``token_isolation``.
* guarded resets (``guards``): a field whose value z3 proves to be a don't-care under a guard
  (the object is dead; a connected socket's level; a socket without a snapshot's peer fields) is
  replaced by its default where the guard holds (``tokenproof.abstraction.guarded_resets``).
* ``next_luid`` and ``sess_luid`` are replaced by their *rank* among the LUID
  values of the state and the constants 998, 999, 1000 (the well-known and
  first dynamic LUIDs): order and equality between LUIDs and with those
  constants are kept, absolute values dropped.  Rules only copy and increment
  LUIDs; the one property reading them compares with 1000.
* dynamic logon SIDs (``S-1-5-5-X-Y`` minted by ``kacs_create_logon_session``,
  not in the start world) are renamed by order of first appearance in the
  canonical traversal: rules and properties only compare SIDs for equality
  and with constants, and a minted SID equals no constant.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterable

from model.state import FIELDS, SCHEMA, SORTS, default_of

OBJ_SORTS = ("Thread", "Process", "Token", "Session", "Socket")
DROPPED_COUNTERS = ("token_id", "token_modified_id", "next_token_id")  # the counters (historical name)
RANKED = ("next_luid", "sess_luid")
LUID_CONSTANTS = (998, 999, 1000)
FD_FIELDS = tuple(f.name for f in SCHEMA if f.keys == ("Process", "Handle"))


def _guarded_columns(fields: list, guards: dict[str, tuple]) -> list[tuple[int, tuple, Any]]:
    """(column, guard, default) for each of the row's ``fields`` that has a guarded reset."""
    return [(i, guards[n], d) for i, (n, _, _, d) in enumerate(fields) if n in guards]


def _reset_guarded(row: list, columns: list[tuple[int, tuple, Any]], data: dict, key: Any) -> None:
    """Replace by its default, in the key row of object ``key``, every guarded column whose
    guard (a disjunction of ``(field, value)`` literals) holds at ``key``."""
    for i, gd, d in columns:
        for g, v in gd:
            if data[g].get(key, default_of(FIELDS[g].type)) == v:
                row[i] = (d, row[i][1], row[i][2])
                break


@dataclass
class Canonicalizer:
    """Keys of concrete states over one fixed universe of object slots."""

    universe: dict[str, tuple]
    static_sids: frozenset[str]
    fixed: dict[str, frozenset[int]] = field(default_factory=dict)
    symmetry: bool = True
    abstraction: bool = True
    dropped_fields: frozenset[str] = frozenset()  # fields left out of the key (tokenproof.abstraction)
    tie_limit: int = 720
    incomplete: int = 0  # states whose key gave up on some ties (sound, maybe not canonical)
    max_ties: int = 0
    memo: bool = True  # remember the key of each raw state (the key is a function of it)
    memo_hits: int = 0
    # guarded resets (tokenproof.abstraction.guarded_resets): field -> guard, a disjunction of
    # (field, value) literals on the same object; where it holds the field's value is replaced by
    # its default in the key
    guards: dict[str, tuple] = field(default_factory=dict)

    def __post_init__(self) -> None:
        dropped = set(self.dropped_fields) if self.abstraction else set()
        self.ranked = (set(RANKED) - dropped) if self.abstraction else set()
        self.dropped = dropped
        self.obj_fields: dict[str, list[tuple[str, Any, str, Any]]] = {}
        for s in OBJ_SORTS:
            rows = []
            for f in SCHEMA:
                if f.keys == (s,) and f.name not in dropped:
                    rows.append((f.name, f.type.kind, f.type.sort, default_of(f.type)))
            self.obj_fields[s] = rows
        self.scalars = [(f.name, f.type.kind, f.type.sort, default_of(f.type)) for f in SCHEMA
                        if not f.keys and f.name not in dropped]
        self.fd_fields = [(n, FIELDS[n].type.kind, FIELDS[n].type.sort, default_of(FIELDS[n].type))
                          for n in FD_FIELDS]
        self.slots = {s: tuple(self.universe[s]) for s in SORTS}
        # the raw data the key is a function of: every field not dropped (keyed fields as
        # frozensets of their items, interned so equal field values are stored once)
        self._raw_fields = [(f.name, bool(f.keys)) for f in SCHEMA if f.name not in dropped]
        self._memo: dict[tuple, tuple] = {}
        self._pool: dict[frozenset, frozenset] = {}

    def raw(self, st: Any) -> tuple:
        """The fields the key reads, as stored (a state with the same raw data has the same key;
        equal states stored differently, e.g. a default value written explicitly, may differ)."""
        d = st.__dict__
        pool = self._pool
        out = []
        for n, keyed in self._raw_fields:
            v = d[n]
            if keyed:
                fs = frozenset(v.items())
                v = pool.setdefault(fs, fs)
            out.append(v)
        return tuple(out)

    # ------------------------------------------------------------ raw rows
    def _rows(self, st: Any) -> tuple[dict, dict, list]:
        data = st._data
        rows: dict[str, dict[int, list]] = {}
        guards = self.guards if self.abstraction else {}
        for s in OBJ_SORTS:
            cols = [(data[n], kind, sort, d) for n, kind, sort, d in self.obj_fields[s]]
            rows[s] = {x: [(c.get(x, d), kind, sort) for c, kind, sort, d in cols] for x in self.slots[s]}
            obj_guards = _guarded_columns(self.obj_fields[s], guards)
            if obj_guards:
                for x, row in rows[s].items():
                    _reset_guarded(row, obj_guards, data, x)
        fds: dict[tuple[int, int], list] = {}
        cols = [(data[n], kind, sort, d) for n, kind, sort, d in self.fd_fields]
        fd_guards = _guarded_columns(self.fd_fields, guards)
        for p in self.slots["Process"]:
            for h in self.slots["Handle"]:
                row = fds[(p, h)] = [(c.get((p, h), d), kind, sort) for c, kind, sort, d in cols]
                _reset_guarded(row, fd_guards, data, (p, h))
        scal = [(data[n], kind, sort) for n, kind, sort, _ in self.scalars]
        return rows, fds, scal

    def _luid_rank(self, st: Any) -> dict[int, int]:
        if not self.ranked:
            return {}
        vals = set(LUID_CONSTANTS)
        data = st._data
        for n in self.ranked:
            spec = FIELDS[n]
            if not spec.keys:
                vals.add(data[n])
            else:
                d = default_of(spec.type)
                vals.update(data[n].get(x, d) for x in self.slots[spec.keys[0]])
        return {v: i for i, v in enumerate(sorted(vals))}

    # ------------------------------------------------------------ the key
    def key(self, st: Any) -> tuple:
        """The canonical key of ``st`` (memoised on its raw data: the key is a function of the
        fields it reads over the fixed slots, so equal raw data gives the same key)."""
        if not self.memo:
            return self._key(st)
        raw = self.raw(st)
        k = self._memo.get(raw)
        if k is None:
            k = self._memo[raw] = self._key(st)
        else:
            self.memo_hits += 1
        return k

    def _key(self, st: Any) -> tuple:
        rows, fds, scal = self._rows(st)
        rank = self._luid_rank(st)
        names = self._ranked_positions()
        if not self.symmetry:
            perm = {s: {x: x for x in self.slots[s]} for s in SORTS}
            return self._build(rows, fds, scal, perm, rank, names, rename_sids=False)
        colours = self._refine(rows, fds, scal, rank)
        groups: dict[str, list[list[int]]] = {}
        total = 1
        for s in SORTS:
            by: dict[Any, list[int]] = {}
            for x in self.slots[s]:
                by.setdefault(colours[s][x], []).append(x)
            ordered = [by[c] for c in sorted(by)]
            groups[s] = ordered
            for g in ordered:
                if len(g) > 1 and not self._identical(s, g, rows, fds, scal):
                    for k in range(2, len(g) + 1):
                        total *= k
        self.max_ties = max(self.max_ties, total)
        candidates: Iterable[dict[str, list[list[int]]]]
        if total == 1 or total > self.tie_limit:
            if total > self.tie_limit:
                self.incomplete += 1
            candidates = [groups]
        else:
            candidates = self._orders(groups, rows, fds, scal)
        best = None
        for order in candidates:
            perm = {s: self._numbering(s, order[s]) for s in SORTS}
            k = self._build(rows, fds, scal, perm, rank, names, rename_sids=True)
            if best is None or k < best:
                best = k
        return best  # type: ignore[return-value]

    def _ranked_positions(self) -> dict[str, set[str]]:
        return {"ranked": self.ranked}

    def _identical(self, s: str, g: list[int], rows: dict, fds: dict, scal: list) -> bool:
        """Members of a tie that are never-used slots (all fields at their default, or the
        same raw data and referenced by nothing): every order of them gives the same key."""
        if s == "Handle":
            return all(_is_default(fds[(p, h)], self.fd_fields) for p in self.slots["Process"] for h in g)
        first = rows[s][g[0]]
        if not all(rows[s][x] == first for x in g[1:]):
            return False
        gs = set(g)
        for s2 in OBJ_SORTS:
            for r in rows[s2].values():
                for v, kind, sort in r:
                    if kind == "obj" and sort == s and v in gs:
                        return False
        for r in fds.values():
            for v, kind, sort in r:
                if kind == "obj" and sort == s and v in gs:
                    return False
        for v, kind, sort in scal:
            if kind == "obj" and sort == s and v in gs:
                return False
        return True

    def _orders(self, groups: dict[str, list[list[int]]], rows: dict, fds: dict, scal: list):
        per_sort = []
        for s in SORTS:
            options = []
            for g in groups[s]:
                if len(g) > 1 and not self._identical(s, g, rows, fds, scal):
                    options.append([list(p) for p in itertools.permutations(g)])
                else:
                    options.append([g])
            per_sort.append([list(c) for c in itertools.product(*options)])
        for combo in itertools.product(*per_sort):
            yield {s: combo[i] for i, s in enumerate(SORTS)}

    def _numbering(self, s: str, order: list[list[int]]) -> dict[int, int]:
        fixed = self.fixed.get(s, frozenset())
        free = [x for x in self.slots[s] if x not in fixed]
        out = {x: x for x in fixed}
        i = 0
        for g in order:
            for x in g:
                if x in fixed:
                    continue
                out[x] = free[i]
                i += 1
        return out

    # ------------------------------------------------------------ colour refinement
    def _mask(self, v: Any, kind: str) -> Any:
        if kind == "sid" and v not in self.static_sids:
            return "~dyn"
        return v

    def _refine(self, rows: dict, fds: dict, scal: list, rank: dict) -> dict[str, dict[int, int]]:
        col: dict[str, dict[int, Any]] = {}
        ranked = self.ranked
        for s in OBJ_SORTS:
            fixed = self.fixed.get(s, frozenset())
            col[s] = {}
            names = [n for n, _, _, _ in self.obj_fields[s]]
            for x, r in rows[s].items():
                base = tuple((-2 if v != -1 else -1) if kind == "obj" else
                             self._mask(v, kind) if kind == "sid" else
                             rank.get(v, v) if names[i] in ranked else v
                             for i, (v, kind, sort) in enumerate(r))
                col[s][x] = (("fixed", x) if x in fixed else ("",), base)
        col["Handle"] = {h: (("",), ()) for h in self.slots["Handle"]}
        col = {s: _dense(c) for s, c in col.items()}
        n_classes = sum(len(set(c.values())) for c in col.values())
        for _ in range(12):
            sig: dict[str, dict[int, list]] = {s: {x: [] for x in self.slots[s]} for s in SORTS}
            for s in OBJ_SORTS:
                for x, r in rows[s].items():
                    out = []
                    for i, (v, kind, sort) in enumerate(r):
                        if kind == "obj" and v != -1 and v in col[sort]:
                            c = col[sort][v]
                            out.append(c)
                            sig[sort][v].append((s, i, col[s][x]))
                    sig[s][x].append(tuple(out))
            for i, (v, kind, sort) in enumerate(scal):
                if kind == "obj" and v in col.get(sort, {}):
                    sig[sort][v].append(("scalar", i, 0))
            for (p, h), r in fds.items():
                if _is_default(r, self.fd_fields):
                    continue
                vals = tuple(col["Token"].get(v, -1) if kind == "obj" else v for v, kind, sort in r)
                sig["Process"][p].append(("fd", col["Handle"][h], vals))
                sig["Handle"][h].append(("fd", col["Process"][p], vals))
                for v, kind, sort in r:
                    if kind == "obj" and v in col["Token"]:
                        sig["Token"][v].append(("fd", col["Process"][p], col["Handle"][h], r[0][0]))
            new = {}
            for s in SORTS:
                new[s] = _dense({x: (col[s][x], tuple(sorted(sig[s][x], key=repr))) for x in self.slots[s]})
            m = sum(len(set(c.values())) for c in new.values())
            col = new
            if m == n_classes:
                break
            n_classes = m
        return col

    # ------------------------------------------------------------ building
    def _build(self, rows: dict, fds: dict, scal: list, perm: dict[str, dict[int, int]], rank: dict[int, int],
               names: dict, rename_sids: bool) -> tuple:
        sids: dict[str, str] = {}
        static = self.static_sids
        ranked = self.ranked

        def val(v: Any, kind: str, sort: str, fname: str) -> Any:
            if kind == "obj":
                return perm[sort].get(v, v)
            if kind == "sid" and rename_sids and v not in static:
                r = sids.get(v)
                if r is None:
                    r = sids[v] = f"~sid{len(sids)}"
                return r
            if fname in ranked:
                return rank.get(v, v)
            return v

        parts: list[Any] = []
        for s in OBJ_SORTS:
            inv = {new: old for old, new in perm[s].items()}
            names_s = [n for n, _, _, _ in self.obj_fields[s]]
            parts.append(tuple(tuple(val(v, kind, sort, names_s[i]) for i, (v, kind, sort) in enumerate(rows[s][inv[x]]))
                               for x in self.slots[s]))
        pinv = {new: old for old, new in perm["Process"].items()}
        hinv = {new: old for old, new in perm["Handle"].items()}
        fdpart = []
        for p in self.slots["Process"]:
            for h in self.slots["Handle"]:
                r = fds[(pinv[p], hinv[h])]
                if not _is_default(r, self.fd_fields):
                    fdpart.append((p, h, tuple(val(v, kind, sort, "") for v, kind, sort in r)))
        parts.append(tuple(fdpart))
        snames = [n for n, _, _, _ in self.scalars]
        parts.append(tuple(val(v, kind, sort, snames[i]) for i, (v, kind, sort) in enumerate(scal)))
        return tuple(parts)


def _is_default(row: list, specs: list) -> bool:
    return all(v == d for (v, _, _), (_, _, _, d) in zip(row, specs))


def _dense(c: dict[int, Any]) -> dict[int, int]:
    """Colours as small ints, numbered in the (deterministic) order of their signatures."""
    order = sorted(set(c.values()), key=repr)
    idx = {v: i for i, v in enumerate(order)}
    return {x: idx[v] for x, v in c.items()}


__all__ = ["Canonicalizer", "DROPPED_COUNTERS", "RANKED", "LUID_CONSTANTS"]
