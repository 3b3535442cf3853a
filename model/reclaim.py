"""The kernel's reclamation of unreferenced tokens and unused logon sessions.

A token lives while something refers to it (§4.2 refcount): a live thread's
real or impersonation token, a live process's primary, an open fd's token, a
live socket's peer snapshot.  When the last reference drops, the kernel frees
it (``kernel_free_token``, §4.2, §4.7); the global Anonymous token is never
freed, and the tokens of a linked pair go with their session.  A logon
session that has had a token and whose live tokens only its linked pair (or
nothing) refers to is destroyed, its pair unlinked and its tokens freed
(``kernel_destroy_session``, §4.6 Lifecycle, §4.7 Cleanup); the SYSTEM and
ANONYMOUS sessions never are.  Both are kernel rules of ``model.rules``
(model/rules/lifecycle.py), enabled or not like any other rule; this module
runs them until nothing more can be reclaimed (``collect_garbage``).  The
executor (``model.sim.Simulator``) does that after every step and reports
each reclamation as a step of its own (a ``StepRecord`` with actor None, in
the step's ``kernel_followups``); ``StepRecord`` is defined here so that
``model.sim`` imports this module and not the reverse.

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
was, as every read sees it, changes nothing and is skipped, and so is a write
of a field neither reclamation rule reads, ``RECLAIM_READS``: a rule's
outcome for an object is a function of the fields it reads and the universe,
so such a write cannot enable it for anything):

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

Among the candidates, the scheduled collection does not offer the ones the
rule refuses for a reason ``RefIndex`` knows without running it: a token with
a reference (a live thread's real or impersonation token, a live process's
primary, an open fd's token, a live socket's peer snapshot: the witnesses of
``referenced_outside_pairs``), a session with such a live token, the
Anonymous token and the SYSTEM and ANONYMOUS sessions.  A refused offer
changes nothing, so leaving it out changes nothing; every offer made is
decided by the rule.  The index is carried from one collection to the next by
the keys each step wrote (tests/model/test_reclaim_index_perf.py compares it
with one built from scratch, and with the rules, after every step).
``collect_garbage`` makes the candidates, carries the index and looks for a
first offer in one pass over the step's writes (``_prepare``).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from model.concrete import OBJ_FIELDS_BY_KEYS, ConcreteState, Ids, _index_in, contains, universe_added
from model.rules.registry import RULES, Rule
from model.state import ALIVE_FIELD, FIELDS
from model.step import Outcome


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


# ------------------------------------------------------------------ reclamation
_RECLAIM = (("kernel_free_token", "token", "Token"), ("kernel_destroy_session", "session", "Session"))


def _reclaim_rules(rules: dict[str, Rule]) -> list[tuple[str, str, str, Rule]]:
    """The reclamation rules present in ``rules``: (name, argument, sort, rule), in ``_RECLAIM`` order."""
    return [(name, key, sort, rules[name]) for name, key, sort in _RECLAIM if rules.get(name) is not None]


def collect_garbage_full(state: ConcreteState, rules: dict[str, Rule] | None = None) -> tuple[ConcreteState, list[StepRecord]]:
    """Run the kernel's reclamation rules until nothing more can be reclaimed,
    offering them every live token and session each round (the reference)."""
    rules = rules or RULES
    records: list[StepRecord] = []
    changed = True
    while changed:
        changed = False
        for name, key, sort, rule in _reclaim_rules(rules):
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
    if since is not None and (rules is RULES or _scheduling_applies(rules)):
        prep = _prepare(since, state)
        if prep is not None:
            cands, refs, offered = prep
            if not offered:
                _remember_index(state, refs)
                return state, []  # nothing to offer: no round reclaims anything
            return _collect_scheduled(state, rules, cands, refs)
    return collect_garbage_full(state, rules)


def _prepare(since: ConcreteState, state: ConcreteState) -> tuple[dict[str, set], "RefIndex", bool] | None:
    """What ``collect_garbage`` needs for the step ``since`` -> ``state``, in one pass over the
    step's writes: the candidates (those of ``reclaim_candidates``), the reference index of
    ``state`` (the one remembered for ``since``, carried across the step, else built afresh)
    and whether some candidate would be offered in the first round (live, in the universe and
    not refused by the index: otherwise the collection reclaims nothing); None when the step
    is not known.  One pass, not those three computations in turn, because this runs after
    every step (about 10 % of the executor benchmark's throughput);
    tests/model/test_performance_semantics.py and tests/model/test_reclaim_index_perf.py
    compare the collections and the index with the reference ones."""
    uni = state.universe
    if type(uni.get("Token")) is not Ids or type(uni.get("Session")) is not Ids:
        return None
    sd, data = since.__dict__, state.__dict__
    suni = since.universe
    added: dict | None = None
    if suni is not uni:
        if type(suni.get("Token")) is not Ids or type(suni.get("Session")) is not Ids:
            return None
        added = _universe_added(suni, uni)
        if added is None:
            return None
    sgen = sd["_gen"]
    written: Any = ()
    if data["_gen"] != sgen:
        delta = data["_delta"]
        if delta is None or delta[0] != sgen:
            return None
        written, old = delta[1], delta[2]
    if added:  # 4
        tok, ses = set(added.get("Token", ())), set(added.get("Session", ()))
    else:
        tok, ses = set(), set()
    cands = {"Token": tok, "Session": ses}
    wkeys: set = set()  # the index's witnesses and tokens to look at again (``RefIndex.advance``)
    itoks: set = set()
    done: set = set()  # as in ``_add_delta_candidates``
    plan = _FUSED_PLAN
    for name, key in written:
        p = plan[name]
        if p is None:
            continue  # a field the reclamation rules (and the index) do not read
        old_sort, key_sort, at_key, keys, wkind, tside = p
        if key is None:  # a scalar (none is read by the index)
            before = old[name]
            if before != data[name] and old_sort is not None:  # 2
                cands[old_sort].add(before)
            continue
        if old_sort is None and wkind is None and not tside and (keys, key) in done:
            continue  # nothing more to add for this key (as in ``_add_delta_candidates``)
        before = old[name][key]
        if before == data[name][key]:
            continue  # a write that changed nothing: no candidate, and the index's reads are as they were
        # the index: witnesses whose references may have changed, tokens whose liveness or session did
        if wkind is not None:
            wkeys.add((wkind, key))
        elif tside:
            itoks.add(key)
        # rules 1-3 (``_add_delta_candidates``)
        if old_sort is not None:  # 2
            cands[old_sort].add(before)
        elif (keys, key) in done:
            continue
        if key_sort is not None:  # 1
            cands[key_sort].add(key)
        for g, sort in at_key:  # 3
            cands[sort].add(data[g][key])
        done.add((keys, key))
    if tok:  # 5
        sess = data["token_session"]
        for t in tok:
            ses.add(sess[t])
    # the index
    hit = _LAST_INDEX[0]
    _LAST_INDEX[0] = None  # about to be advanced in place: no longer the index of ``since``
    if hit is not None and hit[0] is sd and hit[1] == sgen and hit[2] is suni:
        refs = hit[3]
        if wkeys or itoks or added:
            refs._update(state, wkeys, itoks, added)
    else:
        refs = RefIndex.build(state)
    # is some candidate offered? (``RefIndex.refused`` inlined for tokens)
    if tok:
        alive, ids, count, anon = data["token_alive"], uni["Token"], refs.count, data["anon_token"]
        for o in tok:
            if alive.get(o, False) and type(o) is int and contains(ids, o) and not count.get(o) and o != anon:
                return cands, refs, True
    if ses:
        alive, ids = data["sess_alive"], uni["Session"]
        for o in ses:
            if alive.get(o, False) and type(o) is int and contains(ids, o) and not refs.refused("Session", o, data):
                return cands, refs, True
    return cands, refs, False


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


#: Every field the two reclamation rules read (``kernel_free_token``, ``kernel_destroy_session``,
#: with ``referenced_outside_pairs`` and ``held_by_pair``), scalars included.  A write of any
#: other field makes no candidate (module docstring).  tests/model/test_reclaim_index_perf.py
#: checks that a symbolic run of the two rules (every lazy argument evaluated) reads no other.
RECLAIM_READS = frozenset((
    "token_alive", "token_session", "anon_token",
    "thread_alive", "thread_real", "thread_impersonating", "thread_imp_token",
    "proc_alive", "proc_primary", "fd_open", "fd_token", "sock_alive", "sock_has_peer", "sock_peer_token",
    "sess_alive", "sess_had_token", "sess_linked", "sess_elevated", "sess_filtered",
    "system_session", "anon_session",
))


def _candidate_plan(spec) -> tuple[str | None, str | None, tuple[tuple[str, str], ...], tuple[str, ...]] | None:
    """For a written field: (sort of its old value if Token/Session, else None; sort of its
    key if Token/Session, else None; the Token/Session-typed fields at the same key; its key
    sorts); None for a field the reclamation rules do not read (its writes make no candidate)."""
    if spec.name not in RECLAIM_READS:
        return None
    t = spec.type
    old_sort = t.sort if t.kind == "obj" and t.sort in ("Token", "Session") else None
    key_sort = spec.keys[0] if spec.keys in (("Token",), ("Session",)) else None
    at_key = tuple((g.name, g.type.sort) for g in OBJ_FIELDS_BY_KEYS.get(spec.keys, ())) if spec.keys else ()
    return old_sort, key_sort, at_key, spec.keys


_PLAN = {name: _candidate_plan(spec) for name, spec in FIELDS.items()}


def _add_delta_candidates(state: ConcreteState, written: list, old: dict[str, Any],
                          cands: dict[str, set]) -> None:
    """Rules 1-3 of the module docstring for one transition into ``state``.  A write that
    left the value as it was (as every read sees it: stored or default) changes nothing."""
    data = state.__dict__
    # (key sorts, key) whose rule-1 and rule-3 candidates are in already: a changed field
    # that is not Token/Session-typed adds nothing more at such a key (write_new_token
    # writes some 75 fields at one key)
    done: set = set()
    for name, key in written:
        plan = _PLAN[name]
        if plan is None:
            continue  # a field the reclamation rules do not read
        old_sort, key_sort, at_key, keys = plan
        if old_sort is None and (keys, key) in done:
            continue
        if key is None:
            before = old[name]
            if before == data[name]:
                continue
        else:
            before = old[name][key]
            if before == data[name][key]:
                continue
        if old_sort is not None:  # 2: where the reference pointed before
            cands[old_sort].add(before)
        if key is None:
            continue
        if key_sort is not None:  # 1
            cands[key_sort].add(key)
        for g, sort in at_key:  # 3: where the references at this key point now
            cands[sort].add(data[g][key])
        done.add((keys, key))


def _add_session_of_tokens(state: ConcreteState, tokens: Any, cands: dict[str, set]) -> None:
    """Rule 5."""
    sess = state.__dict__["token_session"]
    cands["Session"].update([sess[t] for t in tokens])


def _step_delta(since: ConcreteState, state: ConcreteState) -> tuple[dict, list, dict] | None:
    """The step ``since`` -> ``state``: (ids added to the universe per sort, the written
    ``(field, key)`` pairs, ``since``'s versions of the changed fields), or None if it is
    not known (unknown delta, unordered universes)."""
    uni = state.universe
    if type(uni.get("Token")) is not Ids or type(uni.get("Session")) is not Ids:
        return None
    if since.universe is uni:
        added: dict | None = {}
    else:
        if type(since.universe.get("Token")) is not Ids or type(since.universe.get("Session")) is not Ids:
            return None
        added = _universe_added(since.universe, uni)
        if added is None:
            return None
    gen, delta = state.__dict__["_gen"], state.__dict__["_delta"]
    if gen == since.__dict__["_gen"]:
        return added, [], {}
    if delta is None or delta[0] != since.__dict__["_gen"]:
        return None
    return added, delta[1], delta[2]


def _candidates(state: ConcreteState, step: tuple[dict, list, dict]) -> dict[str, set]:
    added, written, old = step
    cands: dict[str, set] = {"Token": set(added.get("Token", ())), "Session": set(added.get("Session", ()))}  # 4
    if written:
        _add_delta_candidates(state, written, old, cands)
    _add_session_of_tokens(state, cands["Token"], cands)
    return cands


def reclaim_candidates(since: ConcreteState, state: ConcreteState,
                       rules: dict[str, Rule] | None = None) -> dict[str, set] | None:
    """The tokens and sessions the step from ``since`` to ``state`` can have
    made reclaimable (module docstring), or None if that cannot be told
    (unknown delta, foreign reclamation rules, unordered universes)."""
    if not _scheduling_applies(rules or RULES):
        return None
    step = _step_delta(since, state)
    return None if step is None else _candidates(state, step)


# ------------------------------------------------------------------ reference index
# The witnesses ``referenced_outside_pairs`` (model/rules/lifecycle.py) looks for, by the
# fields it reads: a live thread's real token and, if it impersonates, its impersonation
# token; a live process's primary; an open fd's token; a live socket's peer snapshot.
_WITNESS_KIND = {"thread_alive": "Thread", "thread_real": "Thread", "thread_impersonating": "Thread",
                 "thread_imp_token": "Thread", "proc_alive": "Process", "proc_primary": "Process",
                 "fd_open": "Fd", "fd_token": "Fd",
                 "sock_alive": "Socket", "sock_has_peer": "Socket", "sock_peer_token": "Socket"}
_TOKEN_SIDE = frozenset(("token_alive", "token_session"))
_UNSET = object()


def _refs_at(data: Any, kind: str, key: Any) -> tuple:
    """The tokens the witness ``key`` of ``kind`` refers to in the field store ``data``
    (with multiplicity), read as ``referenced_outside_pairs`` reads them."""
    if kind == "Thread":
        if not data["thread_alive"][key]:
            return ()
        real = data["thread_real"][key]
        return (real, data["thread_imp_token"][key]) if data["thread_impersonating"][key] else (real,)
    if kind == "Process":
        return (data["proc_primary"][key],) if data["proc_alive"][key] else ()
    if kind == "Fd":
        return (data["fd_token"][key],) if data["fd_open"][key] else ()
    return (data["sock_peer_token"][key],) if data["sock_alive"][key] and data["sock_has_peer"][key] else ()


def _witness_refs(data: Any, uni: dict, kind: str, key: Any) -> tuple:
    """``_refs_at(data, kind, key) if _in_universe(uni, kind, key) else ()`` (the universe is
    looked at only when the witness refers to something)."""
    now = _refs_at(data, kind, key)
    return now if now and _in_universe(uni, kind, key) else ()


def _in_universe(uni: dict, kind: str, key: Any) -> bool:
    """``key`` is one of the objects ``referenced_outside_pairs`` quantifies over."""
    if kind == "Fd":
        return type(key) is tuple and len(key) == 2 and contains(uni["Process"], key[0]) \
            and contains(uni["Handle"], key[1])
    return contains(uni[kind], key)


class RefIndex:
    """Which tokens are referenced, for the reclamation scheduling only.

    ``refs[(kind, x)]``: the tokens witness ``x`` (a thread, process, fd or socket of the
    universe) refers to, as ``referenced_outside_pairs`` reads them (absent: none);
    ``count[t]``: how many such references ``t`` has (absent: none); ``busy[s]``: how many
    live tokens of session ``s`` (in the Token universe) have one.  A token with a
    reference is not reclaimable (``kernel_free_token`` assumes
    ``not_(referenced_outside_pairs)``), nor is a session with such a token
    (``kernel_destroy_session``); the collection does not offer them.  The index never
    decides that an object *is* reclaimable: every offer still goes to the rule.  It is
    built from a state (``build``) and carried across a step by the keys the step wrote
    and the ids it added (``advance``); tests/model/test_reclaim_index_perf.py compares it
    with ``build`` and with the rules after steps of random walks and arbitrary deltas."""

    __slots__ = ("refs", "count", "busy", "held")

    def __init__(self) -> None:
        self.refs: dict[tuple, tuple] = {}
        self.count: dict[Any, int] = {}
        self.busy: dict[Any, int] = {}
        self.held: dict[Any, Any] = {}  # token -> the session it is counted under in ``busy``

    @classmethod
    def build(cls, state: ConcreteState) -> "RefIndex":
        idx = cls()
        data, uni = state.__dict__, state.universe
        count, refs = idx.count, idx.refs
        witnesses = [(kind, x) for kind in ("Thread", "Process", "Socket") for x in uni[kind]]
        witnesses += [("Fd", key) for key, is_open in data["fd_open"].items()
                      if is_open and _in_universe(uni, "Fd", key)]
        for kind, x in witnesses:
            now = _refs_at(data, kind, x)
            if now:
                refs[(kind, x)] = now
                for t in now:
                    count[t] = count.get(t, 0) + 1
        alive, sess = data["token_alive"], data["token_session"]
        for t in uni["Token"]:
            if alive[t] and count.get(t):
                s = sess[t]
                idx.held[t] = s
                idx.busy[s] = idx.busy.get(s, 0) + 1
        return idx

    def refused(self, sort: str, oid: Any, data: dict) -> bool:
        """The reclamation rule of ``sort`` refuses ``oid`` at the state with field store ``data``:
        the token is referenced or is the Anonymous token; the session has a referenced live
        token, is the SYSTEM or ANONYMOUS session or never had a token (conjuncts of the
        rules' ``assume``; True only when one of them is false)."""
        if sort == "Token":
            return bool(self.count.get(oid)) or oid == data["anon_token"]
        return (bool(self.busy.get(oid)) or oid == data["system_session"] or oid == data["anon_session"]
                or not data["sess_had_token"][oid])

    def advance(self, after: ConcreteState, written: list, added: dict[str, list]) -> None:
        """From the index of a state to that of ``after``, made from it by writing the
        ``written`` ``(field, key)`` pairs and adding the ids ``added`` to the universe."""
        keys: set = set()
        tokens: set = set()
        for name, key in written:
            kind = _WITNESS_KIND.get(name)
            if kind is not None:
                keys.add((kind, key))
            elif name in _TOKEN_SIDE:
                tokens.add(key)
        self._update(after, keys, tokens, added)

    def _update(self, after: ConcreteState, keys: set, tokens: set, added: dict[str, list] | None) -> None:
        """``advance`` given the witnesses ``(kind, key)`` and the tokens whose ``token_alive`` or
        ``token_session`` the step wrote (both sets are extended here)."""
        data, uni = after.__dict__, after.universe
        if added:
            for sort, ids in added.items():
                if not ids:
                    continue
                if sort in ("Thread", "Process", "Socket"):
                    keys.update((sort, x) for x in ids)
                if sort == "Process":
                    keys.update(("Fd", (p, h)) for p in ids for h in uni["Handle"])
                elif sort == "Handle":
                    keys.update(("Fd", (p, h)) for p in uni["Process"] for h in ids)
                elif sort == "Token":
                    tokens.update(ids)
        if keys:
            count, refs = self.count, self.refs
            for kk in keys:
                kind, key = kk
                now = _witness_refs(data, uni, kind, key)
                was = refs.get(kk, ())
                if was == now:
                    continue
                if now:
                    refs[kk] = now
                else:
                    del refs[kk]
                for t in was:
                    n = count[t] - 1
                    if n:
                        count[t] = n
                    else:
                        del count[t]
                    tokens.add(t)
                for t in now:
                    count[t] = count.get(t, 0) + 1
                    tokens.add(t)
        if tokens:
            alive, sess, toks = data["token_alive"], data["token_session"], uni["Token"]
            held, busy, count = self.held, self.busy, self.count
            for t in tokens:
                s = sess[t] if count.get(t) and alive[t] and contains(toks, t) else _UNSET
                h = held.get(t, _UNSET)
                if h is s or (h is not _UNSET and s is not _UNSET and h == s):
                    continue
                if h is not _UNSET:
                    del held[t]
                    n = busy[h] - 1
                    if n:
                        busy[h] = n
                    else:
                        del busy[h]
                if s is not _UNSET:
                    held[t] = s
                    busy[s] = busy.get(s, 0) + 1


# per field: its candidate plan (``_PLAN``), the witness kind it is read for (``_WITNESS_KIND``)
# and whether it is ``token_alive``/``token_session`` (``RefIndex.advance``), for ``_prepare``
_FUSED_PLAN = {name: (None if _PLAN[name] is None else (*_PLAN[name], _WITNESS_KIND.get(name), name in _TOKEN_SIDE))
               for name in FIELDS}
assert all(_FUSED_PLAN[name] is not None for name in (*_WITNESS_KIND, *_TOKEN_SIDE))  # the index reads only those

# the index of the last collection's result, for the next collection (which starts there);
# held here, not in the state, so states do not carry (or pickle) it
_LAST_INDEX: list = [None]


def _remember_index(state: ConcreteState, refs: RefIndex | None) -> None:
    _LAST_INDEX[0] = None if refs is None else (state.__dict__, state.__dict__["_gen"], state.universe, refs)


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
    return None if nxt is None else uni[_index_in(uni, nxt)]  # the universe's own id object


def _collect_scheduled(state: ConcreteState, rules: dict[str, Rule], cands: dict[str, set | None],
                       refs: "RefIndex | None" = None) -> tuple[ConcreteState, list[StepRecord]]:
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
    offer left out is one the full pass makes and the rule refuses.

    ``refs`` (a ``RefIndex`` of ``state``, kept up to date across the collection's own
    reclamations) leaves out, in addition, offers the rule refuses (``RefIndex.refused``:
    a token some thread, process, fd or socket refers to, a session with such a live
    token, the Anonymous token, the SYSTEM and ANONYMOUS sessions).  Leaving out an offer
    the rule refuses is the same as making it (a refused offer changes nothing); the rule
    still decides every offer made."""
    records: list[StepRecord] = []
    pending: dict[str, set | None] = {s: (None if c is None else set(c)) for s, c in cands.items()}
    changed = True
    while changed:
        changed = False
        for name, key, sort, rule in _reclaim_rules(rules):
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
                if refs is not None and refs.refused(sort, oid, state.__dict__):
                    continue  # the rule refuses it (see above)
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
                        refs = None
                        continue
                    new: dict[str, set] = {"Token": set(), "Session": set()}
                    _add_delta_candidates(state, delta[1], delta[2], new)
                    _add_session_of_tokens(state, list(new["Token"]), new)  # 5, for every token made a candidate again
                    pending["Token"] |= new["Token"]
                    pending["Session"] |= new["Session"]
                    if refs is not None:
                        refs.advance(state, delta[1], {})
    _remember_index(state, refs)
    return state, records
