"""The concrete executor: apply rules to concrete states, one step at a time.

``Simulator`` keeps a ``World`` (state plus names), allocates the fresh
objects a rule needs (new tokens, threads, processes, fds, sessions,
sockets), and after each step lets the kernel reclaim unreferenced tokens and
empty sessions (``kernel_free_token``/``kernel_destroy_session``), reporting
those as steps of their own.

Reclamation scheduling
----------------------
``collect_garbage(state)`` offers every live token and session to the two
reclamation rules, round after round, until a round reclaims nothing (the
reference behaviour, ``collect_garbage_full``).  Given ``since``, a state in
which nothing was reclaimable and from which ``state`` was made by one step,
it offers the rules only the *candidates* that step can have made
reclaimable, in the same order and rounds; the rules still decide every
offer.  Candidates of a transition A -> B (B's delta: the written
``(field, key)`` pairs, with A's values; a write that left the value as it
was, as every read sees it, changes nothing and is skipped):

1. the key itself, for a written field keyed by Token or Session;
2. the A-value of a written Token- or Session-typed field (the object a
   reference pointed to before), scalars included (``anon_token``,
   ``system_session``, ``anon_session``);
3. the B-values of every Token- or Session-typed field at a written key
   (e.g. ``thread_real[x]`` when ``thread_alive[x]`` changed,
   ``sess_elevated[s]`` when ``sess_linked[s]`` changed);
4. tokens and sessions added to the universe;
5. the session (``token_session``) of every token candidate;

and, after each reclamation within the collection, the candidates of that
reclamation's own transition.

Why this is complete (every object whose rule is enabled is offered): the
rule for token ``t`` is enabled iff ``token_alive[t]``, ``t != anon_token``,
no live thread/process/open fd/socket snapshot refers to ``t``
(``referenced_outside_pairs``: "some x with C(x) and R(x) = t", C and R
fields at x) and no linked pair of ``token_session[t]`` holds it.  If it was
not enabled in A (a fixpoint) but is in B, one conjunct flipped: a field at
``t`` changed (1), ``anon_token`` changed from ``t`` (2), a witness x of a
reference stopped being one, so C or R changed at x and ``t`` is R's A-value
(2) or, R unchanged, its B-value (3), or the pair of ``t``'s session changed
(1 for ``token_session[t]``, 2/3 for the session's fields).  Universe growth
only adds witnesses.  The rule for session ``s`` is enabled iff it is live,
has had a token, is not the SYSTEM or ANONYMOUS session, and every live
token of ``s`` is unreferenced: flipping needs a change at ``s`` (1), of
``system_session``/``anon_session`` from ``s`` (2), or a token ``t`` that
was live, in ``s`` and referenced in A and is not in B, so ``t``'s
``token_alive``/``token_session`` changed (``s`` is the A- or B-value of
``token_session[t]``: 2/3) or ``t`` became unreferenced (a token candidate,
5).  The argument is about the two reclamation rules of ``model.rules``;
for any other rule set (a mutant, a profile that replaces them), or when the
delta from ``since`` is not known, ``collect_garbage`` makes the full pass.
tests/model/test_performance_semantics.py checks scheduled against full
collection after every step of random walks.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from model.concrete import OBJ_FIELDS_BY_KEYS, ConcreteState, Ids, contains, next_free, universe_added
from model.rules.registry import RULES, Rule
from model.state import ALIVE_FIELD, FIELDS
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
        state = state.copy_with_universe(sort, [args[a.name]])
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
            if type(v) is int and type(ids) is Ids:  # already there: copy_with_universe returns the state
                i = bisect_left(ids, v)
                if i < len(ids) and ids[i] == v:
                    continue
            state = state.copy_with_universe(sort, [v])
    out = rule.apply(state, actor, args)
    if not out.enabled:
        return None
    out.ret.setdefault("_args", args)
    return out


# ------------------------------------------------------------------ reclamation
_RECLAIM = (("kernel_free_token", "token", "Token"), ("kernel_destroy_session", "session", "Session"))


def collect_garbage_full(state: ConcreteState, rules: dict[str, Rule] | None = None) -> tuple[ConcreteState, list[StepRecord]]:
    """Run the kernel's reclamation rules until nothing more can be reclaimed,
    offering them every live token and session each round (the reference)."""
    rules = rules or RULES
    records: list[StepRecord] = []
    changed = True
    while changed:
        changed = False
        for name, key, sort in _RECLAIM:
            rule = rules.get(name)
            if rule is None:
                continue
            for oid in state.alive(sort):
                out = rule.apply(state, None, {key: oid})
                if out.enabled and int(out.errno) == 0:
                    records.append(StepRecord(None, name, {key: oid}, out))
                    prev, state = state, out.post
                    changed = changed or _progressed(prev, state)
    return state, records


def _progressed(prev: ConcreteState, post: ConcreteState) -> bool:
    """Whether a reclamation step from ``prev`` changed the state.  The real rules always do (each
    frees a token or destroys a session, §4.2, §4.6), so for them this never ends a collection
    early; a broken reclamation rule that succeeds without freeing anything is recorded once per
    round instead of being offered the same object forever.  Unknown lineage counts as progress."""
    if post is prev or post.__dict__["_gen"] == prev.__dict__["_gen"]:
        return False  # nothing written
    delta = post.__dict__.get("_delta")
    if post.universe is not prev.universe or delta is None or delta[0] != prev.__dict__["_gen"]:
        return True
    data, old = post.__dict__, delta[2]
    for name, key in delta[1]:
        before, now = (old[name], data[name]) if key is None else (old[name][key], data[name][key])
        if before != now:
            return True
    return False


def collect_garbage(state: ConcreteState, rules: dict[str, Rule] | None = None,
                    since: ConcreteState | None = None) -> tuple[ConcreteState, list[StepRecord]]:
    """Run the kernel's reclamation rules until nothing more can be reclaimed.

    ``since``: a state in which nothing is reclaimable (the result of an
    earlier collection, under the same ``rules``) that ``state`` was made from
    by one step.  Then only the objects that step can have made reclaimable
    are offered (module docstring); the result, records included, is that of
    the full collection.  Without it, or when it cannot be used, every live
    token and session is offered."""
    rules = rules or RULES
    if since is not None:
        cands = reclaim_candidates(since, state, rules)
        if cands is not None:
            if not cands["Token"] and not cands["Session"]:
                return state, []  # nothing to offer: no round reclaims anything
            return _collect_scheduled(state, rules, cands)
    return collect_garbage_full(state, rules)


def _scheduling_applies(rules: dict[str, Rule]) -> bool:
    return rules is RULES or all(rules.get(name) is RULES.get(name) for name, _, _ in _RECLAIM)


def _universe_added(old: dict[str, tuple], new: dict[str, tuple]) -> dict[str, list] | None:
    """Per sort, the ids of ``new`` not in ``old``; None if some id of ``old`` is missing from ``new``.
    (A sort whose ids did not change may be left out.)"""
    fast = universe_added(old, new)  # known lineage: no comparison of whole universes
    if fast is not None:
        return fast
    out: dict[str, list] = {}
    for sort, n in new.items():
        o = old.get(sort, ())
        if n is o:
            continue
        if len(n) >= len(o) and n[:len(o)] == o:
            out[sort] = list(n[len(o):])
            continue
        so, sn = set(o), set(n)
        if not so <= sn:
            return None
        out[sort] = sorted(sn - so)
    if set(old) - set(new):
        return None
    return out


def _candidate_plan(spec) -> tuple[str | None, str | None, tuple[tuple[str, str], ...]]:
    """For a written field: (sort of its old value if Token/Session, else None; sort of its
    key if Token/Session, else None; the Token/Session-typed fields at the same key)."""
    t = spec.type
    old_sort = t.sort if t.kind == "obj" and t.sort in ("Token", "Session") else None
    key_sort = spec.keys[0] if spec.keys in (("Token",), ("Session",)) else None
    at_key = tuple((g.name, g.type.sort) for g in OBJ_FIELDS_BY_KEYS.get(spec.keys, ())) if spec.keys else ()
    return old_sort, key_sort, at_key


_PLAN = {name: _candidate_plan(spec) for name, spec in FIELDS.items()}


def _add_delta_candidates(state: ConcreteState, written: list, old: dict[str, Any],
                          cands: dict[str, set]) -> None:
    """Rules 1-3 of the module docstring for one transition into ``state``.  A write that
    left the value as it was (as every read sees it: stored or default) changes nothing."""
    data = state.__dict__
    for name, key in written:
        if key is None:
            before = old[name]
            if before == data[name]:
                continue
        else:
            before = old[name][key]
            if before == data[name][key]:
                continue
        old_sort, key_sort, at_key = _PLAN[name]
        if old_sort is not None:  # 2: where the reference pointed before
            cands[old_sort].add(before)
        if key is None:
            continue
        if key_sort is not None:  # 1
            cands[key_sort].add(key)
        for g, sort in at_key:  # 3: where the references at this key point now
            cands[sort].add(data[g][key])


def _add_session_of_tokens(state: ConcreteState, tokens: Any, cands: dict[str, set]) -> None:
    """Rule 5."""
    sess = state.__dict__["token_session"]
    for t in tokens:
        cands["Session"].add(sess[t])


def reclaim_candidates(since: ConcreteState, state: ConcreteState,
                       rules: dict[str, Rule] | None = None) -> dict[str, set] | None:
    """The tokens and sessions the step from ``since`` to ``state`` can have
    made reclaimable (module docstring), or None if that cannot be told
    (unknown delta, foreign reclamation rules, unordered universes)."""
    if not _scheduling_applies(rules or RULES):
        return None
    for s in (since, state):
        if type(s.universe.get("Token")) is not Ids or type(s.universe.get("Session")) is not Ids:
            return None
    added = _universe_added(since.universe, state.universe)
    if added is None:
        return None
    cands: dict[str, set] = {"Token": set(added.get("Token", ())), "Session": set(added.get("Session", ()))}  # 4
    gen, delta = state.__dict__["_gen"], state.__dict__["_delta"]
    if gen != since.__dict__["_gen"]:
        if delta is None or delta[0] != since.__dict__["_gen"]:
            return None
        _add_delta_candidates(state, delta[1], delta[2], cands)
    _add_session_of_tokens(state, list(cands["Token"]), cands)
    return cands


def _next_offer(uni: Ids, alive: dict, pool: set | None, last: Any) -> Any:
    """The next object the full pass offers after ``last`` (ascending ids among
    the turn's live snapshot), restricted to ``pool`` (None: no restriction);
    None when there is none."""
    if pool is None:
        for x in uni[0 if last is None else bisect_left(uni, last) + 1:]:
            if x != last and alive.get(x, False):
                return x
        return None
    nxt = None
    for o in pool:
        if (type(o) is int and (last is None or o > last) and (nxt is None or o < nxt)
                and contains(uni, o) and alive.get(o, False)):
            nxt = o
    return None if nxt is None else uni[bisect_left(uni, nxt)]  # the universe's own id object


def _collect_scheduled(state: ConcreteState, rules: dict[str, Rule],
                       cands: dict[str, set | None]) -> tuple[ConcreteState, list[StepRecord]]:
    """``collect_garbage_full`` offering only candidates: the same rounds and,
    within a rule's turn, the same order (ascending ids: the universe's order)
    over the same snapshot of live objects, taken when the turn starts.
    Objects it does not offer are ones the rule would not reclaim (module
    docstring), so the same reclamations happen in the same order.

    A candidate is offered once, and again only after a later reclamation made
    it a candidate again (``pending``).  A refused offer stays refused until
    some transition makes the rule enabled for that object, and the object is
    then a candidate of that transition (the completeness argument of the
    module docstring, applied to the reclamation's own transition): so every
    offer left out is one the full pass makes and the rule refuses."""
    records: list[StepRecord] = []
    pending: dict[str, set | None] = {s: (None if c is None else set(c)) for s, c in cands.items()}
    changed = True
    while changed:
        changed = False
        for name, key, sort in _RECLAIM:
            rule = rules.get(name)
            if rule is None:
                continue
            uni = state.universe[sort]  # Ids (checked by reclaim_candidates; rules do not change universes)
            alive = state.raw(ALIVE_FIELD[sort])  # the live snapshot of ``state.alive(sort)``
            last = None
            while True:
                pool = pending[sort]
                if pool is not None and not pool:
                    break
                oid = _next_offer(uni, alive, pool, last)
                if oid is None:
                    break
                last = oid
                if pool is not None:
                    pool.discard(oid)
                out = rule.apply(state, None, {key: oid})
                if out.enabled and int(out.errno) == 0:
                    records.append(StepRecord(None, name, {key: oid}, out))
                    prev, state = state, out.post
                    if not _progressed(prev, state):
                        continue
                    changed = True
                    if pending["Token"] is None:
                        continue
                    delta = state.__dict__["_delta"]
                    if state.universe is not prev.universe or delta is None or delta[0] != prev.__dict__["_gen"]:
                        pending = {"Token": None, "Session": None}  # delta unknown: offer everything from now on
                        continue
                    new: dict[str, set] = {"Token": set(), "Session": set()}
                    _add_delta_candidates(state, delta[1], delta[2], new)
                    _add_session_of_tokens(state, list(new["Token"]), new)  # 5, for every token made a candidate again
                    pending["Token"] |= new["Token"]
                    pending["Session"] |= new["Session"]
    return state, records


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
