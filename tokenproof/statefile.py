"""Concrete states as readable JSON, and back, exactly.

A state dump is how a counterexample to induction (an arbitrary pre-state the
solver found) is written down, so ``load_world(dump_world(w)).state`` equals
``w.state`` exactly: the universe of every sort and every field at every key.

Shape (docs/trace-format.md, "Explicit states")::

    {"format": "tokenproof-state/1",
     "sids": {"carol": "S-1-5-21-1-1-1-1003"},          # aliases beyond the well-known ones
     "names": {"Token": {"alice": 3}, ...},             # named objects and their ids
     "universe": {"Thread": ["init", "sh1", "thread#7"], "Handle": [3, 4], ...},
     "globals": {"anon_token": "anonymous", "next_luid": 1003, ...},
     "threads": {"sh1": {"alive": true, "proc": "shell", "real": "alice", ...}},
     "processes": {...}, "tokens": {...}, "sessions": {...}, "sockets": {...},
     "fds": {"shell": {"3": {"open": true, "token": "alice", "mask": ["TOKEN_QUERY"], "cloexec": true}}}}

Fields are named by their schema name without the sort prefix (``token_user``
is ``user`` under ``tokens``).  Values are readable: SIDs as strings, objects
by name (``token#5`` when unnamed, ``null`` for "no object"), access masks as
right names, privilege sets as privilege names (bits without a name as
``"0x..."`` strings), levels, integrity levels and elevation types by name,
slot masks as lists of slot indices, policies as flag names, booleans.
"""

from __future__ import annotations

import re
from typing import Any

from model import domain as D
from model.concrete import ConcreteState, normalize
from model.state import FIELDS, SCHEMA, SORTS, FieldSpec, default_of
from model.world import SpecError, World

STATE_FORMAT = "tokenproof-state/1"

# sort -> (section name in the dump, field prefix)
SECTIONS: dict[str, tuple[str, str]] = {
    "Thread": ("threads", "thread_"),
    "Process": ("processes", "proc_"),
    "Token": ("tokens", "token_"),
    "Session": ("sessions", "sess_"),
    "Socket": ("sockets", "sock_"),
}
FD_PREFIX = "fd_"
NAMED_SORTS = tuple(SECTIONS)

SORT_FIELDS: dict[str, list[FieldSpec]] = {s: [f for f in SCHEMA if f.keys == (s,)] for s in SORTS}
FD_FIELDS: list[FieldSpec] = [f for f in SCHEMA if f.keys == ("Process", "Handle")]
for _sort, (_sec, _prefix) in SECTIONS.items():
    assert all(f.name.startswith(_prefix) for f in SORT_FIELDS[_sort]), _sort
assert all(f.name.startswith(FD_PREFIX) for f in FD_FIELDS)
assert all(len(f.keys) <= 1 or f.keys == ("Process", "Handle") for f in SCHEMA)


def short_name(spec: FieldSpec) -> str:
    """The field's name inside its object (``token_user`` -> ``user``)."""
    if not spec.keys:
        return spec.name
    if spec.keys == ("Process", "Handle"):
        return spec.name[len(FD_PREFIX):]
    return spec.name[len(SECTIONS[spec.keys[0]][1]):]


# ------------------------------------------------------------------ value formats
TOKEN_RIGHTS = [n for n in D.RIGHT_NAMES if n.startswith("TOKEN_") and n != "TOKEN_ALL_ACCESS"]
PROCESS_RIGHTS = [n for n in D.RIGHT_NAMES if n.startswith("PROCESS_")]
GENERIC_RIGHTS = [n for n in D.RIGHT_NAMES if not n.startswith(("TOKEN_", "PROCESS_"))]
POLICY_FLAGS = {"NO_WRITE_UP": int(D.POLICY_NO_WRITE_UP), "NEW_PROCESS_MIN": int(D.POLICY_NEW_PROCESS_MIN)}
LABEL_FLAGS = {"NO_READ_UP": int(D.LABEL_NO_READ_UP), "NO_WRITE_UP": int(D.LABEL_NO_WRITE_UP),
               "NO_EXECUTE_UP": int(D.LABEL_NO_EXECUTE_UP)}

