"""Readable names for model values, and readable diffs of concrete states.

Every value kind has a name: errnos (``EPERM``), access masks (right names,
token or process rights chosen by field), privilege sets, impersonation
levels, integrity levels, elevation types, slot masks (slot indices), SIDs
(their alias when the world knows one), objects (their name, else
``token#5``).  ``diff_states`` lists only the fields a step changed, grouped
per object::

    token alice (#3): privileges_enabled +SeTcbPrivilege
    thread sh1: impersonating false → true, imp_token alice → token#9
    fd shell:4 opened → token#9 [TOKEN_QUERY|TOKEN_IMPERSONATE]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model import domain as D
from model.concrete import ConcreteState
from model.rules.registry import Arg, Rule
from model.state import ALIVE_FIELD, FIELDS, SCHEMA, FieldSpec, Type
from model.world import World
from tokenproof.statefile import (
    FD_FIELDS,
    SECTIONS,
    SORT_FIELDS,
    Namer,
    encode,
    field_format,
    privilege_names,
    rights_names,
    short_name,
    slot_list,
)

ARROW = "→"
SET_FORMATS = ("token-rights", "process-rights", "privileges", "slots", "policy", "label-policy")


# ------------------------------------------------------------------ single values
def errno_name(e: Any) -> str:
    e = int(e)
    return D.ERRNO_NAMES.get(e, f"errno {e}")


def object_label(world: World, sort: str, oid: Any) -> str:
    """``alice``/``token#9`` for an object reference; ``none`` for no object."""
    oid = int(oid)
    if oid == -1:
        return "none"
    return world.name_of(sort, oid)


def join_names(names: list[Any]) -> str:
    return "|".join(str(n) for n in names) if names else "0"


def render_value(name: str, value: Any, world: World) -> str:
    """A field value as short readable text (field ``name`` decides the kind)."""
    spec = FIELDS[name]
    t = spec.type
    if t.kind == "bool":
        return "true" if value else "false"
    if t.kind == "sid":
        return world.sid_label(str(value))
    if t.kind == "obj":
        if t.sort == "Handle":
            return str(int(value))
        return object_label(world, t.sort, value)
    fmt = field_format(name)
    if fmt in SET_FORMATS:
        v = encode(spec, value, Namer(world.names))
        return "[" + join_names(v) + "]" if fmt != "slots" else "[" + ",".join(str(i) for i in v) + "]"
    return str(encode(spec, value, Namer(world.names)))


def render_typed(t: Type, fmt: str, value: Any, world: World) -> str:
    """An argument or return value of type ``t`` spelled by ``fmt`` (Arg.fmt)."""
    if value is None:
        return "auto"
    if t.kind == "bool":
        return "true" if value else "false"
    if t.kind == "sid":
        return world.sid_label(str(value))
    if t.kind == "obj":
        if t.sort == "Handle":
            return str(int(value))
        return object_label(world, t.sort, value)
    v = int(value)
    if fmt == "rights":
        return join_names(rights_names(v, "token"))
    if fmt == "privileges":
        return "[" + ", ".join(privilege_names(v)) + "]"
    if fmt == "level":
        return D.LEVEL_NAMES.get(v, str(v))
    if fmt == "integrity":
        return D.INTEGRITY_NAMES.get(v, str(v))
    if fmt == "slots":
        return "[" + ",".join(str(i) for i in slot_list(v)) + "]"
    if fmt == "errno":
        return errno_name(v)
    return str(v)


def render_arg(a: Arg, value: Any, world: World) -> str:
    return render_typed(a.type, a.fmt, value, world)


def render_args(rule: Rule, args: dict[str, Any], world: World) -> dict[str, str]:
    by_name = {a.name: a for a in rule.args}
    out = {}
    for k, v in args.items():
        a = by_name.get(k)
        out[k] = render_arg(a, v, world) if a is not None else render_plain(v)
    return out


