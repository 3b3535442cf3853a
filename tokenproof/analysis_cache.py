"""The explorer's start-up analysis on disk (``tokenproof explore``'s ``--cache-dir``).

``tokenproof.abstraction.analyse`` (dropped fields, one-step-valid checks, and with
``--guarded`` the guarded-resets proof: minutes of z3) depends only on the rules, the
checked properties, the start state, the resource limit and the profile.  Its result is
kept in a ``tokenproof.cache.ResultCache`` under a key (``analysis_key``) that covers
every project source (whole packages), the identity of every rule and property function
(``_ident``), the start state's contents and the options; a rule or property whose code
cannot be named reliably gets no key (no disk cache).  Entries are JSON
(``analysis_to_json`` / ``analysis_from_json``, an exact round trip or nothing stored);
an unreadable entry is recomputed, never trusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model.concrete import ConcreteState
from model.rules.registry import Rule
from properties.base import Property

ANALYSIS_SCHEMA = "explorer-analysis/1"
#: every project source the analysis can depend on (rules, properties, the symbolic layer, the
#: analysis and the explorer's own universe): whole packages, so no import can be missed
ANALYSIS_PACKAGES = ("model", "properties", "tokenproof")


class _Unidentified(Exception):
    """A rule or property whose code cannot be named reliably: no disk cache."""


def _ident(x: Any, depth: int = 0) -> Any:
    """A JSON-able identity of a value a rule or check's behaviour depends on: scalars as they are,
    containers and dataclasses by contents, functions by module, qualified name, source file
    (and its digest), defaults, closure cells and globals that differ from their module's
    (a swapped helper); raises ``_Unidentified`` for anything else (``__main__``, a lambda,
    an object it cannot see into)."""
    import dataclasses
    import sys
    import types

    from tokenproof.cache import file_digest

    if depth > 8:
        raise _Unidentified("too deep")
    if x is None or isinstance(x, (bool, int, float, str)):
        return [type(x).__name__, x]
    if isinstance(x, (tuple, list)):
        return [type(x).__name__, [_ident(y, depth + 1) for y in x]]
    if isinstance(x, (frozenset, set)):
        return [type(x).__name__, sorted((_ident(y, depth + 1) for y in x), key=repr)]
    if isinstance(x, dict):
        return ["dict", sorted(([_ident(k, depth + 1), _ident(v, depth + 1)] for k, v in x.items()), key=repr)]
    if isinstance(x, type):
        if x.__module__ == "__main__" or "<locals>" in x.__qualname__:
            raise _Unidentified(repr(x))
        return ["type", x.__module__, x.__qualname__]
    if isinstance(x, types.BuiltinFunctionType):
        return ["builtin", getattr(x, "__module__", None), x.__qualname__, _ident(getattr(x, "__self__", None)
                                                                             if not isinstance(getattr(x, "__self__", None), types.ModuleType)
                                                                             else None, depth + 1)]
    if isinstance(x, types.ModuleType):
        f = getattr(x, "__file__", None)
        return ["module", x.__name__, file_digest(Path(f).resolve()) if f and Path(f).is_file() else None]
    if isinstance(x, types.SimpleNamespace):
        return ["namespace", _ident(vars(x), depth + 1)]
    if isinstance(x, types.MethodType):
        return ["method", _ident(x.__func__, depth + 1), _ident(x.__self__, depth + 1)]
    if isinstance(x, types.FunctionType):
        mod = x.__module__
        if not mod or mod == "__main__" or "<lambda>" in x.__qualname__:
            raise _Unidentified(f"{mod}.{x.__qualname__}")
        path = Path(x.__code__.co_filename)
        if not path.is_file():
            raise _Unidentified(str(path))
        out: list[Any] = ["function", mod, x.__qualname__, str(path), file_digest(path.resolve()),
                          x.__code__.co_firstlineno]
        if x.__defaults__ or x.__kwdefaults__:
            out.append(["defaults", _ident(x.__defaults__, depth + 1), _ident(x.__kwdefaults__, depth + 1)])
        if x.__closure__:
            out.append(["closure", list(x.__code__.co_freevars),
                        [_ident(c.cell_contents, depth + 1) for c in x.__closure__]])
        module = sys.modules.get(mod)
        if module is None or x.__globals__ is not vars(module):  # rebuilt with other globals (a swap)
            own = vars(module) if module is not None else {}
            from tokenproof.killmatrix import code_names

            names = code_names(x)
            diff = sorted(n for n in names if n in x.__globals__ and x.__globals__[n] is not own.get(n, _MISSING))
            out.append(["globals", [[n, _ident(x.__globals__[n], depth + 1)] for n in diff]])
        return out
    if dataclasses.is_dataclass(x):
        cls = type(x)
        return ["dataclass", _ident(cls, depth + 1),
                [[f.name, _ident(getattr(x, f.name), depth + 1)] for f in dataclasses.fields(x)],
                _ident({k: v for k, v in vars(x).items() if k not in {f.name for f in dataclasses.fields(x)}},
                       depth + 1) if hasattr(x, "__dict__") else None]
    cls = type(x)
    if cls.__module__ in ANALYSIS_PACKAGES or cls.__module__.startswith(tuple(p + "." for p in ANALYSIS_PACKAGES)):
        # an instance of a project class: its class and its attributes
        slots = [n for c in cls.__mro__ for n in vars(c).get("__slots__", ()) if n not in ("__dict__", "__weakref__")]
        return ["object", _ident(cls, depth + 1), _ident(dict(vars(x)) if hasattr(x, "__dict__") else None, depth + 1),
                [[n, _ident(getattr(x, n, None), depth + 1)] for n in slots]]
    if cls.__module__ == "__future__":  # ``from __future__ import annotations`` copied with a module's names
        return ["future", repr(x)]
    raise _Unidentified(f"{cls.__module__}.{cls.__qualname__}")


_MISSING = object()


def _state_contents(st: ConcreteState) -> list[Any]:
    from model.state import SCHEMA

    out: list[Any] = [[s, [repr(o) for o in st.universe[s]]] for s in sorted(st.universe)]
    for f in SCHEMA:
        v = st.__dict__[f.name]
        out.append([f.name, sorted((repr(k), repr(x)) for k, x in v.items()) if f.keys else repr(v)])
    return out


def analysis_key(rules: dict[str, Rule], props: dict[str, Property], init: ConcreteState, rlimit: int,
                 guarded: bool, profile: str) -> str | None:
    """The disk-cache key of an analysis (None: a rule or check cannot be identified, no disk
    cache): the schema, z3 and Python versions, the digest of every source file of
    ``ANALYSIS_PACKAGES``, every rule (name, arguments, kernel flag, mutant, its function and
    instance-level ``apply`` by ``_ident``: source file and digest, closure, swapped globals),
    every property (id, kind, rules, support, expected verdict, check function), the start
    state's universe and full contents, the rlimit, ``guarded`` and the profile."""
    import sys

    import z3

    from tokenproof.cache import ROOT, _hash, sources_digest

    files = frozenset(p for pkg in ANALYSIS_PACKAGES for p in (ROOT / pkg).rglob("*.py"))
    try:
        rule_ids = [[n, r.name, repr(r.args), r.kernel, _ident(r.extra), _ident(r.fn),
                     _ident(vars(r).get("apply"))] for n, r in rules.items()]
        prop_ids = [[pid, p.id, p.kind, _ident(p.rules), _ident(p.support), p.expected(profile), _ident(p.check)]
                    for pid, p in sorted(props.items())]
    except _Unidentified:
        return None
    return _hash(ANALYSIS_SCHEMA, z3.get_version_string(), list(sys.version_info[:3]), sources_digest(files),
                 rule_ids, prop_ids, _state_contents(init), rlimit, guarded, profile)


