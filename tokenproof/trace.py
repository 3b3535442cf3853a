"""Trace files: one format for hand-written traces, BMC traces and
counterexamples to induction (docs/trace-format.md).

``load_trace(path)`` parses and checks a file (every error is a ``TraceError``
naming the file, the line, the step and what was expected), ``build_world``
makes its starting world, ``execute`` runs it on the concrete executor, and
``dump_trace`` writes one (the prover writes counterexamples with it).
"""

from __future__ import annotations

import difflib
import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import model.rules  # noqa: F401  (registers every rule)
from model import domain as D
from model.concrete import ConcreteState, next_free
from model.reclaim import collect_garbage
from model.rules.registry import RULES, Arg, Rule
from model.scenarios import SCENARIOS
from model.sim import ModelPreconditionError, apply_rule
from model.values import BV
from model.world import SpecError, World, parse_integrity, parse_level, parse_privileges, parse_rights, valid_sid
from tokenproof.render import Change, diff_states, errno_name, render_args, render_ret, ret_kind
from tokenproof.statefile import dump_world, load_world

SCHEMA_VERSION = "tokenproof-trace/1"
KERNEL = "kernel"


class TraceError(ValueError):
    """A trace is wrong or cannot run; the message says where and what was expected."""

    def __init__(self, message: str, partial: "RunResult | None" = None):
        super().__init__(message)
        self.partial = partial


class StepImpossible(TraceError):
    """A step's model preconditions do not hold (``ModelPreconditionError``)."""


# ------------------------------------------------------------------ the schema
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Expect(_Model):
    errno: Optional[str] = None
    ret: Optional[dict[str, Any]] = None


class TraceStep(_Model):
    actor: str
    rule: str
    args: dict[str, Any] = Field(default_factory=dict)
    expect: Optional[Expect] = None
    note: str = ""


class Violation(_Model):
    property: str
    step: int
    statement: str = ""
    query: Optional[Any] = None  # access properties: the concrete AccessQuery (tokenproof.cex)


class ProcessSpec(_Model):
    token: str
    threads: list[str] = Field(default_factory=list)


class FdSpec(_Model):
    process: str
    token: str
    rights: Any = Field(default_factory=lambda: ["TOKEN_QUERY"])
    cloexec: bool = True
    fd: Optional[int] = None


class SocketSpec(_Model):
    server: str
    capturing: bool = True


class Setup(_Model):
    sessions: list[str] = Field(default_factory=list)
    tokens: dict[str, dict[str, Any]] = Field(default_factory=dict)
    processes: dict[str, ProcessSpec] = Field(default_factory=dict)
    fds: list[FdSpec] = Field(default_factory=list)
    sockets: dict[str, SocketSpec] = Field(default_factory=dict)


class Trace(_Model):
    schema_: Literal["tokenproof-trace/1"] = Field(default=SCHEMA_VERSION, alias="schema")
    description: str = ""
    profile: str = "kacs"
    model_hash: Optional[str] = None
    origin: Optional[Literal["bmc", "cti", "hand"]] = None  # who wrote it (bmc/cti traces need a model_hash)
    mutant: Optional[str] = None  # the seeded mutant the trace was found on (tokenproof.mutants)
    scenario: Optional[str] = None
    sids: dict[str, str] = Field(default_factory=dict)
    setup: Optional[Setup] = None
    state: Optional[dict[str, Any]] = None
    auto_gc: bool = True
    steps: list[TraceStep] = Field(default_factory=list)
    violation: Optional[Violation] = None

    # not part of the file: where it came from (for error messages)
    _path: str = "<trace>"
    _lines: dict = {}

    def where(self, *path: Any) -> str:
        """``file:line`` of the JSON value at ``path`` (or its closest located parent)."""
        p = tuple(path)
        while p and p not in self._lines:
            p = p[:-1]
        line = self._lines.get(p)
        return f"{self._path}:{line}" if line else self._path


