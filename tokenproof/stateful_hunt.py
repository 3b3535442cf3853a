"""Hunting a property violation with hypothesis stateful testing on the executor.

The peer a Python user would pick instead of BMC: a ``hypothesis.stateful``
``RuleBasedStateMachine`` whose state is a concrete KACS state (from a scenario,
``standard`` by default) and which has one hypothesis rule per model rule.  Each
hypothesis rule draws an actor and arguments (``tokenproof.random_calls.pick_call``,
its choices made by hypothesis draws) and runs the model rule on the executor
(``model.sim.apply_rule``; a call whose model preconditions fail is a no-op, as
BMC only takes enabled steps; kernel rules are ordinary rules, no automatic GC,
as in BMC).  A state property is a hypothesis ``invariant``; a transition
property is checked on every step of the rules it is scoped to.  Access
properties need an AccessQuery and are not hunted.

``hunt`` reports whether a violation was found, the CPU time to the first one
(hypothesis's generation phase only: no shrinking), and the examples tried.
Settings are fixed for determinism (``derandomize``, no example database).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from model.rules.registry import Rule
from model.scenarios import SCENARIOS
from model.sim import ModelPreconditionError, apply_rule
from properties.base import Property, StepInfo
from tokenproof.random_calls import pick_call

DEFAULT_EXAMPLES = 100  # hypothesis's own default max_examples
DEFAULT_STEPS = 50  # hypothesis's own default stateful_step_count


class Violation(Exception):
    """The hunted property failed (raised inside the state machine); ``steps``: the rules run so far."""

    def __init__(self, steps: list[str]):
        super().__init__(" -> ".join(steps) or "the start state")
        self.steps = list(steps)


@dataclass
class HuntResult:
    found: bool
    cpu_seconds: float
    examples: int
    failing_steps: list[str]  # the rule names of the failing run, in order (empty when not found)


class DrawChooser:
    """The two calls ``pick_call`` makes on a ``random.Random``, answered by hypothesis draws."""

    def __init__(self, data: Any):
        self.data = data

    def random(self) -> float:
        return self.data.draw(st.floats(0, 1, exclude_max=True))

    def choice(self, seq: Sequence[Any]) -> Any:
        return self.data.draw(st.sampled_from(list(seq)))


def violated(prop: Property, pre: Any, post: Any, info: StepInfo | None) -> bool:
    """Whether ``prop`` fails on ``post`` (a state property) or on the step ``pre -> post``."""
    if prop.kind == "state":
        return not bool(prop.check(post))
    if prop.kind == "transition" and info is not None:
        if prop.rules is not None and info.rule not in prop.rules:
            return False
        return not bool(prop.check(pre, post, info))
    return False


def machine(prop: Property, rules: dict[str, Rule], scenario: str = "standard",
            counter: list[int] | None = None) -> type[RuleBasedStateMachine]:
    """A ``RuleBasedStateMachine`` class hunting ``prop`` with one hypothesis rule per model rule."""
    if prop.kind == "access":
        raise ValueError(f"{prop.id}: an access property needs an AccessQuery; it cannot be hunted")
    counter = counter if counter is not None else [0]

    def __init__(self: Any) -> None:
        RuleBasedStateMachine.__init__(self)
        counter[0] += 1
        self.state = SCENARIOS[scenario]().state
        self.steps: list[str] = []

    def step_for(r: Rule):
        def step(self: Any, data: Any) -> None:
            actor, args = pick_call(DrawChooser(data), self.state, r)
            try:
                out = apply_rule(self.state, r, actor, args)
            except ModelPreconditionError:
                return
            full = out.ret.pop("_args")
            self.steps.append(r.name)
            info = StepInfo(r.name, actor, full, int(out.errno))
            pre, self.state = self.state, out.post
            if prop.kind == "transition" and violated(prop, pre, out.post, info):
                raise Violation(self.steps)

        step.__name__ = f"step_{r.name}"
        return rule(data=st.data())(step)

    def holds(self: Any) -> None:
        if prop.kind == "state" and violated(prop, None, self.state, None):
            raise Violation(self.steps)

    attrs: dict[str, Any] = {"__init__": __init__, "property_holds": invariant()(holds)}
    for name in sorted(rules):
        attrs[f"step_{name}"] = step_for(rules[name])
    return type(f"Hunt_{prop.id.replace('-', '_')}", (RuleBasedStateMachine,), attrs)


def hunt(prop: Property, rules: dict[str, Rule], *, examples: int = DEFAULT_EXAMPLES,
         steps: int = DEFAULT_STEPS, scenario: str = "standard") -> HuntResult:
    """Run the stateful hunt for ``prop`` on ``rules``: at most ``examples`` runs of at most ``steps``
    rule calls each, derandomized."""
    counter = [0]
    cls = machine(prop, rules, scenario, counter)
    conf = settings(max_examples=examples, stateful_step_count=steps, derandomize=True, database=None,
                    deadline=None, phases=[Phase.generate], report_multiple_bugs=False,
                    suppress_health_check=list(HealthCheck), print_blob=False)
    t0 = time.process_time()
    try:
        run_state_machine_as_test(cls, settings=conf)
    except Violation as v:
        return HuntResult(True, time.process_time() - t0, counter[0], v.steps)
    return HuntResult(False, time.process_time() - t0, counter[0], [])


__all__ = ["hunt", "machine", "HuntResult", "DrawChooser", "Violation", "violated", "DEFAULT_EXAMPLES",
           "DEFAULT_STEPS"]