_ACE_MASK = re.compile(r"^(token_sd|proc_sd)_ace\d+_mask$")


def field_format(name: str) -> str:
    """How a field's values are spelled: ``token-rights``, ``process-rights``,
    ``privileges``, ``level``, ``integrity``, ``elevation``, ``slots``,
    ``policy``, ``label-policy`` or ``""`` (by type: bool, sid, object, number)."""
    if name == "fd_mask" or name.startswith("token_sd_ace") and name.endswith("_mask"):
        return "token-rights"
    if name.startswith("proc_sd_ace") and name.endswith("_mask"):
        return "process-rights"
    if name.startswith("token_privs_"):
        return "privileges"
    if name in ("thread_imp_level", "token_level", "sock_level", "sock_peer_level"):
        return "level"
    if name == "token_integrity" or name.endswith("_label_level"):
        return "integrity"
    if name == "token_elevation":
        return "elevation"
    if name in ("token_groups", "token_rsids", "token_caps") or name.startswith("token_g_"):
        return "slots"
    if name == "token_policy":
        return "policy"
    if name.endswith("_label_policy"):
        return "label-policy"
    return ""


def rights_names(value: int, kind: str = "token") -> list[str]:
    """Right names for a mask; bits without a name become one ``"0x..."`` entry.

    ``kind`` chooses the object-specific names (``token`` or ``process``);
    a token mask holding all of TOKEN_ALL_ACCESS is shown as that name."""
    v = int(value)
    out: list[str] = []
    if kind == "token" and v & int(D.TOKEN_ALL_ACCESS) == int(D.TOKEN_ALL_ACCESS):
        out.append("TOKEN_ALL_ACCESS")
        v &= ~int(D.TOKEN_ALL_ACCESS)
    specific = TOKEN_RIGHTS if kind == "token" else PROCESS_RIGHTS
    for n in specific + GENERIC_RIGHTS:
        b = int(D.RIGHT_NAMES[n])
        if b and v & b == b and b & (b - 1) == 0:
            out.append(n)
            v &= ~b
    if v:
        out.append(hex(v))
    return out


def privilege_names(value: int) -> list[str]:
    v = int(value)
    out = D.priv_names(v)
    rest = v & ~int(D.ALL_PRIVILEGES)
    if rest:
        out.append(hex(rest))
    return out


def slot_list(value: int) -> list[int]:
    v = int(value)
    return [i for i in range(v.bit_length()) if v >> i & 1]


def _flag_names(value: int, flags: dict[str, int]) -> list[Any]:
    v = int(value)
    out: list[Any] = []
    for n, b in flags.items():
        if v & b:
            out.append(n)
            v &= ~b
    if v:
        out.append(hex(v))
    return out


class Namer:
    """Object names both ways, from a ``World``'s name tables."""

    def __init__(self, names: dict[str, dict[str, int]]):
        self.names = names
        self.by_id = {s: {} for s in SORTS}
        for sort, table in names.items():
            for n, i in table.items():
                self.by_id.setdefault(sort, {}).setdefault(i, n)

    def label(self, sort: str, oid: int) -> str | None:
        if oid == -1:
            return None
        n = self.by_id.get(sort, {}).get(oid)
        return n if n is not None else f"{sort.lower()}#{oid}"

    def parse(self, sort: str, v: Any, where: str) -> int:
        if v is None:
            return -1
        if isinstance(v, str):
            if v in self.names.get(sort, {}):
                return self.names[sort][v]
            m = re.fullmatch(rf"{sort.lower()}#(-?\d+)", v)
            if m:
                return int(m.group(1))
        known = ", ".join(sorted(self.names.get(sort, {}))) or "none"
        raise SpecError(f"{where}: expected a {sort.lower()} name or {sort.lower()}#N, got {v!r} (known: {known})")


