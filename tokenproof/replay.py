"""Replaying counterexamples on the concrete executor.

Every counterexample BMC reports is run step by step by ``model.sim.apply_rule``
(explicit arguments, no automatic garbage collection).  Each step must be
enabled and return the errno the model predicted, the concrete state after
each step must equal the model's state at that depth at every key of the
finite universe, and the property must be violated at the end.  Any
disagreement is a tokenproof bug (the encoding and the executor diverge) and
raises ``ReplayMismatch`` with the depth, rule, field, key and both values.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from model.concrete import ConcreteState, normalize
from model.sim import ModelPreconditionError, apply_rule
from model.state import SCHEMA, SORTS, FieldSpec
from properties.base import StepInfo
from tokenproof.cex import Counterexample, errno_name


class ReplayMismatch(AssertionError):
    """The concrete executor disagrees with the solver's model: a tokenproof bug."""


@dataclass
class ReplayResult:
    states: list[ConcreteState]  # concrete states at depths 0..n
    errnos: list[int] = field(default_factory=list)


def _canonical(spec: FieldSpec, v: Any, universe: dict[str, tuple], none_id: dict[str, int]) -> Any:
    """A concrete value as the finite embedding sees it: an object reference outside the
    universe (the "no object" -1, or 0) is the sort's first element (``encode._lift_value``)."""
    v = normalize(spec.type, v)
    if spec.type.kind == "obj" and v not in universe[spec.type.sort]:
        return none_id[spec.type.sort]
    return v


def compare_states(conc: ConcreteState, model_state: ConcreteState, cex: Counterexample, depth: int,
                   what: str) -> None:
    """Raise ``ReplayMismatch`` at the first field/key where the two states differ."""
    universe = model_state.universe
    none_id = {s: next(iter(cex.emb.to_elem[s])) for s in SORTS}
    for spec in SCHEMA:
        cv, mv = conc.view(spec.name), model_state.view(spec.name)
        for key in itertools.product(*(universe[k] for k in spec.keys)):
            a = _canonical(spec, cv(*key), universe, none_id)
            b = _canonical(spec, mv(*key), universe, none_id)
            if a != b:
                k = ", ".join(f"{s.lower()} {cex.name(s, x)}" for s, x in zip(spec.keys, key)) or "global"
                raise ReplayMismatch(
                    f"replay of {cex.prop.id} disagrees with the model at depth {depth} ({what}): "
                    f"field {spec.name} at {k}: executor has {a!r}, the model has {b!r}")


def replay(cex: Counterexample, rules: dict | None = None, check_violation: bool = True) -> ReplayResult:
    """Run ``cex`` on the concrete executor; mark it replayed or raise ``ReplayMismatch``."""
    rules = rules if rules is not None else cex.rules
    state = cex.init
    compare_states(state, cex.states[0], cex, 0, "initial state")
    result = ReplayResult([state])
    last = None
    for j, step in enumerate(cex.steps):
        where = f"step {j + 1} ({cex.actor_name(step)}: {step.rule})"
        if step.rule not in rules:
            raise ReplayMismatch(f"replay of {cex.prop.id}: {where}: no rule {step.rule} in the rule set")
        rule = rules[step.rule]
        if not step.enabled:
            raise ReplayMismatch(f"replay of {cex.prop.id}: {where}: the model took a step that is not enabled")
        try:
            out = apply_rule(state, rule, step.actor, dict(step.args))
        except ModelPreconditionError as e:
            raise ReplayMismatch(f"replay of {cex.prop.id}: {where} with args {step.args}: the model took it, "
                                 f"but on the executor it is not enabled ({e})") from None
        errno = int(out.errno)
        if errno != int(step.errno):
            raise ReplayMismatch(f"replay of {cex.prop.id}: {where} with args {step.args}: executor returns "
                                 f"{errno_name(errno)}, the model {errno_name(step.errno)}")
        out.ret.pop("_args", None)
        compare_states(out.post, cex.states[j + 1], cex, j + 1, where)
        last = (state, out.post, StepInfo(step.rule, step.actor, dict(step.args), errno))
        state = out.post
        result.states.append(state)
        result.errnos.append(errno)
    if check_violation:
        prop = cex.prop
        if prop.kind == "state":
            holds = prop.check(state)
        elif prop.kind == "access":
            holds = prop.check(state, cex.query)
        else:
            if last is None:
                raise ReplayMismatch(f"replay of {prop.id}: a transition counterexample needs a step")
            if prop.rules is not None and last[2].rule not in prop.rules:
                raise ReplayMismatch(f"replay of {prop.id}: the violating step {last[2].rule} is not one the "
                                     "property is about")
            holds = prop.check(*last)
        if bool(holds):
            raise ReplayMismatch(f"replay of {prop.id}: after {len(cex.steps)} step(s) the executor's state "
                                 "satisfies the property the model says is violated")
    cex.replayed = True
    return result


__all__ = ["replay", "ReplayMismatch", "ReplayResult", "compare_states"]
