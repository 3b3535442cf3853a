"""Random rule calls on a concrete state: an actor and arguments for one rule.

Used by the differential test and the hypothesis stateful hunter
(``tokenproof.stateful_hunt``).  The chooser is anything with ``random()`` and
``choice(seq)``: a seeded ``random.Random``, or a hypothesis draw adapter, so
the same picking logic serves both.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from model import domain as D
from model.concrete import ConcreteState
from model.rules.registry import Rule
from tokenproof.encode import state_sids


class Chooser(Protocol):
    def random(self) -> float: ...

    def choice(self, seq: Sequence[Any]) -> Any: ...


BV_POOLS: dict[str, list[int]] = {
    "rights": [0, int(D.TOKEN_QUERY), int(D.TOKEN_DUPLICATE), int(D.TOKEN_IMPERSONATE),
               int(D.TOKEN_ADJUST_PRIVILEGES | D.TOKEN_ADJUST_GROUPS | D.TOKEN_ADJUST_DEFAULT),
               int(D.TOKEN_ALL_ACCESS), int(D.MAXIMUM_ALLOWED), int(D.GENERIC_READ), int(D.GENERIC_ALL),
               int(D.TOKEN_ASSIGN_PRIMARY | D.TOKEN_DUPLICATE | D.TOKEN_QUERY)],
    "privileges": [0, int(D.SE_CHANGE_NOTIFY), int(D.SE_IMPERSONATE), int(D.SE_TCB), int(D.SE_ASSIGN_PRIMARY),
                   int(D.SE_CREATE_TOKEN), int(D.SE_TCB | D.SE_IMPERSONATE), int(D.ALL_PRIVILEGES)],
    "level": [0, 1, 2, 3],
    "integrity": [int(D.IL_UNTRUSTED), int(D.IL_LOW), int(D.IL_MEDIUM), int(D.IL_HIGH), int(D.IL_SYSTEM)],
    "slots": [0, 1, 2, 3, 0b101, 0xFF],
}
GENERIC_BV = [0, 1, 2, 3, 5, 0xFF, 0x1000, 8192, 12288]


def pick_arg(rng: Chooser, a, state: ConcreteState, actor: Any) -> Any:
    """A value for argument ``a``: ``None`` for a fresh object (``model.sim.allocate_fresh`` picks it),
    a value from the argument's pool for bit-vectors, a SID of the state or a well-known one, an open fd
    of the actor's process (mostly), a live object of the sort (mostly)."""
    t = a.type
    if a.fresh:
        return None  # allocate_fresh chooses
    if t.kind == "bool":
        return rng.random() < 0.5
    if t.kind == "bv":
        pool = BV_POOLS.get(a.fmt, GENERIC_BV)
        v = rng.choice(pool)
        return v & ((1 << t.width) - 1)
    if t.kind == "sid":
        sids = state_sids(state) + list(D.WELL_KNOWN_SIDS)
        return rng.choice(sorted(set(sids)))
    sort = t.sort
    if sort == "Handle":
        p = state.value("thread_proc", actor) if actor is not None else None
        open_fds = [h for h in state.universe["Handle"] if p is not None and state.value("fd_open", (p, h))]
        return rng.choice(open_fds) if open_fds and rng.random() < 0.85 else rng.choice([3, 4, 5])
    ids = list(state.universe[sort])
    live = state.alive(sort)
    if live and rng.random() < 0.85:
        return rng.choice(live)
    return rng.choice(ids) if ids else 1


def pick_call(rng: Chooser, state: ConcreteState, rule: Rule) -> tuple[Any, dict[str, Any]]:
    """An actor (a live thread, mostly; ``None`` for a kernel rule) and every argument of ``rule``."""
    actor = None
    if not rule.kernel:
        live = state.alive("Thread")
        actor = rng.choice(live) if live and rng.random() < 0.95 else rng.choice(list(state.universe["Thread"]))
    return actor, {a.name: pick_arg(rng, a, state, actor) for a in rule.args}


__all__ = ["BV_POOLS", "GENERIC_BV", "Chooser", "pick_arg", "pick_call"]
