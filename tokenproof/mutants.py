"""Deliberately broken rules: the checks of the checker.

A mutant is a rule set in which one rule misbehaves in one precise way.
Mutants are built from the real rule text, never hand-copied:

* ``drop_guard``: the rule's k-th ``require`` is ignored.
* ``skip_effect``: the rule's k-th effect (``set``/``set_where``/...) is not applied.
* ``ignore_guards``: effects apply even when a guard fails.
* ``swap``: a helper the rule calls is replaced by another (for example
  ``real_token`` by ``effective_token``: judging on the effective instead of
  the primary token), by rebinding the function's globals.

``SEEDED`` names the mutants every property is checked against; ``generate``
enumerates them systematically for a kill matrix.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, replace
from typing import Any, Callable

from model.rules.registry import RULES, Rule
from model.state import THREAD
from model.step import Outcome, Step


class MutantStep(Step):
    """A Step that forgets one guard or one effect."""

    def __init__(self, pre: Any, actor: Any, args: dict[str, Any], drop_guard: int = -1,
                 skip_effect: int = -1, ignore_guards: bool = False):
        super().__init__(pre, actor, args)
        self._drop_guard, self._skip_effect, self._ignore = drop_guard, skip_effect, ignore_guards
        self.n_guards = 0
        self.n_effects = 0

    def require(self, cond: Any, errno: Any) -> None:
        k = self.n_guards
        self.n_guards += 1
        if k == self._drop_guard or self._ignore:
            return
        super().require(cond, errno)

    def _effect(self) -> bool:
        k = self.n_effects
        self.n_effects += 1
        return k != self._skip_effect

    def set(self, view, key, value, when=True):  # type: ignore[override]
        if self._effect():
            super().set(view, key, value, when)

    def set_where(self, view, fn):  # type: ignore[override]
        if self._effect():
            super().set_where(view, fn)

    def set_row(self, view, first, fn):  # type: ignore[override]
        if self._effect():
            super().set_row(view, first, fn)

    def set_many(self, key, values, when=True):  # type: ignore[override]
        if self._effect():
            for name, value in values.items():
                Step.set(self, name, key, value, when)


@dataclass
class Mutant:
    name: str
    rule: str
    description: str
    drop_guard: int = -1
    skip_effect: int = -1
    ignore_guards: bool = False
    swap: tuple[str, Callable[..., Any]] | None = None

    def mutate(self, rule: Rule) -> Rule:
        fn = rule.fn
        if self.swap is not None:
            name, repl = self.swap
            if name not in fn.__globals__:
                raise ValueError(f"mutant {self.name}: {rule.name} does not use {name}")
            fn = types.FunctionType(fn.__code__, {**fn.__globals__, name: repl}, fn.__name__,
                                    fn.__defaults__, fn.__closure__)
        mutant = self

        def apply(pre: Any, actor: Any, args: dict[str, Any]) -> Outcome:
            st = MutantStep(pre, actor, args, mutant.drop_guard, mutant.skip_effect, mutant.ignore_guards)
            return fn(st, **args)

        new = replace(rule, fn=fn, extra={**rule.extra, "mutant": self.name})
        object.__setattr__(new, "apply", apply)
        return new

    def rules(self, base: dict[str, Rule] | None = None) -> dict[str, Rule]:
        base = dict(base or RULES)
        if self.rule not in base:
            raise KeyError(f"mutant {self.name}: no rule {self.rule}")
        base[self.rule] = self.mutate(base[self.rule])
        return base


def count_sites(rule: Rule) -> tuple[int, int]:
    """How many guards and effects the rule has (by running it symbolically once)."""
    from model.symbolic import Universe

    uni = Universe("unbounded")
    pre = uni.fresh_state("pre")
    actor = None if rule.kernel else uni.const("actor", THREAD)
    args = {a.name: uni.const(a.name, a.type) for a in rule.args}
    st = MutantStep(pre, actor, args)
    rule.fn(st, **args)
    return st.n_guards, st.n_effects


def generate(rules: dict[str, Rule] | None = None) -> list[Mutant]:
    """Every drop-guard and skip-effect mutant of every rule, plus ignore-guards."""
    out: list[Mutant] = []
    for name, rule in sorted((rules or RULES).items()):
        guards, effects = count_sites(rule)
        for k in range(guards):
            out.append(Mutant(f"{name}/drop-guard-{k}", name, f"{name} without its guard #{k}", drop_guard=k))
        for k in range(effects):
            out.append(Mutant(f"{name}/skip-effect-{k}", name, f"{name} without its effect #{k}", skip_effect=k))
        if guards:
            out.append(Mutant(f"{name}/ignore-guards", name, f"{name} applies its effects even when a guard fails",
                              ignore_guards=True))
    return out


def _effective_instead_of_real() -> Callable[..., Any]:
    from model.rules.common import effective_token

    return effective_token


SEEDED: dict[str, Mutant] = {}


def seed(m: Mutant) -> Mutant:
    SEEDED[m.name] = m
    return m


def load_seeded() -> dict[str, Mutant]:
    """The named mutants the catalog is checked against (see properties/*.py ``mutants=``)."""
    import tokenproof.seeded_mutants  # noqa: F401  (registers with ``seed``)
    import tokenproof.seeded_contracts_adjustment  # noqa: F401
    import tokenproof.seeded_contracts_authority  # noqa: F401
    import tokenproof.seeded_contracts_lifecycle  # noqa: F401

    return SEEDED
