"""The concrete executor: apply rules to concrete states, one step at a time.

``Simulator`` keeps a ``World`` (state plus names), allocates the fresh
objects a rule needs (new tokens, threads, processes, fds, sessions,
sockets), and after each step lets the kernel reclaim unreferenced tokens and
empty sessions (``kernel_free_token``/``kernel_destroy_session``), reporting
those as steps of their own.  The reclamation and its scheduling (which
tokens and sessions a step can have made reclaimable) are in
``model.reclaim``; the names other code imports from here
(``collect_garbage``, ``collect_garbage_full``, ``reclaim_candidates``,
``RefIndex``, ``RECLAIM_READS``, ``StepRecord``) are re-exported.
"""

from __future__ import annotations

from typing import Any

from model.concrete import ConcreteState, Ids, contains, next_free
# the reclamation (model/reclaim.py), and the names of it other code imports from here
from model.reclaim import (_RECLAIM, RECLAIM_READS, RefIndex, StepRecord,
                           collect_garbage, collect_garbage_full, reclaim_candidates)
from model.rules.registry import RULES, Rule
from model.step import Outcome
from model.world import World


class ModelPreconditionError(ValueError):
    """The step is not possible at all (dead actor, fresh object in use...)."""


def _arg_plan(rule: Rule) -> tuple[tuple, tuple]:
    """The rule's fresh arguments and its other object arguments (name, sort), read once per rule."""
    hit = _PLANS.get(id(rule))
    if hit is not None and hit[0] is rule and hit[1] is rule.args:
        return hit[2], hit[3]
    fresh = tuple(a for a in rule.args if a.fresh)
    objs = tuple((a.name, a.type.sort) for a in rule.args if a.type.kind == "obj" and not a.fresh)
    _PLANS[id(rule)] = (rule, rule.args, fresh, objs)  # holds the rule: its id is not reused
    return fresh, objs


_PLANS: dict[int, tuple] = {}


def allocate_fresh(state: ConcreteState, rule: Rule, actor: Any, args: dict[str, Any]) -> tuple[ConcreteState, dict[str, Any]]:
    """Fill in the rule's fresh-object arguments the caller left out, and make
    sure every fresh object is part of the state's universe."""
    args = dict(args)
    for a in _arg_plan(rule)[0]:
        if a.type.kind == "sid":  # a kernel-derived SID: the logon SID of the next LUID (§4.4)
            if args.get(a.name) is None:
                from model.world import logon_sid

                args[a.name] = logon_sid(state.value("next_luid"))
            continue
        sort = a.type.sort
        if args.get(a.name) is None:
            if sort == "Handle":
                p = state.value("thread_proc", actor)
                fd_open = state.view("fd_open")
                used = [h for h in state.universe["Handle"] if fd_open[p, h]]
                args[a.name] = next_free(used, start=3)
            else:
                args[a.name] = next_free(state.universe[sort], start=1)
        v, ids = args[a.name], state.universe[sort]
        if type(v) is int and type(ids) is Ids and contains(ids, v):
            continue  # already there (a free slot): copy_with_universe returns the state
        state = state.copy_with_universe(sort, [v])
    return state, args


def apply_rule(state: ConcreteState, rule: Rule, actor: Any, args: dict[str, Any]) -> Outcome:
    """One step; raises ``ModelPreconditionError`` if the step is not enabled."""
    out = try_apply_rule(state, rule, actor, args)
    if out is None:
        raise ModelPreconditionError(f"{rule.name} is not possible here (its model preconditions do not hold)")
    return out


def try_apply_rule(state: ConcreteState, rule: Rule, actor: Any, args: dict[str, Any]) -> Outcome | None:
    """``apply_rule``, with None instead of the exception when the step is not enabled
    (for callers that expect many steps not to be, such as random walks)."""
    fresh, objs = _arg_plan(rule)
    if fresh:
        state, args = allocate_fresh(state, rule, actor, args)
    else:
        args = dict(args)
    for name, sort in objs:
        uni = state.universe
        if sort in uni:
            v, ids = args[name], uni[sort]
            if type(v) is int and type(ids) is Ids and contains(ids, v):
                continue  # already there: copy_with_universe returns the state
            state = state.copy_with_universe(sort, [v])
    out = rule.apply(state, actor, args)
    if not out.enabled:
        return None
    out.ret.setdefault("_args", args)
    return out


class Simulator:
    """Run rules by name on a world, the way a trace file does."""

    def __init__(self, world: World, rules: dict[str, Rule] | None = None, auto_gc: bool = True):
        self.world = world
        self.rules = rules or RULES
        self.auto_gc = auto_gc
        self.history: list[StepRecord] = []
        # the last collection's result (nothing reclaimable there), its data generation and
        # the reclamation rules: the next collection only looks at what the step from it changed
        self._fixpoint: tuple[ConcreteState, int, tuple] | None = None

    @property
    def state(self) -> ConcreteState:
        return self.world.state

    def call(self, rule: str, actor: Any = None, **args: Any) -> StepRecord:
        """Apply ``rule`` as thread ``actor`` (a name or id; ``None`` for kernel rules)."""
        r = self.rules[rule]
        if isinstance(actor, str):
            actor = self.world.lookup("Thread", actor, f"{rule}.actor")
        before = self.state
        out = apply_rule(before, r, actor, args)
        rec = StepRecord(actor, rule, out.ret.pop("_args"), out)
        self.world.state = out.post
        if self.auto_gc:
            kernel = tuple(self.rules.get(name) for name, _, _ in _RECLAIM)
            fx = self._fixpoint
            since = None
            if (fx is not None and fx[0] is before and fx[1] == before.__dict__["_gen"]
                    and all(a is b for a, b in zip(fx[2], kernel))):
                since = before
            self.world.state, rec.kernel_followups = collect_garbage(self.world.state, self.rules, since=since)
            self._fixpoint = (self.world.state, self.world.state.__dict__["_gen"], kernel)
        self.history.append(rec)
        return rec


__all__ = ["Simulator", "ModelPreconditionError", "StepRecord", "allocate_fresh", "apply_rule", "try_apply_rule",
           # re-exported from model.reclaim
           "collect_garbage", "collect_garbage_full", "reclaim_candidates", "RefIndex", "RECLAIM_READS",
           "_RECLAIM"]
