"""Which state fields the explorer may leave out of its state keys (docs/explorer.md).

A set ``D`` of fields is *droppable* for a rule set and a set of checked
properties when states that differ only in the values of ``D`` cannot be told
apart by anything the explorer observes:

1. no rule's model preconditions (``enabled``), errno or returned values read a
   field of ``D`` (so two such states have the same enabled steps with the same
   errnos and arguments);
2. no rule's written value of a field *outside* ``D`` reads a field of ``D``
   (so their successors under the same step again differ only in ``D``: the
   relation "equal outside ``D``" is a bisimulation);
3. no checked *state* property reads a field of ``D``;
4. every checked *transition* property that reads a field of ``D`` is proved
   (z3, once per rule it applies to) to give the same verdict on a step from
   ``pre`` and from ``pre'`` when ``pre`` and ``pre'`` agree outside ``D``
   (the post-states being the rule applied to each): its verdict on a step does
   not depend on the ``D`` values of the pre-state.  ``unknown`` counts as
   "depends" (the fields it reads are then kept).

Then the explorer, which stores one representative concrete state per key,
finds exactly the same violated properties at the same depths with and
without dropping ``D``: every path of one run has a path of the other with the
same steps, the same errnos, states equal outside ``D`` and, by 3 and 4, the
same property verdicts on every state and step.

Reads are taken from the rules' symbolic terms (the rules are single-source:
the same text builds z3 terms): a field is read by a term if the term
mentions the field's z3 function of the pre-state.  The analysis runs per
rule set (a mutant gets its own), per checked property set, on an unbounded
symbolic state.  Fields the explorer itself reads to enumerate moves (the
``*_alive`` flags, ``thread_proc``, ``fd_open``) and the LUID counters (the
executor derives fresh logon SIDs from ``next_luid``; they are ranked instead,
``tokenproof.symmetry``) are never dropped.  With the KACS rules and the full
catalog the analysis drops ``token_id``, ``token_modified_id``,
``next_token_id`` and ``token_privs_used``: they are read only to write
themselves again (copy, increment, ``used | bit``) and by transition properties
comparing them across one step whose verdict is independent of their values
before the step (``used`` stays a superset; a successful adjustment adds one).

The same analysis also finds the (transition property, rule) pairs that are
*one-step valid*: true on every enabled step of the rule from every state of the
universe (``valid_steps``); the explorer does not evaluate those checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import z3

from model.rules.registry import Rule
from model.state import ALIVE_FIELD, SCHEMA, THREAD
from model.values import is_sym
from properties.base import Property, StepInfo

RLIMIT = 24_000_000  # z3 resource units per independence query (deterministic)
NEVER_DROPPED = frozenset({*ALIVE_FIELD.values(), "thread_proc", "fd_open", "next_luid", "sess_luid"})


@dataclass
class Analysis:
    dropped: frozenset[str]
    reasons: dict[str, str] = field(default_factory=dict)  # field kept -> why (first reason found)
    checks: int = 0  # z3 independence queries run
    # (transition property, rule) pairs proved to hold on every enabled step of the rule from
    # every state of the universe (one-step validity, no invariant assumed): the explorer
    # need not evaluate them (``valid_steps``)
    valid: frozenset[tuple[str, str]] = frozenset()
    valid_checks: int = 0


def _universe(init: Any = None):
    """The explorer's own finite universe (one element per slot of ``init``), or an
    unbounded one; the SIDs of the standard scenario and the user principal are
    named (properties mention them), plus one spare SID per session slot and two
    (the dynamic logon SIDs a state can hold: one per session)."""
    from model.scenarios import standard
    from model.symbolic import Universe as SymUniverse
    from tokenproof.encode import finite_universe, state_sids

    from tokenproof.explorer import USER_SID

    sids = list(dict.fromkeys([*state_sids(standard().state), USER_SID]))
    if init is None:
        return SymUniverse("unbounded", sids=sids)
    uni, _ = finite_universe(init, sids=sids, extra_sids=len(init.universe["Session"]) + 2)
    return uni


class _Reads:
    """Which state fields a z3 term mentions (the pre-state's field functions), memoised
    per AST node across terms (the rules' terms share large subterms)."""

    def __init__(self, field_of: dict[str, str]):
        self.field_of = field_of
        self.memo: dict[int, frozenset[str]] = {}
        self.alive: list[Any] = []  # AST ids are reused once a term is freed: keep the memoised terms alive

    def __call__(self, terms: list[Any]) -> set[str]:
        out: set[str] = set()
        for t in terms:
            if is_sym(t):
                out |= self._one(t)
        return out

    def _one(self, root: Any) -> frozenset[str]:
        memo, field_of = self.memo, self.field_of
        stack = [(root, False)]
        while stack:
            e, done = stack.pop()
            i = e.get_id()
            if i in memo:
                continue
            self.alive.append(e)
            if z3.is_quantifier(e):
                kids = [e.body()]
                own: frozenset[str] = frozenset()
            elif z3.is_app(e):
                kids = e.children()
                f = field_of.get(e.decl().name())
                own = frozenset((f,)) if f is not None else frozenset()
            else:
                memo[i] = frozenset()
                continue
            if not done:
                stack.append((e, True))
                stack.extend((k, False) for k in kids if k.get_id() not in memo)
                continue
            acc = set(own)
            for k in kids:
                acc |= memo[k.get_id()]
            memo[i] = frozenset(acc)
        return memo[root.get_id()]


def _flatten(v: Any) -> list[Any]:
    if isinstance(v, dict):
        return [x for y in v.values() for x in _flatten(y)]
    if isinstance(v, (list, tuple)):
        return [x for y in v for x in _flatten(y)]
    return [v]


def analyse(rules: dict[str, Rule], props: dict[str, Property], init: Any = None,
            rlimit: int = RLIMIT) -> Analysis:
    """The largest droppable set ``D`` found for ``rules`` and the checked ``props`` (module doc),
    over the finite universe of the concrete state ``init`` (the explorer's slots), or over
    an unbounded universe if ``init`` is None."""
    from tokenproof.prover import _ReadRecorder

    uni = _universe(init)
    pre = uni.fresh_state("abs")
    reads_of = _Reads({f.name(): name for name, f in pre.fns.items()})
    reasons: dict[str, str] = {}
    blocked: set[str] = set(NEVER_DROPPED)
    for f in NEVER_DROPPED:
        reasons[f] = "read by the explorer's move enumeration or ranked"
    # per rule: reads of enabled/errno/ret, and per written field the reads of its new value
    defs: dict[str, dict[str, set[str]]] = {}
    outs: dict[str, tuple[Any, dict[str, Any], Any]] = {}
    for name, r in rules.items():
        actor = None if r.kernel else uni.const(f"abs_actor_{name}", THREAD)
        args = {a.name: uni.const(f"abs_{name}.{a.name}", a.type) for a in r.args}
        try:
            o = r.apply(pre, actor, args)
        except Exception as e:  # cannot analyse symbolically: drop nothing
            return Analysis(frozenset(), {"*": f"rule {name} does not run symbolically ({type(e).__name__})"})
        outs[name] = (actor, args, o)
        obs = reads_of([o.enabled, o.errno, *_flatten(o.ret)])
        for f in obs - blocked:
            reasons[f] = f"read by the preconditions, errno or results of {name}"
        blocked |= obs
        defs[name] = {}
        for spec in SCHEMA:
            new = o.post.fns[spec.name]
            if new is pre.fns[spec.name]:
                continue
            xs = [uni.const(f"abs_k{i}", _key_type(k)) for i, k in enumerate(spec.keys)]
            defs[name][spec.name] = reads_of([new(*xs)])
    state_reads: dict[str, set[str]] = {}
    trans_reads: dict[str, set[str]] = {}
    for p in props.values():
        if p.kind == "state":
            rec = _ReadRecorder(pre)
            p.check(rec)
            state_reads[p.id] = rec.reads
        elif p.kind == "transition":
            rd: set[str] = set()
            for name in rules:
                if p.rules is None or name in p.rules:
                    actor, args, o = outs[name]
                    a, b = _ReadRecorder(pre), _ReadRecorder(o.post)
                    p.check(a, b, StepInfo(name, actor, args, o.errno))
                    rd |= a.reads | b.reads
            trans_reads[p.id] = rd
    for pid, rd in state_reads.items():
        for f in rd - blocked:
            reasons[f] = f"read by the state property {pid}"
        blocked |= rd
    cand = {s.name for s in SCHEMA} - blocked

    def close(cand: set[str]) -> set[str]:
        changed = True
        while changed:
            changed = False
            for name, d in defs.items():
                for g, rd in d.items():
                    if g not in cand and rd & cand:
                        for f in rd & cand:
                            reasons[f] = f"read by {name}'s new value of {g}"
                        cand = cand - rd
                        changed = True
        return cand

    cand = close(cand)
    checks = 0
    alt: dict[tuple[str, frozenset[str]], Any] = {}
    for pid, rd in sorted(trans_reads.items()):
        if not rd & cand:
            continue
        p = props[pid]
        for name, r in rules.items():
            if not (rd & cand):
                break
            if p.rules is not None and name not in p.rules:
                continue
            checks += 1
            suspects = _dependence(uni, pre, p, r, outs[name], cand, rlimit, alt, reads_of)
            if suspects:
                for f in suspects:
                    reasons[f] = f"the transition property {pid} may depend on it ({name})"
                cand = close(cand - suspects)
    valid, vchecks = valid_steps(uni, pre, rules, props, outs)
    return Analysis(frozenset(cand), reasons, checks, valid, vchecks)


VALID_RLIMIT = 1_000_000  # z3 resource units per one-step validity query (deterministic)


def valid_steps(uni: Any, pre: Any, rules: dict[str, Rule], props: dict[str, Property], outs: dict,
                rlimit: int = VALID_RLIMIT) -> tuple[frozenset[tuple[str, str]], int]:
    """The (transition property, rule) pairs whose verdict is true on *every* enabled step of
    the rule from *every* state of the universe: the verdict term, built from the rule's own
    symbolic terms (single source), is the constant true, or z3 proves ``enabled and not
    verdict`` unsatisfiable within ``rlimit`` (deterministic; unknown or sat: not valid).
    No invariant is assumed (the pre-state is arbitrary), so such a check can never fail in
    the explorer and is skipped there.  A mutant gets its own analysis: a broken rule's
    pairs are not valid (z3 finds the counter-model) and stay checked."""
    valid: set[tuple[str, str]] = set()
    checks = 0
    for p in props.values():
        if p.kind != "transition":
            continue
        for name in rules:
            if p.rules is not None and name not in p.rules:
                continue
            actor, args, o = outs[name]
            try:
                v = p.check(pre, o.post, StepInfo(name, actor, args, o.errno))
            except Exception:  # a property that cannot be evaluated symbolically: keep checking it
                continue
            if not is_sym(v):
                if bool(v):
                    valid.add((p.id, name))
                continue
            v = z3.simplify(v)
            if z3.is_true(v):
                valid.add((p.id, name))
                continue
            checks += 1
            en = o.enabled if is_sym(o.enabled) else z3.BoolVal(bool(o.enabled))
            sv = z3.Solver()
            sv.set("rlimit", rlimit)
            sv.add(*uni.axioms, en, z3.Not(v))
            if sv.check() == z3.unsat:
                valid.add((p.id, name))
    return frozenset(valid), checks


def _key_type(sort: str):
    from model.state import OBJ

    return OBJ(sort)


def _dependence(uni: Any, pre: Any, p: Property, r: Rule, out: tuple, cand: set[str], rlimit: int,
                alt: dict, reads_of: "_Reads") -> set[str]:
    """The fields of ``cand`` the verdict of ``p`` on a step of ``r`` may depend on (empty:
    proved independent).  The verdict from a state ``pre'`` equal to ``pre`` outside ``cand``
    is the verdict term from ``pre`` with ``pre``'s ``cand`` functions replaced by ``pre'``'s
    (the rule's terms for the other fields do not read ``cand``: condition 2), so only the
    ``cand`` fields the simplified term still mentions (the suspects) can matter.  No
    suspect: independent.  Else z3 decides whether the verdicts can differ, bounded by a
    resource limit (deterministic, unlike a timeout); sat or unknown returns the suspects."""
    from model.symbolic import SymState

    actor, args, o = out
    v = p.check(pre, o.post, StepInfo(r.name, actor, args, o.errno))
    if not is_sym(v):
        return set()  # a constant verdict: the same whatever the pre-state
    suspects = reads_of([z3.simplify(v)]) & cand
    if not suspects:
        return set()
    k = (r.name, frozenset(cand))
    if k not in alt:
        other = uni.fresh_state("abs_alt")
        pre2 = SymState(uni, {n: (other.fns[n] if n in cand else f) for n, f in pre.fns.items()})
        alt[k] = (pre2, r.apply(pre2, actor, args))
    pre2, o2 = alt[k]
    v1 = p.check(pre, o.post, StepInfo(r.name, actor, args, o.errno))
    v2 = p.check(pre2, o2.post, StepInfo(r.name, actor, args, o2.errno))
    if not is_sym(v1) and not is_sym(v2):
        return set() if bool(v1) == bool(v2) else suspects
    b1 = v1 if is_sym(v1) else z3.BoolVal(bool(v1))
    b2 = v2 if is_sym(v2) else z3.BoolVal(bool(v2))
    en = o.enabled if is_sym(o.enabled) else z3.BoolVal(bool(o.enabled))
    sv = z3.Solver()
    sv.set("rlimit", rlimit)
    sv.add(*uni.axioms, en, b1 != b2)
    return set() if sv.check() == z3.unsat else suspects


__all__ = ["Analysis", "analyse", "NEVER_DROPPED"]