# ------------------------------------------------------------------ JSON positions
def json_lines(text: str) -> dict[tuple, int]:
    """Line number of every value in a (valid) JSON document, by path."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    out: dict[tuple, int] = {}
    n = len(text)
    scan = json.decoder.scanstring  # type: ignore[attr-defined]

    def ws(i: int) -> int:
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    def value(i: int, path: tuple) -> int:
        i = ws(i)
        out[path] = bisect_right(starts, i)
        c = text[i]
        if c == "{":
            i = ws(i + 1)
            if text[i] == "}":
                return i + 1
            while True:
                key, i = scan(text, ws(i) + 1)
                i = ws(i) + 1  # ':'
                i = ws(value(i, path + (key,)))
                if text[i] == ",":
                    i += 1
                    continue
                return i + 1
        if c == "[":
            i = ws(i + 1)
            if text[i] == "]":
                return i + 1
            k = 0
            while True:
                i = ws(value(i, path + (k,)))
                k += 1
                if text[i] == ",":
                    i += 1
                    continue
                return i + 1
        if c == '"':
            return scan(text, i + 1)[1]
        while i < n and text[i] not in ",]} \t\r\n":
            i += 1
        return i

    try:
        value(0, ())
    except (IndexError, ValueError):  # pragma: no cover - text was validated by json.loads
        pass
    return out


# ------------------------------------------------------------------ loading
def _step_ctx(trace: Trace, k: int) -> str:
    st = trace.steps[k]
    return f"step {k} ({st.rule} by {st.actor})"


def parse_trace(data: Any, path: str = "<trace>", text: str | None = None) -> Trace:
    """A ``Trace`` from parsed JSON data (``text`` gives line numbers)."""
    lines = json_lines(text) if text is not None else {}

    def where(*p: Any) -> str:
        q = tuple(p)
        while q and q not in lines:
            q = q[:-1]
        return f"{path}:{lines[q]}" if q in lines else path

    if not isinstance(data, dict):
        raise TraceError(f"{path}: a trace is a JSON object with \"schema\": \"{SCHEMA_VERSION}\"")
    if data.get("schema") != SCHEMA_VERSION:
        raise TraceError(f"{where('schema')}: bad schema version: expected \"schema\": \"{SCHEMA_VERSION}\", "
                         f"got {data.get('schema')!r}")
    try:
        trace = Trace.model_validate(data)
    except ValidationError as e:
        msgs = []
        for err in e.errors()[:5]:
            loc = tuple(err["loc"])
            ctx = ""
            if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int) and loc[1] < len(data.get("steps", [])):
                s = data["steps"][loc[1]]
                if isinstance(s, dict):
                    ctx = f"step {loc[1]} ({s.get('rule', '?')} by {s.get('actor', '?')}): "
            dotted = ".".join(str(x) for x in loc)
            if err["type"] == "extra_forbidden":
                parent = loc[:-1]
                known = _known_keys(parent)
                msg = f"unknown key {loc[-1]!r}" + (f" (known: {', '.join(known)})" if known else "")
            elif err["type"] == "missing":
                msg = f"missing key {loc[-1]!r}"
            else:
                msg = f"{dotted}: {err['msg']} (got {err.get('input')!r})"
            msgs.append(f"{where(*loc)}: {ctx}{msg}")
        raise TraceError("\n".join(msgs)) from None
    trace._path = path
    trace._lines = lines
    check_trace(trace)
    return trace


def _known_keys(parent: tuple) -> list[str]:
    model: Any = Trace
    for p in parent:
        if isinstance(p, int):
            continue
        f = model.model_fields.get(p) if hasattr(model, "model_fields") else None
        if f is None:
            return []
        ann = f.annotation
        for cand in (TraceStep, Expect, Violation, Setup, ProcessSpec, FdSpec, SocketSpec):
            if cand is ann or cand in getattr(ann, "__args__", ()) or any(
                    cand in getattr(a, "__args__", ()) for a in getattr(ann, "__args__", ())):
                model = cand
                break
        else:
            return []
    return [f.alias or n for n, f in model.model_fields.items()]


def load_trace(path: str | Path) -> Trace:
    """Read and check a trace file (``TraceError`` on any problem)."""
    from tokenproof.soundness import InputTooLarge, check_json_text, check_trace_size, read_bounded

    path = str(path)
    try:
        text = read_bounded(path)  # size bound, then UTF-8 (docs/soundness.md "Input limits")
        check_json_text(text, path)
    except OSError as e:
        raise TraceError(f"{path}: cannot read the trace: {e.strerror}") from None
    except (InputTooLarge, UnicodeDecodeError) as e:
        raise TraceError(f"{path}: {e}" if isinstance(e, UnicodeDecodeError) else str(e)) from None
    try:
        data = json.loads(text)
        check_trace_size(data, path)
    except json.JSONDecodeError as e:
        raise TraceError(f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    except (InputTooLarge, RecursionError) as e:
        raise TraceError(f"{path}: {e}" if isinstance(e, RecursionError) else str(e)) from None
    return parse_trace(data, path, text)


def check_trace(trace: Trace) -> World:
    """Check everything that can be checked before running: the world builds,
    rules exist, arguments are known, present, well-typed and name existing
    objects (or objects an earlier step creates)."""
    world = build_world(trace)
    introduced: dict[str, set[str]] = {s: set() for s in world.names}
    for k, st in enumerate(trace.steps):
        rule = _rule(trace, k)
        _actor(trace, k, rule, world, introduced)
        resolve_args(trace, k, rule, world, introduced=introduced)
    if trace.violation is not None and not 0 <= trace.violation.step < len(trace.steps):
        raise TraceError(f"{trace.where('violation', 'step')}: violation.step {trace.violation.step} is not a step "
                         f"of this trace (0..{len(trace.steps) - 1})")
    _check_provenance(trace)
    for k, st in enumerate(trace.steps):
        if st.expect is not None and st.expect.errno is not None and _errno_value(st.expect.errno) is None:
            raise TraceError(f"{trace.where('steps', k, 'expect', 'errno')}: {_step_ctx(trace, k)}: "
                             f"unknown errno {st.expect.errno!r} (known: {', '.join(D.ERRNO_NAMES.values())})")
    return world


def _check_provenance(trace: Trace) -> None:
    """The profile exists, a solver trace names the model it was found on, the
    violated property exists (when the catalog loads) and the mutant exists."""
    from model.profiles import PROFILE_NAMES

    if trace.profile not in PROFILE_NAMES:
        raise TraceError(f"{trace.where('profile')}: unknown profile {trace.profile!r} "
                         f"(expected one of: {', '.join(PROFILE_NAMES)})")
    if trace.origin in ("bmc", "cti") and not trace.model_hash:
        raise TraceError(f"{trace.where('origin')}: a {trace.origin} trace must record the model it was found on: "
                         "expected a \"model_hash\" (tokenproof.cex.model_hash())")
    if trace.mutant is not None:
        from tokenproof.mutants import load_seeded

        seeded = load_seeded()
        if trace.mutant not in seeded:
            close = difflib.get_close_matches(trace.mutant, list(seeded), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise TraceError(f"{trace.where('mutant')}: no seeded mutant {trace.mutant!r}{hint}")


def check_violation_property(trace: Trace) -> None:
    """Strict check (``tokenproof replay``): the violated property is in the catalog.
    (``tokenproof run`` only reports an unknown property as not evaluated.)"""
    if trace.violation is None:
        return
    catalog, why = property_catalog()
    if catalog is None:
        raise TraceError(f"{trace.where('violation', 'property')}: cannot check violation.property: {why}")
    if trace.violation.property not in catalog:
        close = difflib.get_close_matches(trace.violation.property, list(catalog), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise TraceError(f"{trace.where('violation', 'property')}: violation.property: no property "
                         f"{trace.violation.property!r} in the catalog{hint}")


def current_model_hash() -> str:
    """``tokenproof.cex.model_hash()``: sha256 of the model's sources."""
    from tokenproof.cex import model_hash

    return model_hash()