def encode(spec: FieldSpec, value: Any, namer: Namer) -> Any:
    """A field value as readable JSON (``decode`` inverts it exactly)."""
    t = spec.type
    if t.kind == "bool":
        return bool(value)
    if t.kind == "sid":
        return str(value)
    if t.kind == "obj":
        if t.sort == "Handle":
            return int(value)
        return namer.label(t.sort, int(value))
    fmt = field_format(spec.name)
    v = int(value)
    if fmt == "token-rights":
        return rights_names(v, "token")
    if fmt == "process-rights":
        return rights_names(v, "process")
    if fmt == "privileges":
        return privilege_names(v)
    if fmt == "level":
        return D.LEVEL_NAMES.get(v, v)
    if fmt == "integrity":
        return D.INTEGRITY_NAMES.get(v, v)
    if fmt == "elevation":
        return D.ELEVATION_NAMES.get(v, v)
    if fmt == "slots":
        return slot_list(v)
    if fmt == "policy":
        return _flag_names(v, POLICY_FLAGS)
    if fmt == "label-policy":
        return _flag_names(v, LABEL_FLAGS)
    return v


def _int_or_hex(x: Any, where: str) -> int:
    if isinstance(x, int) and not isinstance(x, bool):
        return x
    if isinstance(x, str) and re.fullmatch(r"0[xX][0-9a-fA-F]+", x):
        return int(x, 16)
    raise SpecError(f"{where}: expected a name, a number or a 0x... string, got {x!r}")


def _decode_names(v: Any, table: dict[str, int], what: str, where: str) -> int:
    items = v if isinstance(v, list) else [v]
    out = 0
    for x in items:
        if isinstance(x, str) and x in table:
            out |= int(table[x])
        elif isinstance(x, str) and not x.lower().startswith("0x"):
            raise SpecError(f"{where}: unknown {what} {x!r}")
        else:
            out |= _int_or_hex(x, where)
    return out


def _decode_named_value(v: Any, table: dict[int, str], what: str, where: str) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    for k, n in table.items():
        if isinstance(v, str) and v.lower() == n.lower():
            return k
    raise SpecError(f"{where}: expected {what} ({', '.join(table.values())}) or a number, got {v!r}")


def decode(spec: FieldSpec, v: Any, namer: Namer, where: str) -> Any:
    """The model value of readable JSON ``v`` for field ``spec``."""
    t = spec.type
    if t.kind == "bool":
        if not isinstance(v, bool):
            raise SpecError(f"{where}: expected true or false, got {v!r}")
        return v
    if t.kind == "sid":
        if not isinstance(v, str):
            raise SpecError(f"{where}: expected a SID string, got {v!r}")
        return v
    if t.kind == "obj":
        if t.sort == "Handle":
            if not isinstance(v, int) or isinstance(v, bool):
                raise SpecError(f"{where}: expected an fd number, got {v!r}")
            return v
        return namer.parse(t.sort, v, where)
    fmt = field_format(spec.name)
    if fmt in ("token-rights", "process-rights"):
        if isinstance(v, str) and "|" in v:
            v = v.split("|")
        out = _decode_names(v, D.RIGHT_NAMES, "access right", where)
    elif fmt == "privileges":
        out = _decode_names(v, {n: 1 << b for n, b in D.PRIVILEGE_BITS.items()}, "privilege", where)
    elif fmt == "level":
        out = _decode_named_value(v, D.LEVEL_NAMES, "an impersonation level", where)
    elif fmt == "integrity":
        out = _decode_named_value(v, D.INTEGRITY_NAMES, "an integrity level", where)
    elif fmt == "elevation":
        out = _decode_named_value(v, D.ELEVATION_NAMES, "an elevation type", where)
    elif fmt == "slots":
        if not isinstance(v, list) or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < t.width
                                              for i in v):
            raise SpecError(f"{where}: expected a list of slot indices 0..{t.width - 1}, got {v!r}")
        out = sum(1 << i for i in set(v))
    elif fmt == "policy":
        out = _decode_names(v, POLICY_FLAGS, "policy flag", where)
    elif fmt == "label-policy":
        out = _decode_names(v, LABEL_FLAGS, "label policy flag", where)
    else:
        out = _int_or_hex(v, where)
    if not 0 <= out < (1 << t.width):
        raise SpecError(f"{where}: value {out} does not fit in {t.width} bits")
    return out