def render_plain(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def ret_kind(rule: Rule, key: str) -> tuple[Type, str] | None:
    """The type and spelling of return value ``key``: the rule's argument of the
    same name, else by its name (``level`` is a level, ``token`` a token ...)."""
    for a in rule.args:
        if a.name == key:
            return a.type, a.fmt
    from model.state import BOOL, HANDLE, IL, LEVEL, MASK, OBJ, PRIVS

    if key in ("thread", "process", "token", "session", "socket"):
        return OBJ(key.capitalize()), ""
    if key == "fd" or key.endswith("_fd"):
        return HANDLE, ""
    if key == "level" or key.endswith("_level"):
        return LEVEL, "level"
    if key == "integrity":
        return IL, "integrity"
    if key in ("mask", "granted", "access") or key.endswith("_mask"):
        return MASK, "rights"
    if key == "privileges" or key.endswith("_privileges"):
        return PRIVS, "privileges"
    if key == "errno":
        return Type("bv", width=8), "errno"
    return None


def render_ret(rule: Rule, ret: dict[str, Any], world: World) -> dict[str, str]:
    """Return values, typed by ``ret_kind``."""
    out = {}
    for k, v in ret.items():
        if k.startswith("_"):
            continue
        kind = ret_kind(rule, k)
        if kind is not None and not isinstance(v, bool):
            out[k] = render_typed(kind[0], kind[1], v, world)
        else:
            try:
                out[k] = render_plain(v if isinstance(v, (bool, str)) else int(v))
            except (TypeError, ValueError):
                out[k] = str(v)
    return out


def call_text(rule: str, args: dict[str, str]) -> str:
    return f"{rule}(" + ", ".join(f"{k}={v}" for k, v in args.items()) + ")"


# ------------------------------------------------------------------ field labels
def field_label(spec: FieldSpec) -> str:
    """Short label of a field inside its object (``token_privs_enabled`` -> ``privileges_enabled``)."""
    n = short_name(spec)
    if n.startswith("privs_"):
        return "privileges_" + n[len("privs_"):]
    if n.startswith("g_"):
        return "groups_" + n[len("g_"):]
    return n


SORT_WORD = {"Thread": "thread", "Process": "process", "Token": "token", "Session": "session", "Socket": "socket"}


def object_title(world: World, sort: str, oid: int) -> str:
    name = world.name_of(sort, oid)
    if sort == "Token" and not name.startswith("token#"):
        return f"token {name} (#{oid})"
    if name.startswith(f"{sort.lower()}#"):
        return name
    return f"{SORT_WORD[sort]} {name}"


# ------------------------------------------------------------------ diffs
@dataclass
class FieldChange:
    field: str
    label: str
    before: str
    after: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after, "text": self.text}


@dataclass
class Change:
    """Everything one step changed about one object (or the globals)."""

    sort: str  # a sort, "fd" or "global"
    obj: Any  # object id, (process, fd) or None
    title: str
    kind: str  # changed | created | freed | opened | closed
    fields: list[FieldChange] = field(default_factory=list)
    text: str = ""

    def __str__(self) -> str:
        return self.text

    def to_json(self) -> dict[str, Any]:
        return {"object": self.title, "kind": self.kind, "text": self.text,
                "fields": [f.to_json() for f in self.fields]}


def field_change(spec: FieldSpec, before: Any, after: Any, world: World) -> FieldChange:
    label = field_label(spec)
    b, a = render_value(spec.name, before, world), render_value(spec.name, after, world)
    fmt = field_format(spec.name)
    if fmt in SET_FORMATS:
        namer = Namer(world.names)
        eb, ea = encode(spec, before, namer), encode(spec, after, namer)
        if fmt in ("token-rights",) and ("TOKEN_ALL_ACCESS" in eb) != ("TOKEN_ALL_ACCESS" in ea):
            text = f"{label} {b} {ARROW} {a}"
        else:
            added = [x for x in ea if x not in eb]
            removed = [x for x in eb if x not in ea]
            prefix = "slot" if fmt == "slots" else ""
            parts = [f"+{prefix}{x}" for x in added] + [f"-{prefix}{x}" for x in removed]
            text = f"{label} " + " ".join(parts) if parts else f"{label} {b} {ARROW} {a}"
    else:
        text = f"{label} {b} {ARROW} {a}"
    return FieldChange(spec.name, label, b, a, text)


def _value(s: ConcreteState, name: str, key: Any) -> Any:
    return s.value(name, key)