def provenance_warnings(trace: Trace) -> list[str]:
    """Things worth a warning but not an error: the trace was found on another
    version of the model, or its violation statement differs from the catalog's."""
    out: list[str] = []
    if trace.model_hash:
        now = current_model_hash()
        if trace.model_hash != now:
            out.append(f"{trace.where('model_hash')}: the trace was found on another version of the model "
                       f"(model_hash {trace.model_hash[:12]}..., current {now[:12]}...): it is replayed on the "
                       "current rules")
    v = trace.violation
    if v is not None and v.statement:
        catalog, _ = property_catalog()
        prop = (catalog or {}).get(v.property)
        if prop is not None and " ".join(prop.statement.split()) != " ".join(v.statement.split()):
            out.append(f"{trace.where('violation', 'statement')}: violation.statement differs from the catalog's "
                       f"statement of {v.property} (the catalog's is used)")
    return out


def _errno_value(name: str) -> int | None:
    for k, v in D.ERRNO_NAMES.items():
        if v == name.upper():
            return k
    return None


_PROFILE_RULES: dict[str, dict[str, Rule]] = {}


def profile_rules(name: str) -> dict[str, Rule]:
    """The rule set of a trace's profile (the KACS rules for unknown names; the
    loader reports unknown profiles separately)."""
    if name not in _PROFILE_RULES:
        from model.profiles import get_profile

        try:
            _PROFILE_RULES[name] = get_profile(name)
        except KeyError:
            _PROFILE_RULES[name] = dict(RULES)
    return _PROFILE_RULES[name]