# ------------------------------------------------------------------ dump
def _custom_sids(world: World) -> dict[str, str]:
    return {n: v for n, v in world.sid_aliases.items() if D.SID_ALIASES.get(n) != v}


def dump_world(world: World) -> dict[str, Any]:
    """The complete state of ``world`` (plus its names) as readable JSON data."""
    s = world.state
    namer = Namer(world.names)
    out: dict[str, Any] = {"format": STATE_FORMAT, "sids": _custom_sids(world),
                           "names": {sort: dict(world.names.get(sort, {})) for sort in NAMED_SORTS}}
    out["universe"] = {sort: ([int(h) for h in s.universe["Handle"]] if sort == "Handle"
                              else [namer.label(sort, i) for i in s.universe[sort]]) for sort in SORTS}
    out["globals"] = {f.name: encode(f, s.raw(f.name), namer) for f in SCHEMA if not f.keys}
    for sort, (section, _prefix) in SECTIONS.items():
        keys: set[int] = set(s.universe[sort])
        for f in SORT_FIELDS[sort]:
            keys |= set(s.raw(f.name))
        objs: dict[str, Any] = {}
        for k in sorted(keys):
            objs[namer.label(sort, k)] = {short_name(f): encode(f, s.value(f.name, k), namer)
                                          for f in SORT_FIELDS[sort]}
        out[section] = objs
    pairs: set[tuple[int, int]] = {(p, h) for p in s.universe["Process"] for h in s.universe["Handle"]}
    for f in FD_FIELDS:
        pairs |= set(s.raw(f.name))
    fds: dict[str, dict[str, Any]] = {}
    for p, h in sorted(pairs):
        fds.setdefault(namer.label("Process", p), {})[str(h)] = {
            short_name(f): encode(f, s.value(f.name, (p, h)), namer) for f in FD_FIELDS}
    out["fds"] = fds
    return out


# ------------------------------------------------------------------ load
def _expect_dict(v: Any, where: str) -> dict:
    if not isinstance(v, dict):
        raise SpecError(f"{where}: expected an object, got {type(v).__name__}")
    return v


