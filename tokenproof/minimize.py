"""Shrinking a counterexample while its violation persists.

The shortest trace (by iterative deepening) is the bounded model checker's
job; this takes any trace that reproduces (a BMC trace, a CTI, a hand-written
one) and makes it smaller, deterministically, within a budget of replays:

1. **steps**: delta debugging over the steps before the violating one (drop
   halves, quarters, ... then single steps); steps after the violation go first;
2. **arguments**: access masks toward fewer rights, privilege sets and slot
   masks toward fewer members, levels and integrity levels lower, counts
   smaller, booleans false, SIDs to ``Nobody`` (S-1-0-0), fresh-object ids
   left to the executor;
3. **the initial world**: ``setup`` objects (fds, sockets, processes, threads,
   tokens, sessions) removed, privileges and groups removed from token specs,
   the ``boot`` scenario instead of ``standard``; for an explicit ``state``,
   dead objects dropped.

A candidate is kept only if it still loads and its violation (same property)
still happens on the same rules.  ``expect`` entries are re-recorded from the
final run.  Every accepted change is described in ``Minimized.removals``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from model import domain as D
from model.rules.registry import RULES, Arg, Rule
from tokenproof.trace import (
    StepImpossible,
    Trace,
    TraceError,
    evaluate_violation,
    execute,
    parse_arg,
    parse_trace,
)

DEFAULT_BUDGET = 400


@dataclass
class Minimized:
    data: dict[str, Any]  # the minimized trace (JSON data)
    removals: list[str] = field(default_factory=list)
    runs: int = 0
    exhausted: bool = False
    steps_before: int = 0


class _Budget(Exception):
    pass


class _Shrinker:
    def __init__(self, data: dict[str, Any], rules: dict[str, Rule], budget: int):
        self.data = data
        self.rules = rules
        self.budget = budget
        self.runs = 0
        self.removals: list[str] = []
        self.cache: dict[str, bool] = {}

    def fails(self, cand: dict[str, Any]) -> bool:
        """Does ``cand`` load and still violate its property?"""
        key = json.dumps(cand, sort_keys=True)
        if key in self.cache:
            return self.cache[key]
        if self.runs >= self.budget:
            raise _Budget()
        self.runs += 1
        try:
            tr = parse_trace(json.loads(key), "<minimize>")
            res = execute(tr, rules=self.rules)
            v = evaluate_violation(res)
            ok = bool(v is not None and v.evaluated and v.violated)
        except (TraceError, StepImpossible):
            ok = False
        except Exception:  # noqa: BLE001 - a candidate the rules reject in another way is not a counterexample
            ok = False
        self.cache[key] = ok
        return ok

    def accept(self, cand: dict[str, Any], what: str) -> bool:
        if self.fails(cand):
            self.data = cand
            self.removals.append(what)
            return True
        return False


# ------------------------------------------------------------------ steps
def _with_steps(data: dict[str, Any], keep: list[int]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    v = out["violation"]["step"]
    out["steps"] = [data["steps"][i] for i in keep]
    out["violation"]["step"] = keep.index(v)
    return out


def _step_label(data: dict[str, Any], i: int, orig: list[int]) -> str:
    s = data["steps"][i]
    return f"step {orig[i]} ({s['rule']} by {s['actor']})"


def _shrink_steps(sh: _Shrinker, orig: list[int]) -> list[int]:
    """Delta debugging (ddmin-style complement removal) over the steps; returns the kept original indices."""
    data = sh.data
    v = data["violation"]["step"]
    # steps after the violation never matter
    if v < len(data["steps"]) - 1:
        keep = list(range(v + 1))
        cand = _with_steps(data, keep)
        labels = [_step_label(data, i, orig) for i in range(v + 1, len(data["steps"]))]
        if sh.accept(cand, "dropped " + ", ".join(labels) + " (after the violation)"):
            orig = orig[: v + 1]
    n = 2
    while True:
        data = sh.data
        v = data["violation"]["step"]
        removable = [i for i in range(len(data["steps"])) if i != v]
        if not removable:
            break
        n = min(n, len(removable))
        chunk = max(1, len(removable) // n)
        progress = False
        for start in range(0, len(removable), chunk):
            drop = set(removable[start:start + chunk])
            keep = [i for i in range(len(data["steps"])) if i not in drop]
            cand = _with_steps(data, keep)
            labels = [_step_label(data, i, orig) for i in sorted(drop)]
            if sh.accept(cand, "dropped " + ", ".join(labels)):
                orig = [orig[i] for i in keep]
                progress = True
                break
        if progress:
            n = max(n - 1, 2)
            continue
        if chunk == 1:
            break
        n = min(len(removable), n * 2)
    return orig


# ------------------------------------------------------------------ arguments
def _bits(v: int) -> list[int]:
    return [i for i in range(v.bit_length()) if v >> i & 1]


def _arg_candidates(a: Arg, raw: Any, value: Any) -> list[tuple[Any, str]]:
    """Smaller spellings of one argument value: (new raw value, description); ``...`` = remove it."""
    from tokenproof.statefile import privilege_names, rights_names

    t = a.type
    out: list[tuple[Any, str]] = []
    if a.fresh:
        if t.kind == "obj" and not (isinstance(raw, str) and not raw.startswith(f"{(t.sort or '').lower()}#")):
            out.append((..., f"{a.name}: left to the executor"))
        return out
    if t.kind == "bool":
        if value is True:
            out.append((False, f"{a.name} true → false"))
        return out
    if t.kind == "sid":
        if a.name != "user" and str(value) != D.SID_NULL:
            out.append(("Nobody", f"{a.name} {raw} → Nobody"))
        return out
    if t.kind != "bv":
        return out
    v = int(value)
    if v == 0:
        return out
    if a.fmt == "rights":
        out.append(([], f"{a.name} {'|'.join(rights_names(v, 'token'))} → none"))
        for b in sorted(_bits(v), reverse=True):
            nv = v & ~(1 << b)
            out.append((rights_names(nv, "token"), f"{a.name}: without {rights_names(1 << b, 'token')[0]}"))
    elif a.fmt == "privileges":
        out.append(([], f"{a.name}: no privileges"))
        for b in sorted(_bits(v), reverse=True):
            nv = v & ~(1 << b)
            out.append((privilege_names(nv) if nv else [], f"{a.name}: without {privilege_names(1 << b)[0]}"))
    elif a.fmt == "slots":
        out.append(([], f"{a.name}: no slots"))
        for b in sorted(_bits(v), reverse=True):
            out.append((_bits(v & ~(1 << b)), f"{a.name}: without slot {b}"))
    elif a.fmt == "level":
        for lv in range(v):
            out.append((D.LEVEL_NAMES[lv], f"{a.name} {D.LEVEL_NAMES[v]} → {D.LEVEL_NAMES[lv]}"))
    elif a.fmt == "integrity" or (t.width == 32 and v in D.INTEGRITY_NAMES):
        for lv in sorted(k for k in D.INTEGRITY_NAMES if k < v):
            out.append((D.INTEGRITY_NAMES[lv], f"{a.name} {D.INTEGRITY_NAMES.get(v, v)} → {D.INTEGRITY_NAMES[lv]}"))
    elif a.fmt == "":
        out.append((0, f"{a.name} {v} → 0"))
        if v > 1:
            out.append((v - 1, f"{a.name} {v} → {v - 1}"))
            out.append((v >> 1, f"{a.name} {v} → {v >> 1}"))
    return out


def _shrink_args(sh: _Shrinker, orig: list[int]) -> None:
    from tokenproof.trace import build_world

    for i in range(len(sh.data["steps"])):
        step = sh.data["steps"][i]
        rule = RULES.get(step["rule"])
        if rule is None:
            continue
        for a in rule.args:
            changed = True
            while changed:
                changed = False
                raw = sh.data["steps"][i].get("args", {}).get(a.name)
                if raw is None:
                    break
                try:
                    value = parse_arg(a, raw, build_world(parse_trace(json.loads(json.dumps(sh.data)), "<m>")))
                except Exception:  # noqa: BLE001 - a name a step introduces: not shrinkable here
                    value = None
                if value is None and not a.fresh:
                    break
                for new, what in _arg_candidates(a, raw, value):
                    cand = copy.deepcopy(sh.data)
                    if new is ...:
                        del cand["steps"][i]["args"][a.name]
                    else:
                        cand["steps"][i]["args"][a.name] = new
                    if sh.accept(cand, f"step {orig[i]} ({step['rule']}): {what}"):
                        changed = True
                        break


# ------------------------------------------------------------------ the initial world
def _world_candidates(data: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    out: list[tuple[dict[str, Any], str]] = []

    def variant(fn: Callable[[dict[str, Any]], None], what: str) -> None:
        c = copy.deepcopy(data)
        fn(c)
        out.append((c, what))

    if data.get("state") is None and (data.get("scenario") or "standard") == "standard":
        variant(lambda c: c.__setitem__("scenario", "boot"), "scenario standard → boot")
    su = data.get("setup")
    if su:
        for i in reversed(range(len(su.get("fds", [])))):
            variant(lambda c, i=i: c["setup"]["fds"].pop(i), f"setup: fd {i} ({su['fds'][i].get('process')} → "
                                                             f"{su['fds'][i].get('token')})")
        for name in list(su.get("sockets", {})):
            variant(lambda c, n=name: c["setup"]["sockets"].pop(n), f"setup: socket {name}")
        for name, ps in list(su.get("processes", {}).items()):
            variant(lambda c, n=name: c["setup"]["processes"].pop(n), f"setup: process {name}")
            for th in ps.get("threads", []):
                variant(lambda c, n=name, th=th: c["setup"]["processes"][n]["threads"].remove(th),
                        f"setup: thread {th} of process {name}")
        for name, spec in list(su.get("tokens", {}).items()):
            variant(lambda c, n=name: c["setup"]["tokens"].pop(n), f"setup: token {name}")
            privs = spec.get("privileges")
            if isinstance(privs, (dict, list)):
                for p in list(privs):
                    def drop_priv(c: dict[str, Any], n: str = name, p: str = p) -> None:
                        pv = c["setup"]["tokens"][n]["privileges"]
                        if isinstance(pv, dict):
                            pv.pop(p)
                        else:
                            pv.remove(p)
                    variant(drop_priv, f"setup.tokens.{name}: privilege {p}")
            for gi in reversed(range(len(spec.get("groups", []) or []))):
                g = spec["groups"][gi]
                gname = g if isinstance(g, str) else g.get("sid")
                variant(lambda c, n=name, gi=gi: c["setup"]["tokens"][n]["groups"].pop(gi),
                        f"setup.tokens.{name}: group {gname}")
            for rk in ("restricted_sids",):
                for ri in reversed(range(len(spec.get(rk) or []))):
                    variant(lambda c, n=name, ri=ri: c["setup"]["tokens"][n]["restricted_sids"].pop(ri),
                            f"setup.tokens.{name}: restricting SID {spec[rk][ri]}")
        for i in reversed(range(len(su.get("sessions", [])))):
            variant(lambda c, i=i: c["setup"]["sessions"].pop(i), f"setup: session {su['sessions'][i]}")
    st = data.get("state")
    if isinstance(st, dict):
        out.extend(_dead_object_candidates(st, data))
    return out


_ALIVE_KEY = {"threads": "alive", "processes": "alive", "tokens": "alive", "sessions": "alive", "sockets": "alive"}
_SORT_OF = {"threads": "Thread", "processes": "Process", "tokens": "Token", "sessions": "Session", "sockets": "Socket"}


def _dead_object_candidates(st: dict[str, Any], data: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Explicit states: drop objects that are not alive (from their section, the universe and the names)."""
    out = []
    for sec, sort in _SORT_OF.items():
        for name, fields in list((st.get(sec) or {}).items()):
            if not isinstance(fields, dict) or fields.get(_ALIVE_KEY[sec], False):
                continue
            c = copy.deepcopy(data)
            cs = c["state"]
            cs[sec].pop(name, None)
            uni = cs.get("universe", {}).get(sort)
            if isinstance(uni, list) and name in uni:
                uni.remove(name)
            names = cs.get("names", {}).get(sort)
            if isinstance(names, dict):
                names.pop(name, None)
            out.append((c, f"state: dead {sort.lower()} {name}"))
    return out