def _rule(trace: Trace, k: int) -> Rule:
    st = trace.steps[k]
    rules = profile_rules(trace.profile)
    r = rules.get(st.rule)
    if r is None:
        close = difflib.get_close_matches(st.rule, list(rules), n=4, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else f" (known rules: {', '.join(sorted(rules))})"
        raise TraceError(f"{trace.where('steps', k, 'rule')}: step {k}: unknown rule {st.rule!r}{hint}")
    return r


def _actor(trace: Trace, k: int, rule: Rule, world: World, introduced: dict[str, set[str]] | None) -> Any:
    st = trace.steps[k]
    where = f"{trace.where('steps', k, 'actor')}: {_step_ctx(trace, k)}"
    if rule.kernel:
        if st.actor != KERNEL:
            raise TraceError(f"{where}: {rule.name} is a kernel step: its actor must be \"kernel\", got {st.actor!r}")
        return None
    if st.actor == KERNEL:
        raise TraceError(f"{where}: {rule.name} is made by a thread: the actor must be a thread name, not \"kernel\"")
    if introduced is not None and st.actor in introduced["Thread"]:
        return -1
    try:
        return world.lookup("Thread", st.actor, "actor")
    except SpecError:
        known = ", ".join(sorted(set(world.names["Thread"]) | (introduced or {}).get("Thread", set())))
        raise TraceError(f"{where}: no thread named {st.actor!r} (known threads: {known})") from None


def _arg_error(trace: Trace, k: int, name: str, msg: str) -> TraceError:
    return TraceError(f"{trace.where('steps', k, 'args', name)}: {_step_ctx(trace, k)}: argument {name!r}: {msg}")


def resolve_args(trace: Trace, k: int, rule: Rule, world: World, actor: Any = None,
                 introduced: dict[str, set[str]] | None = None) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    """Model values of step ``k``'s arguments, and the names its fresh
    arguments introduce (bound once the step ran).

    With ``introduced`` (checking mode) names of objects earlier steps create
    are accepted and new fresh names are added to it."""
    st = trace.steps[k]
    by_name = {a.name: a for a in rule.args}
    unknown = [n for n in st.args if n not in by_name]
    if unknown:
        known = ", ".join(f"{a.name}: {arg_kind(a)}" for a in rule.args) or "none"
        raise _arg_error(trace, k, unknown[0], f"{rule.name} has no argument {unknown[0]!r} (its arguments: {known})")
    out: dict[str, Any] = {}
    binds: dict[str, dict[str, int]] = {}
    taken: dict[str, set[int]] = {}
    for a in rule.args:
        present = a.name in st.args and st.args[a.name] is not None
        if not present:
            if a.fresh:
                out[a.name] = None
                continue
            if a.default is not None:
                out[a.name] = a.default
                continue
            raise TraceError(f"{trace.where('steps', k, 'args')}: {_step_ctx(trace, k)}: missing argument "
                             f"{a.name!r} ({arg_kind(a)}; {rule.name} takes "
                             f"{', '.join(x.name for x in rule.args)})")
        v = st.args[a.name]
        try:
            out[a.name] = parse_arg(a, v, world, introduced)
        except _NewName as nn:
            sort = a.type.sort
            if introduced is not None:
                introduced[sort].add(nn.name)
                out[a.name] = -1
            else:
                oid = next_free(set(world.state.universe[sort]) | taken.get(sort, set()), start=1)
                taken.setdefault(sort, set()).add(oid)
                binds.setdefault(sort, {})[nn.name] = oid
                out[a.name] = oid
        except SpecError as e:
            raise _arg_error(trace, k, a.name, str(e).split(": ", 1)[-1]) from None
    return out, binds


class _NewName(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def arg_kind(a: Arg) -> str:
    t = a.type
    if t.kind == "bool":
        return "true/false"
    if t.kind == "sid":
        return "a SID (S-1-...) or SID name"
    if t.kind == "obj":
        if t.sort == "Handle":
            return "an fd number" + (" (optional: allocated if left out)" if a.fresh else "")
        return (f"a {t.sort.lower()} name" + (" (optional, new: names the object the step creates)" if a.fresh else ""))
    return {"rights": "access rights", "privileges": "a list of privilege names", "level": "an impersonation level",
            "integrity": "an integrity level", "slots": "a list of slot indices", "errno": "an errno name"}.get(
        a.fmt, f"a number (0..{(1 << t.width) - 1})")


def parse_arg(a: Arg, v: Any, world: World, introduced: dict[str, set[str]] | None = None) -> Any:
    """The model value of trace value ``v`` for argument ``a`` (``SpecError`` if wrong)."""
    t = a.type
    w = a.name
    if t.kind == "bool":
        if not isinstance(v, bool):
            raise SpecError(f"{w}: expected true or false, got {v!r}")
        return v
    if t.kind == "sid":
        if not isinstance(v, str):
            raise SpecError(f"{w}: expected a SID (S-1-...) or a SID name, got {v!r}")
        if v in world.sid_aliases:
            return world.sid_aliases[v]
        if v.startswith("S-"):
            return v if valid_sid(v) else D.MALFORMED_SID
        close = difflib.get_close_matches(v, list(world.sid_aliases), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(world.sid_aliases))}"
        raise SpecError(f"{w}: unknown SID name {v!r} ({hint}); write a SID as S-1-...")
    if t.kind == "obj":
        if t.sort == "Handle":
            if isinstance(v, str) and v.isdigit():
                v = int(v)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise SpecError(f"{w}: expected an fd number (an integer >= 0), got {v!r}")
            return v
        if not isinstance(v, str):
            raise SpecError(f"{w}: expected a {t.sort.lower()} name (or {t.sort.lower()}#N), got {v!r}")
        table = world.names[t.sort]
        if v in table:
            return table[v]
        m = re.fullmatch(rf"{t.sort.lower()}#(\d+)", v)
        if m:
            return int(m.group(1))
        if introduced is not None and v in introduced[t.sort]:
            return -1
        if a.fresh:
            raise _NewName(v)
        known = sorted(table) + sorted((introduced or {}).get(t.sort, set()))
        raise SpecError(f"{w}: no {t.sort.lower()} named {v!r} (known: {', '.join(known) or 'none'})")
    # bit-vectors, by fmt
    if a.fmt == "rights":
        if isinstance(v, list) or isinstance(v, str):
            names = v.split("|") if isinstance(v, str) else v
            out = 0
            for n in names:
                if isinstance(n, str) and n.strip().lower().startswith("0x"):
                    out |= int(n.strip(), 16)
                else:
                    out |= parse_rights([n] if isinstance(n, str) else n, w)
        else:
            out = parse_rights(v, w)
    elif a.fmt == "privileges":
        if isinstance(v, int) and not isinstance(v, bool):
            out = v
        else:
            out = parse_privileges(v, w) if v != [] else 0
    elif a.fmt == "level":
        out = parse_level(v, w)
    elif a.fmt == "integrity":
        out = parse_integrity(v, w)
    elif a.fmt == "slots":
        if not isinstance(v, list) or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < t.width
                                              for i in v):
            raise SpecError(f"{w}: expected a list of slot indices 0..{t.width - 1}, got {v!r}")
        out = sum(1 << i for i in set(v))
    elif a.fmt == "errno":
        e = _errno_value(v) if isinstance(v, str) else v
        if not isinstance(e, int) or isinstance(e, bool):
            raise SpecError(f"{w}: expected an errno name ({', '.join(D.ERRNO_NAMES.values())}), got {v!r}")
        out = e
    else:
        if isinstance(v, str) and re.fullmatch(r"0[xX][0-9a-fA-F]+", v):
            v = int(v, 16)
        elif isinstance(v, str):
            # an argument declared without ``fmt`` still accepts a readable name
            # for what its width can hold: an integrity level (32 bits) or an
            # impersonation level (2 bits)
            table = D.INTEGRITY_NAMES if t.width >= 15 else D.LEVEL_NAMES if t.width == 2 else {}
            v = next((k for k, n in table.items() if n.lower() == v.lower()), v)
        if not isinstance(v, int) or isinstance(v, bool):
            raise SpecError(f"{w}: expected a number (0..{(1 << t.width) - 1}), got {v!r}")
        out = v
    if not 0 <= out < (1 << t.width):
        raise SpecError(f"{w}: {out} does not fit in {t.width} bits")
    return BV(out, t.width)