def _created_summary(sort: str, oid: int, s: ConcreteState, world: World) -> str:
    v = lambda n: render_value(n, s.value(n, oid), world)  # noqa: E731
    if sort == "Token":
        kind = "primary" if s.value("token_primary", oid) else f"impersonation ({v('token_level')})"
        enabled = privilege_names(s.value("token_privs_enabled", oid))
        privs = (f"enabled {v('token_privs_enabled')}" if len(enabled) <= 4
                 else f"{len(enabled)} privileges enabled")
        parts = [f"user {v('token_user')}", kind, f"integrity {v('token_integrity')}",
                 f"session {v('token_session')}", privs]
        if s.value("token_restricted", oid):
            parts.append("restricted" + (" (write-restricted)" if s.value("token_write_restricted", oid) else ""))
        if s.value("token_g_deny_only", oid):
            parts.append(f"deny-only groups {v('token_g_deny_only')}")
        if s.value("token_elevation", oid) != int(D.ELEV_DEFAULT):
            parts.append(f"elevation {v('token_elevation')}")
        if s.value("token_confined", oid):
            parts.append("confined")
        return "created: " + ", ".join(parts)
    if sort == "Thread":
        return f"created in process {v('thread_proc')}, real token {v('thread_real')}"
    if sort == "Process":
        return f"created, primary token {v('proc_primary')}"
    if sort == "Session":
        return f"created, LUID {v('sess_luid')}, logon SID {v('sess_logon_sid')}"
    if sort == "Socket":
        return (f"created, server {v('sock_server')}, "
                f"{'capturing' if s.value('sock_capturing', oid) else 'datagram'}, level {v('sock_level')}")
    return "created"


END_WORD = {"Token": "freed", "Thread": "exited", "Process": "exited", "Session": "destroyed", "Socket": "closed"}


def diff_states(before: ConcreteState, after: ConcreteState, world: World) -> list[Change]:
    """The fields that differ between ``before`` and ``after``, grouped per object."""
    changes: list[Change] = []
    changed_fields = {f.name for f in SCHEMA if before.raw(f.name) is not after.raw(f.name)
                      and before.raw(f.name) != after.raw(f.name)}
    if not changed_fields and before.universe == after.universe:
        return changes
    # globals
    g = [field_change(f, before.raw(f.name), after.raw(f.name), world)
         for f in SCHEMA if not f.keys and f.name in changed_fields]
    if g:
        changes.append(Change("global", None, "globals", "changed", g, "globals: " + ", ".join(x.text for x in g)))
    for sort in SECTIONS:
        fields = [f for f in SORT_FIELDS[sort] if f.name in changed_fields]
        if not fields:
            continue
        keys = sorted(set(before.universe[sort]) | set(after.universe[sort]))
        alive_f = ALIVE_FIELD[sort]
        for k in keys:
            fcs = [field_change(f, before.value(f.name, k), after.value(f.name, k), world)
                   for f in fields if before.value(f.name, k) != after.value(f.name, k)]
            if not fcs:
                continue
            title = object_title(world, sort, k)
            was, now = before.value(alive_f, k), after.value(alive_f, k)
            if not was and now:
                kind, text = "created", f"{title}: {_created_summary(sort, k, after, world)}"
            elif was and not now:
                rest = [x.text for x in fcs if x.field != alive_f]
                kind = "freed"
                text = f"{title}: {END_WORD[sort]}" + (", " + ", ".join(rest) if rest else "")
            else:
                kind, text = "changed", f"{title}: " + ", ".join(x.text for x in fcs)
            changes.append(Change(sort, k, title, kind, fcs, text))
    fd_fields = [f for f in FD_FIELDS if f.name in changed_fields]
    if fd_fields:
        keys: set = set()
        for f in fd_fields:
            keys |= set(before.raw(f.name)) | set(after.raw(f.name))
        for p, h in sorted(keys):
            fcs = [field_change(f, before.value(f.name, (p, h)), after.value(f.name, (p, h)), world)
                   for f in fd_fields if before.value(f.name, (p, h)) != after.value(f.name, (p, h))]
            if not fcs:
                continue
            title = f"fd {object_label(world, 'Process', p)}:{h}"
            was, now = before.value("fd_open", (p, h)), after.value("fd_open", (p, h))
            if not was and now:
                tok = object_label(world, "Token", after.value("fd_token", (p, h)))
                mask = join_names(rights_names(after.value("fd_mask", (p, h)), "token"))
                cloexec = "" if after.value("fd_cloexec", (p, h)) else " (no cloexec)"
                kind, text = "opened", f"{title} opened {ARROW} {tok} [{mask}]{cloexec}"
            elif was and not now:
                tok = object_label(world, "Token", before.value("fd_token", (p, h)))
                kind, text = "closed", f"{title} closed ({tok})"
            else:
                kind, text = "changed", f"{title}: " + ", ".join(x.text for x in fcs)
            changes.append(Change("fd", (p, h), title, kind, fcs, text))
    return changes


__all__ = ["Change", "FieldChange", "diff_states", "render_value", "render_arg", "render_args", "render_ret",
           "render_typed", "errno_name", "object_label", "call_text", "field_label"]
