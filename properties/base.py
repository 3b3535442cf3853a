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