def load_world(data: Any, where: str = "state") -> World:
    """Rebuild the ``World`` a ``dump_world`` produced (fields left out take
    their default value; unknown sections, objects or fields are errors)."""
    d = _expect_dict(data, where)
    known = {"format", "sids", "names", "universe", "globals", "fds", *(sec for sec, _ in SECTIONS.values())}
    unknown = set(d) - known
    if unknown:
        raise SpecError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    if d.get("format", STATE_FORMAT) != STATE_FORMAT:
        raise SpecError(f"{where}.format: expected {STATE_FORMAT!r}, got {d.get('format')!r}")
    sids = _expect_dict(d.get("sids", {}), f"{where}.sids")
    names_in = _expect_dict(d.get("names", {}), f"{where}.names")
    names: dict[str, dict[str, int]] = {s: {} for s in NAMED_SORTS}
    for sort, table in names_in.items():
        if sort not in names:
            raise SpecError(f"{where}.names: unknown sort {sort!r} (known: {', '.join(NAMED_SORTS)})")
        for n, i in _expect_dict(table, f"{where}.names.{sort}").items():
            if not isinstance(i, int) or isinstance(i, bool):
                raise SpecError(f"{where}.names.{sort}.{n}: expected an object id (a number), got {i!r}")
            names[sort][n] = i
    namer = Namer(names)

    uni_in = _expect_dict(d.get("universe", {}), f"{where}.universe")
    universe: dict[str, tuple] = {}
    for sort in SORTS:
        items = uni_in.get(sort, [])
        if not isinstance(items, list):
            raise SpecError(f"{where}.universe.{sort}: expected a list")
        if sort == "Handle":
            ids = []
            for i, x in enumerate(items):
                if not isinstance(x, int) or isinstance(x, bool):
                    raise SpecError(f"{where}.universe.Handle[{i}]: expected an fd number, got {x!r}")
                ids.append(x)
        else:
            ids = [namer.parse(sort, x, f"{where}.universe.{sort}[{i}]") for i, x in enumerate(items)]
        universe[sort] = tuple(sorted(set(ids)))
    bad = set(uni_in) - set(SORTS)
    if bad:
        raise SpecError(f"{where}.universe: unknown sorts {sorted(bad)} (known: {', '.join(SORTS)})")

    data_out: dict[str, Any] = {f.name: (default_of(f.type) if not f.keys else {}) for f in SCHEMA}
    g = _expect_dict(d.get("globals", {}), f"{where}.globals")
    scalars = {f.name: f for f in SCHEMA if not f.keys}
    for n, v in g.items():
        if n not in scalars:
            raise SpecError(f"{where}.globals: unknown field {n!r} (known: {', '.join(scalars)})")
        data_out[n] = normalize(scalars[n].type, decode(scalars[n], v, namer, f"{where}.globals.{n}"))

    for sort, (section, _prefix) in SECTIONS.items():
        fields = {short_name(f): f for f in SORT_FIELDS[sort]}
        for label, obj in _expect_dict(d.get(section, {}), f"{where}.{section}").items():
            ow = f"{where}.{section}.{label}"
            oid = namer.parse(sort, label, ow)
            for fname, v in _expect_dict(obj, ow).items():
                if fname not in fields:
                    raise SpecError(f"{ow}: unknown field {fname!r} (known: {', '.join(fields)})")
                spec = fields[fname]
                data_out[spec.name][oid] = normalize(spec.type, decode(spec, v, namer, f"{ow}.{fname}"))
    fd_fields = {short_name(f): f for f in FD_FIELDS}
    for plabel, table in _expect_dict(d.get("fds", {}), f"{where}.fds").items():
        pid = namer.parse("Process", plabel, f"{where}.fds.{plabel}")
        for fd_text, obj in _expect_dict(table, f"{where}.fds.{plabel}").items():
            ow = f"{where}.fds.{plabel}.{fd_text}"
            if not re.fullmatch(r"-?\d+", str(fd_text)):
                raise SpecError(f"{ow}: expected an fd number as the key")
            fd = int(fd_text)
            for fname, v in _expect_dict(obj, ow).items():
                if fname not in fd_fields:
                    raise SpecError(f"{ow}: unknown field {fname!r} (known: {', '.join(fd_fields)})")
                spec = fd_fields[fname]
                data_out[spec.name][(pid, fd)] = normalize(spec.type, decode(spec, v, namer, f"{ow}.{fname}"))

    w = World(ConcreteState(data_out, universe))
    w.names = {sort: dict(names[sort]) for sort in NAMED_SORTS}
    for n, v in sids.items():
        if not isinstance(v, str):
            raise SpecError(f"{where}.sids.{n}: expected a SID string")
        w.sid_aliases[n] = v
    return w


# ------------------------------------------------------------------ exact comparison
def exact_equal(a: ConcreteState, b: ConcreteState) -> bool:
    """Same universe and the same value of every field at every key either
    state stores (not only the keys of the universe)."""
    if {k: tuple(v) for k, v in a.universe.items()} != {k: tuple(v) for k, v in b.universe.items()}:
        return False
    for f in SCHEMA:
        if not f.keys:
            if a.raw(f.name) != b.raw(f.name):
                return False
            continue
        ra, rb = a.raw(f.name), b.raw(f.name)
        dflt = default_of(f.type)
        for k in set(ra) | set(rb):
            if ra.get(k, dflt) != rb.get(k, dflt):
                return False
    return a == b


__all__ = ["dump_world", "load_world", "exact_equal", "encode", "decode", "field_format", "short_name",
           "rights_names", "privilege_names", "slot_list", "Namer", "STATE_FORMAT"]