def analysis_to_json(a: Any) -> dict | None:
    """``Analysis`` as JSON (None if it would not come back equal, value for value and type for type)."""
    g = a.guarded_info
    data = {"dropped": sorted(a.dropped), "reasons": dict(a.reasons), "checks": a.checks,
            "valid": sorted([p, r] for p, r in a.valid), "valid_checks": a.valid_checks,
            "guarded": {f: [[h, v] for h, v in gd] for f, gd in a.guarded.items()},
            "guarded_info": None if g is None else
            {"guards": {f: [[h, v] for h, v in gd] for f, gd in g.guards.items()}, "reasons": dict(g.reasons),
             "assumed": sorted(g.assumed), "checks": g.checks, "rounds": g.rounds, "stats": dict(g.stats)}}
    import json

    try:
        back = analysis_from_json(json.loads(json.dumps(data)))
    except Exception:
        return None
    return data if _same(back, a) else None


def analysis_from_json(d: Any) -> Any:
    """The ``Analysis`` of ``analysis_to_json`` (raises on anything malformed)."""
    from tokenproof.abstraction import Analysis, Guarded

    def strs(xs: Any) -> list[str]:
        if not isinstance(xs, list) or not all(isinstance(x, str) for x in xs):
            raise ValueError("not a list of strings")
        return xs

    def str_map(m: Any) -> dict[str, str]:
        if not isinstance(m, dict) or not all(isinstance(v, str) for v in m.values()):
            raise ValueError("not a map of strings")
        return dict(m)

    def count(n: Any) -> int:
        if type(n) is not int:
            raise ValueError("not an int")
        return n

    def guards(m: Any) -> dict[str, tuple]:
        if not isinstance(m, dict):
            raise ValueError("guards")
        out = {}
        for f, gd in m.items():
            if not isinstance(gd, list) or not gd:
                raise ValueError("guard")
            lits = []
            for lit in gd:
                if (not isinstance(lit, list) or len(lit) != 2 or not isinstance(lit[0], str)
                        or not isinstance(lit[1], (bool, int, str))):
                    raise ValueError("guard literal")
                lits.append((lit[0], lit[1]))
            out[f] = tuple(lits)
        return out

    if not isinstance(d, dict):
        raise ValueError("not an analysis")
    valid = d["valid"]
    if not isinstance(valid, list) or not all(isinstance(v, list) and len(v) == 2 for v in valid):
        raise ValueError("valid pairs")
    a = Analysis(frozenset(strs(d["dropped"])), str_map(d["reasons"]), count(d["checks"]),
                 frozenset(tuple(strs(v)) for v in valid), count(d["valid_checks"]), guards(d["guarded"]))
    g = d["guarded_info"]
    if g is not None:
        if not isinstance(g, dict) or not isinstance(g["stats"], dict):
            raise ValueError("guarded info")
        a.guarded_info = Guarded(guards(g["guards"]), str_map(g["reasons"]), frozenset(strs(g["assumed"])),
                                 count(g["checks"]), count(g["rounds"]), dict(g["stats"]))
        if a.guarded_info.guards == a.guarded:
            a.guarded_info.guards = a.guarded  # one dict, as ``analyse`` returns it
    return a


def _same(x: Any, y: Any) -> bool:
    """Equal with equal types all the way down (``True == 1`` is not enough)."""
    import dataclasses

    if type(x) is not type(y):
        return False
    if dataclasses.is_dataclass(x):
        return all(_same(getattr(x, f.name), getattr(y, f.name)) for f in dataclasses.fields(x))
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_same(v, y[k]) for k, v in x.items())
    if isinstance(x, (tuple, list)):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y))
    if isinstance(x, (set, frozenset)):
        if x != y:
            return False
        ys = {b: b for b in y}
        return all(_same(a, ys[a]) for a in x)
    return x == y