# ------------------------------------------------------------------ the starting world
def build_world(trace: Trace) -> World:
    """The trace's starting world: its ``state`` dump, or its scenario plus ``setup``."""
    if trace.state is not None:
        if trace.scenario is not None:
            raise TraceError(f"{trace.where('scenario')}: give either \"scenario\" (plus \"setup\") or an explicit "
                             "\"state\", not both")
        try:
            world = load_world(trace.state, "state")
        except SpecError as e:
            raise TraceError(f"{trace.where(*_spec_path(str(e)))}: {e}") from None
    else:
        name = trace.scenario or "standard"
        if name not in SCENARIOS:
            raise TraceError(f"{trace.where('scenario')}: unknown scenario {name!r} "
                             f"(known: {', '.join(sorted(SCENARIOS))})")
        world = SCENARIOS[name]()
    for alias, sid in trace.sids.items():
        if not valid_sid(sid):
            raise TraceError(f"{trace.where('sids', alias)}: sids.{alias}: {sid!r} is not a SID (S-1-...)")
        world.sid_aliases[alias] = sid
    if trace.setup is not None:
        _apply_setup(trace, world)
    return world


def _spec_path(msg: str) -> tuple:
    head = msg.split(":", 1)[0]
    parts: list[Any] = []
    for p in re.split(r"\.", head):
        m = re.fullmatch(r"(\w[\w\-#]*)\[(\d+)\]", p)
        if m:
            parts += [m.group(1), int(m.group(2))]
        else:
            parts.append(p)
    return tuple(parts)