def _shrink_world(sh: _Shrinker) -> None:
    progress = True
    while progress:
        progress = False
        for cand, what in _world_candidates(sh.data):
            if sh.accept(cand, what):
                progress = True
                break


# ------------------------------------------------------------------ driver
def _strip_expect(data: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for s in out["steps"]:
        s.pop("expect", None)
    return out


def _rerecord(data: dict[str, Any], rules: dict[str, Rule]) -> dict[str, Any]:
    tr = parse_trace(json.loads(json.dumps(data)), "<minimized>")
    res = execute(tr, rules=rules)
    out = copy.deepcopy(data)
    for s, sr in zip(out["steps"], res.steps):
        s["expect"] = {"errno": sr.errno_name}
    return out


def minimize(trace: Trace | dict[str, Any], rules: dict[str, Rule] | None = None,
             budget: int = DEFAULT_BUDGET) -> Minimized:
    """Shrink ``trace`` (a loaded ``Trace`` or its JSON data) while its violation
    persists on ``rules`` (default: the model's rules).  Deterministic; at most
    ``budget`` replays.  Raises ``ValueError`` if the trace records no violation
    or the violation does not reproduce to begin with."""
    data = trace.model_dump(by_alias=True, exclude_none=True) if isinstance(trace, Trace) else copy.deepcopy(trace)
    data = json.loads(json.dumps(data))
    if not data.get("violation"):
        raise ValueError("minimize needs a trace that records a violation")
    rules = rules or RULES
    start = _strip_expect(data)
    sh = _Shrinker(start, rules, budget)
    if not sh.fails(start):
        raise ValueError("the trace's violation does not reproduce on these rules: nothing to minimize")
    n0 = len(data["steps"])
    exhausted = False
    orig = list(range(n0))
    try:
        for _ in range(3):  # a later phase can enable an earlier one; a fixed point in practice after 2 rounds
            before = len(sh.removals)
            orig = _shrink_steps(sh, orig)
            _shrink_args(sh, orig)
            _shrink_world(sh)
            if len(sh.removals) == before:
                break
    except _Budget:
        exhausted = True
    final = _rerecord(sh.data, rules)
    if isinstance(final.get("description"), str) and sh.removals:
        final["description"] = (final["description"] + " " if final["description"] else "") + "[minimized]"
    return Minimized(final, sh.removals, sh.runs, exhausted, n0)


__all__ = ["minimize", "Minimized", "DEFAULT_BUDGET"]
