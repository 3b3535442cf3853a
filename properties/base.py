"""Properties as data: what must be true of the token model.

A property is declared once with ``@prop`` and its check expression is
written in the value layer, so the same function evaluates on concrete
states (replay, tests, explorer) and builds z3 formulas (prover, BMC).

Kinds:

* ``state``: ``check(s) -> bool`` holds in every reachable state (invariant).
* ``transition``: ``check(pre, post, step) -> bool`` holds for every step
  (``step`` is a ``StepInfo``: rule name, actor and arguments).
* ``access``: ``check(s, q) -> bool`` relates AccessCheck results; ``q`` is an
  ``AccessQuery`` (a token, an SD, a desired mask) the prover makes symbolic.

``expect`` maps a profile name to the expected verdict: ``proved``,
``refuted`` or ``unknown`` (true but not provable by the engine, e.g. not
inductive: the report says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

VERDICTS = ("proved", "refuted", "unknown")
KINDS = ("state", "transition", "access")


@dataclass(frozen=True)
class StepInfo:
    """Who did what in one step (for transition properties)."""

    rule: str
    actor: Any
    args: dict[str, Any]
    errno: Any = 0


@dataclass
class Property:
    id: str
    statement: str
    kind: str
    sections: tuple[str, ...]
    check: Callable[..., Any]
    expect: dict[str, str] = field(default_factory=lambda: {"kacs": "proved"})
    clauses: tuple[str, ...] = ()
    support: tuple[str, ...] = ()
    rules: tuple[str, ...] | None = None  # transition properties: only these rules (None = all)
    note: str = ""
    doc: str = ""
    mutants: tuple[str, ...] = ()  # seeded mutants (tokenproof/seeded_mutants.py) that must refute it

    def expected(self, profile: str) -> str:
        return self.expect.get(profile, self.expect.get("kacs", "proved"))

    @property
    def source(self) -> tuple[str, int]:
        code = self.check.__code__
        return code.co_filename, code.co_firstlineno


CATALOG: dict[str, Property] = {}


def prop(id: str, statement: str, *, kind: str, sections: tuple[str, ...], clauses: tuple[str, ...] = (),
         expect: dict[str, str] | None = None, support: tuple[str, ...] = (),
         rules: tuple[str, ...] | None = None, note: str = "", mutants: tuple[str, ...] = ()) -> Callable:
    """Declare the decorated check function as a property of the catalog."""
    if kind not in KINDS:
        raise ValueError(f"{id}: kind must be one of {KINDS}")
    exp = expect or {"kacs": "proved"}
    for v in exp.values():
        if v not in VERDICTS:
            raise ValueError(f"{id}: expected verdict {v!r} is not one of {VERDICTS}")

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if id in CATALOG:
            raise ValueError(f"property {id} declared twice")
        CATALOG[id] = Property(id, statement, kind, tuple(sections), fn, exp, tuple(clauses), tuple(support),
                               rules, note, (fn.__doc__ or "").strip(), tuple(mutants))
        return fn

    return deco


@dataclass
class AccessQuery:
    """One AccessCheck question for ``access`` properties: a token, an SD, a
    desired mask, the object type's GenericMapping and the privilege intent."""

    token: Any
    sd: Any
    desired: Any
    mapping: Any
    intent: Any = 0


def access_query(s: Any, uni: Any = None) -> AccessQuery:
    """A fully symbolic AccessQuery in the universe of ``s`` (or concrete defaults)."""
    from model import domain as D
    from model.access import ACE, SD
    from model.state import BOOL, IL, MASK, SID, TOKEN, BVT

    uni = uni or s.uni
    c = uni.const
    aces = [ACE(c(f"ace{i}_present", BOOL), c(f"ace{i}_allow", BOOL), c(f"ace{i}_inherit_only", BOOL),
                c(f"ace{i}_sid", SID), c(f"ace{i}_mask", MASK)) for i in range(D.ACE_SLOTS)]
    sd = SD(c("sd_owner", SID), c("sd_dacl_present", BOOL), aces, c("sd_has_label", BOOL),
            c("sd_label_level", IL), c("sd_label_policy", BVT(3)))
    return AccessQuery(c("q_token", TOKEN), sd, c("q_desired", MASK), D.TOKEN_MAPPING, c("q_intent", BVT(2)))
