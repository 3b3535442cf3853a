"""The concrete executor: apply rules to concrete states, one step at a time.

``Simulator`` keeps a ``World`` (state plus names), allocates the fresh
objects a rule needs (new tokens, threads, processes, fds, sessions,
sockets), and after each step lets the kernel reclaim unreferenced tokens and
empty sessions (``kernel_free_token``/``kernel_destroy_session``), reporting
those as steps of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.concrete import ConcreteState, next_free
from model.rules.registry import RULES, Rule
from model.step import Outcome
from model.world import World


class ModelPreconditionError(ValueError):
    """The step is not possible at all (dead actor, fresh object in use...)."""


@dataclass
class StepRecord:
    actor: Any  # thread id, or None for the kernel
    rule: str
    args: dict[str, Any]
    outcome: Outcome
    kernel_followups: list["StepRecord"] = field(default_factory=list)

    @property
    def errno(self) -> int:
        return int(self.outcome.errno)


def allocate_fresh(state: ConcreteState, rule: Rule, actor: Any, args: dict[str, Any]) -> tuple[ConcreteState, dict[str, Any]]:
    """Fill in the rule's fresh-object arguments the caller left out, and make
    sure every fresh object is part of the state's universe."""
    args = dict(args)
    for a in rule.args:
        if not a.fresh:
            continue
        if a.type.kind == "sid":  # a kernel-derived SID: the logon SID of the next LUID (§4.4)
            if args.get(a.name) is None:
                from model.world import logon_sid

                args[a.name] = logon_sid(state.value("next_luid"))
            continue
        sort = a.type.sort
        if args.get(a.name) is None:
            if sort == "Handle":
                p = state.value("thread_proc", actor)
                used = [h for h in state.universe["Handle"] if state.value("fd_open", (p, h))]
                args[a.name] = next_free(used, start=3)
            else:
                args[a.name] = next_free(state.universe[sort], start=1)
        state = state.copy_with_universe(sort, [args[a.name]])
    return state, args


def apply_rule(state: ConcreteState, rule: Rule, actor: Any, args: dict[str, Any]) -> Outcome:
    """One step; raises ``ModelPreconditionError`` if the step is not enabled."""
    state, args = allocate_fresh(state, rule, actor, args)
    for a in rule.args:
        if a.type.kind == "obj" and not a.fresh and a.type.sort in state.universe:
            state = state.copy_with_universe(a.type.sort, [args[a.name]])
    out = rule.apply(state, actor, args)
    if not out.enabled:
        raise ModelPreconditionError(f"{rule.name} is not possible here (its model preconditions do not hold)")
    out.ret.setdefault("_args", args)
    return out


def collect_garbage(state: ConcreteState, rules: dict[str, Rule] | None = None) -> tuple[ConcreteState, list[StepRecord]]:
    """Run the kernel's reclamation rules until nothing more can be reclaimed."""
    rules = rules or RULES
    records: list[StepRecord] = []
    changed = True
    while changed:
        changed = False
        for name, key, sort in (("kernel_free_token", "token", "Token"), ("kernel_destroy_session", "session", "Session")):
            rule = rules.get(name)
            if rule is None:
                continue
            for oid in state.alive(sort):
                out = rule.apply(state, None, {key: oid})
                if out.enabled and int(out.errno) == 0:
                    records.append(StepRecord(None, name, {key: oid}, out))
                    state = out.post
                    changed = True
    return state, records


class Simulator:
    """Run rules by name on a world, the way a trace file does."""

    def __init__(self, world: World, rules: dict[str, Rule] | None = None, auto_gc: bool = True):
        self.world = world
        self.rules = rules or RULES
        self.auto_gc = auto_gc
        self.history: list[StepRecord] = []

    @property
    def state(self) -> ConcreteState:
        return self.world.state

    def call(self, rule: str, actor: Any = None, **args: Any) -> StepRecord:
        """Apply ``rule`` as thread ``actor`` (a name or id; ``None`` for kernel rules)."""
        r = self.rules[rule]
        if isinstance(actor, str):
            actor = self.world.lookup("Thread", actor, f"{rule}.actor")
        out = apply_rule(self.state, r, actor, args)
        rec = StepRecord(actor, rule, out.ret.pop("_args"), out)
        self.world.state = out.post
        if self.auto_gc:
            self.world.state, rec.kernel_followups = collect_garbage(self.world.state, self.rules)
        self.history.append(rec)
        return rec