def _apply_setup(trace: Trace, world: World) -> None:
    su = trace.setup
    assert su is not None

    def fail(path: tuple, msg: str) -> TraceError:
        return TraceError(f"{trace.where(*path)}: {msg}")

    try:
        for i, name in enumerate(su.sessions):
            if name in world.names["Session"]:
                raise fail(("setup", "sessions", i), f"setup.sessions[{i}]: a session named {name!r} already exists")
            world.add_session(name)
        for name, spec in su.tokens.items():
            if name in world.names["Token"]:
                raise fail(("setup", "tokens", name), f"setup.tokens.{name}: a token named {name!r} already exists")
            world.add_token(name, spec, f"setup.tokens.{name}")
        for name, ps in su.processes.items():
            path = ("setup", "processes", name)
            if name in world.names["Process"]:
                raise fail(path, f"setup.processes.{name}: a process named {name!r} already exists")
            tok = world.lookup("Token", ps.token, f"setup.processes.{name}.token")
            for th in ps.threads:
                if th in world.names["Thread"]:
                    raise fail(path + ("threads",), f"setup.processes.{name}: a thread named {th!r} already exists")
            world.add_process(name, tok, ps.threads)
        for i, fd in enumerate(su.fds):
            where = f"setup.fds[{i}]"
            pid = world.lookup("Process", fd.process, f"{where}.process")
            tok = world.lookup("Token", fd.token, f"{where}.token")
            world.add_fd(pid, tok, parse_rights(fd.rights, f"{where}.rights"), fd.cloexec, fd.fd)
        for name, so in su.sockets.items():
            pid = world.lookup("Process", so.server, f"setup.sockets.{name}.server")
            world.add_socket(name, pid, so.capturing)
    except SpecError as e:
        raise TraceError(f"{trace.where(*_spec_path(str(e)))}: {e}") from None


# ------------------------------------------------------------------ running
@dataclass
class KernelResult:
    rule: str
    args: dict[str, Any]
    args_text: dict[str, str]
    changes: list[Change]

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "args": self.args_text, "changes": [c.to_json() for c in self.changes]}


@dataclass
class StepResult:
    index: int
    actor: str
    rule: str
    args: dict[str, Any]  # model values (object ids)
    args_text: dict[str, str]
    errno: int
    ret: dict[str, str]
    before: ConcreteState
    post: ConcreteState  # right after the rule (before kernel follow-ups)
    after: ConcreteState  # after the kernel follow-ups
    changes: list[Change]
    kernel: list[KernelResult] = field(default_factory=list)
    expected_errno: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def errno_name(self) -> str:
        return errno_name(self.errno)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "actor": self.actor, "rule": self.rule, "args": self.args_text,
                "errno": self.errno_name, "ret": self.ret, "expected_errno": self.expected_errno,
                "ok": self.ok, "failures": self.failures, "changes": [c.to_json() for c in self.changes],
                "kernel": [k.to_json() for k in self.kernel]}


@dataclass
class RunResult:
    trace: Trace
    world: World  # the final world (names include objects the steps named)
    initial: ConcreteState
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


def execute(trace: Trace, auto_gc: bool | None = None, rules: dict[str, Rule] | None = None) -> RunResult:
    """Run every step on the concrete executor (with ``rules``: that rule set,
    e.g. a mutant's ``Mutant.rules()``; default the model's rules).

    Raises ``StepImpossible`` (a ``TraceError``, with ``.partial`` holding the
    steps run so far) when a step's model preconditions do not hold."""
    gc = trace.auto_gc if auto_gc is None else auto_gc
    world = build_world(trace)
    result = RunResult(trace, world, world.state)
    for k, st in enumerate(trace.steps):
        rule = _rule(trace, k)
        if rules is not None:
            rule = rules.get(rule.name, rule)
        actor = _actor(trace, k, rule, world, None)
        args, binds = resolve_args(trace, k, rule, world, actor)
        before = world.state
        try:
            out = apply_rule(before, rule, actor, args)
        except ModelPreconditionError as e:
            raise StepImpossible(f"{trace.where('steps', k)}: step {k} ({rule.name} by {st.actor}) is not possible: "
                                 f"{e}", result) from None
        used = out.ret.pop("_args", args)
        before = out.pre  # the pre-state with the step's fresh objects in its universe (transition checks quantify over them)
        for sort, table in binds.items():
            world.names[sort].update(table)
        world.state = out.post
        kernel: list[KernelResult] = []
        if gc:
            state = out.post
            new_state, recs = collect_garbage(state, rules)
            for rec in recs:
                krule = RULES[rec.rule]
                kernel.append(KernelResult(rec.rule, rec.args, render_args(krule, rec.args, world),
                                           diff_states(rec.outcome.pre, rec.outcome.post, world)))
            world.state = new_state
        errno = int(out.errno)
        sr = StepResult(k, st.actor, rule.name, used, render_args(rule, used, world), errno,
                        render_ret(rule, out.ret, world), before, out.post, world.state,
                        diff_states(before, out.post, world), kernel)
        _check_expect(trace, k, rule, sr, out.ret, world)
        result.steps.append(sr)
    result.world = world
    return result


def _check_expect(trace: Trace, k: int, rule: Rule, sr: StepResult, raw_ret: dict[str, Any], world: World) -> None:
    exp = trace.steps[k].expect
    if exp is None:
        return
    if exp.errno is not None:
        sr.expected_errno = exp.errno.upper()
        if sr.errno_name != sr.expected_errno:
            sr.failures.append(f"expected {sr.expected_errno}, got {sr.errno_name}")
    for key, want in (exp.ret or {}).items():
        if key not in raw_ret:
            sr.failures.append(f"expected return value {key!r}, but {rule.name} returned "
                               f"{', '.join(sr.ret) or 'none'}")
            continue
        got_text, got = sr.ret.get(key), raw_ret[key]
        if _same(want, got, got_text, rule, key, world):
            continue
        sr.failures.append(f"expected {key} = {want!r}, got {got_text}")


def _same(want: Any, got: Any, got_text: str | None, rule: Rule, key: str, world: World) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return isinstance(want, bool) and bool(got) == want
    if got_text is not None and str(want) == got_text:
        return True
    kind = ret_kind(rule, key)
    if kind is not None:
        try:
            return int(parse_arg(Arg(key, kind[0], fmt=kind[1]), want, world)) == int(got)
        except (SpecError, _NewName, TypeError, ValueError):
            return False
    try:
        return int(want) == int(got)
    except (TypeError, ValueError):
        return False


# ------------------------------------------------------------------ violations
@dataclass
class ViolationResult:
    property: str
    step: int
    evaluated: bool
    violated: bool | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"property": self.property, "step": self.step, "evaluated": self.evaluated,
                "violated": self.violated, "message": self.message}


def property_catalog() -> tuple[dict[str, Any] | None, str]:
    """The property catalog, if the ``properties`` package provides one."""
    try:
        import importlib

        try:
            importlib.import_module("properties.catalog")
        except ModuleNotFoundError as e:
            if e.name != "properties.catalog":
                raise
        from properties.base import CATALOG
    except Exception as e:  # a catalog being written may not import yet
        return None, f"the property catalog could not be loaded ({type(e).__name__}: {e})"
    return CATALOG, ""


def evaluate_violation(result: RunResult) -> ViolationResult | None:
    """Evaluate the trace's ``violation`` property after its step."""
    v = result.trace.violation
    if v is None:
        return None
    if v.step >= len(result.steps):
        return ViolationResult(v.property, v.step, False, None, f"step {v.step} did not run")
    catalog, why = property_catalog()
    if catalog is None:
        return ViolationResult(v.property, v.step, False, None, f"not evaluated: {why}")
    prop = catalog.get(v.property)
    if prop is None:
        return ViolationResult(v.property, v.step, False, None,
                               f"not evaluated: no property {v.property!r} in the catalog")
    sr = result.steps[v.step]
    try:
        if prop.kind == "state":
            holds = prop.check(sr.after)
        elif prop.kind == "transition":
            if prop.rules is not None and sr.rule not in prop.rules:
                holds = True
            else:
                from properties.base import StepInfo

                actor = None if RULES[sr.rule].kernel else result.world.names["Thread"].get(sr.actor)
                if actor is None and not RULES[sr.rule].kernel:
                    actor = int(sr.actor.split("#", 1)[1]) if "#" in sr.actor else None
                holds = prop.check(sr.before, sr.post, StepInfo(sr.rule, actor, sr.args, sr.errno))
        else:
            return ViolationResult(v.property, v.step, False, None,
                                   f"not evaluated: {prop.kind} properties need an access query, not a trace")
    except Exception as e:  # a property that cannot evaluate concretely is reported, not raised
        return ViolationResult(v.property, v.step, False, None, f"not evaluated: {type(e).__name__}: {e}")
    violated = not bool(holds)
    where = f"after step {v.step} ({sr.rule} by {sr.actor})"
    msg = f"{v.property} is {'VIOLATED' if violated else 'not violated (it holds)'} {where}"
    return ViolationResult(v.property, v.step, True, violated, msg)


# ------------------------------------------------------------------ writing
def step_entry(world: World, rule: str, actor: Any, args: dict[str, Any], errno: Any = None,
               ret: dict[str, Any] | None = None) -> dict[str, Any]:
    """A trace step for ``rule`` applied by thread id ``actor`` (``None``: the
    kernel) with model-value ``args``, spelled with ``world``'s names so that
    it parses back to the same values."""
    from tokenproof.statefile import privilege_names, rights_names, slot_list

    r = RULES[rule]
    out_args: dict[str, Any] = {}
    for a in r.args:
        if a.name not in args or args[a.name] is None:
            continue
        v = args[a.name]
        t = a.type
        if t.kind == "bool":
            out_args[a.name] = bool(v)
        elif t.kind == "sid":
            out_args[a.name] = str(v)
        elif t.kind == "obj":
            out_args[a.name] = int(v) if t.sort == "Handle" else world.name_of(t.sort, int(v))
        elif a.fmt == "rights":
            out_args[a.name] = rights_names(int(v), "token")
        elif a.fmt == "privileges":
            names = privilege_names(int(v))
            out_args[a.name] = names if all(not n.startswith("0x") for n in names) else int(v)
        elif a.fmt == "level":
            out_args[a.name] = D.LEVEL_NAMES[int(v)]
        elif a.fmt == "integrity":
            out_args[a.name] = D.INTEGRITY_NAMES.get(int(v), int(v))
        elif a.fmt == "slots":
            out_args[a.name] = slot_list(int(v))
        elif a.fmt == "errno":
            out_args[a.name] = D.ERRNO_NAMES.get(int(v), int(v))
        else:
            out_args[a.name] = int(v)
    entry: dict[str, Any] = {"actor": KERNEL if actor is None else world.name_of("Thread", int(actor)),
                             "rule": rule, "args": out_args}
    if errno is not None or ret:
        exp: dict[str, Any] = {}
        if errno is not None:
            exp["errno"] = errno_name(errno)
        if ret:
            exp["ret"] = ret
        entry["expect"] = exp
    return entry


def make_trace(steps: list[dict[str, Any]], *, description: str = "", scenario: str | None = None,
               world: World | None = None, sids: dict[str, str] | None = None,
               setup: dict[str, Any] | None = None, auto_gc: bool = True,
               violation: dict[str, Any] | None = None, profile: str = "kacs",
               model_hash: str | None = None) -> dict[str, Any]:
    """Trace data: either a ``scenario`` (plus ``setup``) or a ``world`` whose
    complete state is embedded (counterexamples to induction)."""
    if world is not None and scenario is not None:
        raise ValueError("give a scenario or a world, not both")
    data: dict[str, Any] = {"schema": SCHEMA_VERSION, "description": description, "profile": profile}
    if model_hash is not None:
        data["model_hash"] = model_hash
    if world is not None:
        data["state"] = dump_world(world)
    else:
        data["scenario"] = scenario or "standard"
    if sids:
        data["sids"] = sids
    if setup:
        data["setup"] = setup
    data["auto_gc"] = auto_gc
    data["steps"] = steps
    if violation is not None:
        data["violation"] = violation
    return data


def dump_trace(trace: Trace | dict[str, Any], path: str | Path | None = None) -> str:
    """The JSON text of a trace (validated first); written to ``path`` if given."""
    data = trace.model_dump(by_alias=True, exclude_none=True) if isinstance(trace, Trace) else trace
    parse_trace(json.loads(json.dumps(data)), str(path or "<trace>"))  # never write a trace we cannot read
    text = json.dumps(data, indent=2) + "\n"
    if path is not None:
        Path(path).write_text(text)
    return text


__all__ = ["Trace", "TraceStep", "TraceError", "StepImpossible", "RunResult", "StepResult", "KernelResult",
           "ViolationResult", "load_trace", "parse_trace", "build_world", "check_trace", "execute",
           "evaluate_violation", "dump_trace", "provenance_warnings", "current_model_hash",
           "check_violation_property", "make_trace", "step_entry", "parse_arg", "SCHEMA_VERSION"]
