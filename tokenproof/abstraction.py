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

With ``guarded``, ``guarded_resets`` also proves which fields' values are don't-cares under a
guard (a dead object's contents, a connected socket's level, ...): the explorer resets them to
their defaults in its keys (``--guarded``; docs/explorer.md "Guarded resets").

The same analysis also finds the (transition property, rule) pairs that are
*one-step valid*: true on every enabled step of the rule from every state of the
universe (``valid_steps``); the explorer does not evaluate those checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import z3

from model.rules.registry import Rule
from model.state import ALIVE_FIELD, OBJ, SCHEMA, THREAD
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
    # guarded resets (``guarded_resets``): field -> guard under which its value is a don't-care
    guarded: dict[str, tuple] = field(default_factory=dict)
    guarded_info: Any = None


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
            rlimit: int = RLIMIT, guarded: bool = False, profile: str = "kacs") -> Analysis:
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
    out = Analysis(frozenset(cand), reasons, checks, valid, vchecks)
    if guarded:
        g = guarded_resets(uni, pre, rules, props, outs, frozenset(cand), valid, reads_of, profile)
        out.guarded, out.guarded_info = g.guards, g
    return out


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


# ------------------------------------------------------------------ guarded resets (dead contents)
# A *guard* of a field is a disjunction of (guard field, value) literals on the same key: where it
# holds, the field's value is a don't-care that the explorer resets to the field's default in its
# state keys.  Every keyed field of an object sort is a candidate with the guard "the object is dead"
# (its ``*_alive`` flag false; fd fields: the fd is not open); a few fields get a wider guard (a
# value no rule reads again in that situation).  Each candidate is kept only if z3 proves it
# (``guarded_resets``).  The guard fields themselves are at most dead-guarded, so a guard's value
# is a function of the key.
WIDER_GUARDS: dict[str, tuple[tuple[str, Any], ...]] = {
    "sock_level": (("sock_connected", True),),  # read by connect (not yet connected) only
    "sock_peer_token": (("sock_has_peer", False),),
    "sock_peer_level": (("sock_has_peer", False),),
    "thread_imp_token": (("thread_impersonating", False),),
    "thread_imp_level": (("thread_impersonating", False),),
}
NEVER_GUARDED = frozenset({*ALIVE_FIELD.values(), "fd_open", "sess_luid", "next_luid"})
_DEBUG = int(__import__("os").environ.get("TOKENPROOF_GUARD_DEBUG", "0") or 0)  # print unproved goals
GUARD_RLIMIT = 40_000_000  # z3 resource units per guarded-reset query (deterministic; a quarter without generalisation)


def candidate_guards(dropped: frozenset[str] = frozenset()) -> dict[str, tuple[tuple[str, Any], ...]]:
    """Every keyed object field (not dropped, not a guard's own flag) with its candidate guard."""
    alive_of = dict(ALIVE_FIELD)
    out: dict[str, tuple[tuple[str, Any], ...]] = {}
    for spec in SCHEMA:
        n = spec.name
        if not spec.keys or n in NEVER_GUARDED or n in dropped:
            continue
        if spec.keys == ("Process", "Handle"):
            out[n] = (("fd_open", False),)
        elif len(spec.keys) == 1 and spec.keys[0] in alive_of:
            # a wider guard's field must be in the key (not dropped), so guards are functions of it
            wider = tuple(x for x in WIDER_GUARDS.get(n, ()) if x[0] not in dropped)
            out[n] = ((alive_of[spec.keys[0]], False),) + wider
    return out


def guard_term(st: Any, guard: tuple[tuple[str, Any], ...], keys: tuple) -> Any:
    """The guard on a symbolic state (a z3 Bool)."""
    lits = []
    for g, v in guard:
        t = st.fns[g](*keys)
        lits.append(t if v is True else z3.Not(t) if v is False else t == v)
    return z3.Or(*lits) if len(lits) > 1 else lits[0]


# the assumed invariants: reference liveness (a live thread's tokens and process, a live process's
# primary, an open fd's token, a live socket's snapshot, a live token's session are live), used only
# if checked and expected to hold in the profile
ASSUMED_INVARIANTS = ("live-threads-have-live-effective-tokens", "live-threads-have-live-real-tokens",
                      "live-processes-have-live-primaries", "open-token-fds-refer-to-live-tokens",
                      "socket-snapshots-refer-to-live-tokens", "live-threads-belong-to-live-processes",
                      "live-tokens-belong-to-live-sessions", "the-anonymous-session-is-never-destroyed")
FAMILY_PREFIXES = (("token_sd_", "token-sd"), ("token_group_sid", "token-groups"), ("token_g_", "token-groups"),
                   ("token_groups", "token-groups"), ("token_privs", "token-privs"), ("token_rsid", "token-restrict"),
                   ("token_restricted", "token-restrict"), ("token_write_restricted", "token-restrict"),
                   ("token_cap", "token-conf"), ("token_conf", "token-conf"), ("token_", "token"),
                   ("proc_sd_", "proc-sd"), ("proc_", "proc"), ("thread_", "thread"), ("fd_", "fd"),
                   ("sock_", "sock"), ("sess_", "sess"))


def family(f: str) -> str:
    """A field's family: guarded fields are proved per family when the joint proof fails (a
    family holds a wider guard's fields together with its guard fields)."""
    for prefix, fam in FAMILY_PREFIXES:
        if f.startswith(prefix):
            return fam
    return f


class _NoGuards(Exception):
    """Something the proof cannot evaluate symbolically: no guarded resets."""


@dataclass
class Guarded:
    guards: dict[str, tuple[tuple[str, Any], ...]]  # field -> guard (proved)
    reasons: dict[str, str] = field(default_factory=dict)  # candidate field rejected -> why
    assumed: frozenset[str] = frozenset()  # state properties assumed as invariants by the proof
    checks: int = 0
    rounds: int = 0
    stats: dict = field(default_factory=dict)


def guarded_resets(uni: Any, pre: Any, rules: dict[str, Rule], props: dict[str, Property], outs: dict,
                   dropped: frozenset[str], valid: frozenset[tuple[str, str]], reads_of: "_Reads",
                   profile: str = "kacs", rlimit: int = GUARD_RLIMIT) -> Guarded:
    """The fields whose value under their guard the explorer may reset in its keys.

    Relation ``R``: two states are related when they are equal outside ``dropped`` and outside the
    guarded fields, and equal on every guarded field wherever its guard is false (guards only read
    fields of their own family or never guarded ones, so both states agree on them).  ``pre'``
    stands for every state related to ``pre``: a guarded field ``f`` of ``pre'`` is
    ``If(guard_f(pre), g_f, f)`` with a free function ``g_f``; the dropped fields are free
    functions.  Proved per rule (its own symbolic step, single source), assuming the
    reference-liveness invariants ``ASSUMED_INVARIANTS`` that are checked and expected to hold
    (``assumed``) on ``pre`` and ``pre'`` (the explorer explores again without the resets if it
    finds one of them violated):

    1. the rule is enabled from ``pre`` iff from ``pre'``, with the same errno and results;
    2. the post-states are related again: every field equal, except dropped fields and guarded
       fields where their guard (on the post-state) holds (an unwritten guarded field: its guard
       cannot turn false; allocation must write the fields it makes readable);
    3. every checked state property has the same verdict on ``pre`` and ``pre'``; an assumed one
       holds on ``pre'`` when the assumed ones hold on ``pre``;
    4. every checked transition property not proved one-step valid has the same verdict.

    A query is posed per family of the guarded fields its terms read, with only that family
    varying (``R`` is the composition of the per-family relations, so per-family proofs suffice:
    chain the states through hybrids; an assumed invariant carries along the chain by 3), and a
    family that fails rejects the guarded fields of it the terms read.  Repeated until nothing is
    rejected (a greatest fixpoint).  The proof itself: ``_GuardProof``."""
    return _GuardProof(uni, pre, rules, props, outs, dropped, valid, reads_of, profile, rlimit).run()


def _initial_guards(dropped: frozenset[str]) -> dict[str, tuple[tuple[str, Any], ...]]:
    """The candidate guards (``candidate_guards``), a wider guard's own fields restricted to the
    dead guard (so every guard is a function of the key); a wider guard reads its own family."""
    guards = candidate_guards(dropped)
    for f, gd in list(guards.items()):  # guard fields: only the dead guard, same family
        for g, _ in gd[1:]:
            assert family(g) == family(f), (f, g)
            if g in guards:
                guards[g] = guards[g][:1]
    return guards


def _as_bool(v: Any) -> Any:
    """A rule's enabledness as a z3 Bool (a concrete ``bool`` becomes a constant)."""
    return v if is_sym(v) else z3.BoolVal(bool(v))


class _Related(NamedTuple):
    """``pre'`` for one set of varied fields (``_GuardProof.related``)."""
    state: Any  # pre': the varied fields under their guards and the dropped fields free
    inv: list  # the assumed invariants on pre'
    outs: dict  # rule name -> the rule applied to pre' (``_GuardProof.applied``)


class _GuardProof:
    """One run of ``guarded_resets`` (its docstring states the relation ``R`` and obligations 1-4).

    Holds the shared context: the candidate guards still standing (``guards``) and why the others
    were rejected (``reasons``), the free state ``other`` the varied fields read under their guards
    and the related states ``pre'`` built from it (``related``), the settling of guards the rule's
    enabledness refutes (``settle_guards``), the solver with the generalisation of big common
    subterms (``solve``, ``_common_subterms``), the obligations per state property and per rule,
    and the per-family loop that rejects the fields of a family that fails (``settle``)."""

    def __init__(self, uni: Any, pre: Any, rules: dict[str, Rule], props: dict[str, Property], outs: dict,
                 dropped: frozenset[str], valid: frozenset[tuple[str, str]], reads_of: "_Reads",
                 profile: str, rlimit: int):
        self.uni, self.pre, self.rules, self.props, self.outs = uni, pre, rules, props, outs
        self.dropped, self.valid, self.reads_of, self.rlimit = dropped, valid, reads_of, rlimit
        self.guards = _initial_guards(dropped)
        self.reasons: dict[str, str] = {}
        self.state_props = [p for p in props.values() if p.kind == "state"]
        self.assumed_props = [p for p in self.state_props
                              if p.id in ASSUMED_INVARIANTS and p.expected(profile) == "proved"]
        self.stats = {"checks": 0}
        self.names = [s.name for s in SCHEMA]
        self.other = uni.fresh_state("grd_alt")
        self.xs_cache: dict[tuple, tuple] = {}
        self.varied: set[str] = set()  # the symbols allowed to differ in the current query
        self.other_names = {self.other.fns[n].name() for n in self.names}
        self.guard_memo: dict[tuple[int, int, bool], tuple] = {}
        self.inv_pre = self.invariants(pre)
        self.key_names = {x.decl().name()
                          for keys in [(s,) for s in ("Thread", "Process", "Token", "Session", "Socket")]
                          + [("Process", "Handle")] for x in self.xs(keys)}
        self.ctx_cache: dict[tuple, _Related] = {}

    def xs(self, keys: tuple) -> tuple:
        """The key constants of a field with key sorts ``keys`` (one shared set per key tuple)."""
        if keys not in self.xs_cache:
            self.xs_cache[keys] = tuple(self.uni.const(f"grd_x{i}_{k}", OBJ(k)) for i, k in enumerate(keys))
        return self.xs_cache[keys]

    def invariants(self, st: Any) -> list:
        """The assumed invariants (``assumed_props``) on ``st`` that are not constant."""
        out = []
        for p in self.assumed_props:
            v = p.check(st)
            if is_sym(v):
                out.append(v)
        return out

    # ---------------------------------------------------------------- pre' and the rules on it
    def related(self, vary: frozenset[str]) -> _Related:
        """pre' with the guarded fields ``vary`` (under their guards) and the dropped fields free;
        also sets the symbols the next queries' generalisation must not abstract (``varied``)."""
        pre, other, guards = self.pre, self.other, self.guards
        k = tuple(sorted((f, guards[f]) for f in vary))
        self.varied = ({pre.fns[n].name() for n in vary} | {pre.fns[n].name() for n in self.dropped}
                       | {other.fns[n].name() for n in self.names} | self.key_names)
        if k not in self.ctx_cache:
            from model.symbolic import SymState

            def alt_fn(n: str, f: Any, gd: Any):
                return lambda *key: z3.If(guard_term(pre, gd, key), other.fns[n](*key), f(*key))

            fns2 = {n: (other.fns[n] if n in self.dropped else alt_fn(n, pre.fns[n], guards[n]) if n in vary
                        else pre.fns[n]) for n in self.names}
            pre2 = SymState(self.uni, fns2)
            self.ctx_cache[k] = _Related(pre2, self.invariants(pre2), {})
        return self.ctx_cache[k]

    def applied(self, c: _Related, name: str):
        """Rule ``name`` applied to ``c.state`` with the same actor and arguments (memoised)."""
        if name not in c.outs:
            actor, args, _ = self.outs[name]
            c.outs[name] = self.rules[name].apply(c.state, actor, args)
        return c.outs[name]

    # ---------------------------------------------------------------- queries
    def _free_reads(self, goal: Any) -> list:
        """The varied reads ``If(G, g(k), f(k))`` of ``goal`` (``g`` a function of ``other``), each
        with the value of ``G`` under which the free read's branch is not taken."""
        found: dict[int, Any] = {}
        seen: set[int] = set()
        todo = [goal]
        while todo:
            e = todo.pop()
            i = e.get_id()
            if i in seen or not z3.is_app(e):
                continue
            seen.add(i)
            if e.decl().kind() == z3.Z3_OP_ITE:
                for branch, value in ((1, False), (2, True)):  # the free read's branch must not be taken
                    b = e.arg(branch)
                    if z3.is_app(b) and b.decl().name() in self.other_names:
                        found[i] = (e, value)
            todo.extend(e.children())
        return list(found.values())

    def _refuted(self, context: Any, g: Any, value: bool) -> bool:
        """Whether ``context`` and the assumed invariants of ``pre`` imply ``g == value``
        (memoised, at an eighth of ``rlimit``)."""
        mk = (context.get_id(), g.get_id(), value)
        if mk not in self.guard_memo:
            self.stats["guard_checks"] = self.stats.get("guard_checks", 0) + 1
            sv = z3.Solver()
            sv.set("rlimit", self.rlimit // 8)
            sv.add(*self.uni.axioms, *self.inv_pre, context, z3.Not(g) if value else g)
            # the terms are kept alive with the verdict: AST ids are reused once freed
            self.guard_memo[mk] = (sv.check() == z3.unsat, context, g)
        return self.guard_memo[mk][0]

    def settle_guards(self, goal: Any, context: Any) -> Any:
        """``goal`` (a conjunction with ``context``, the rule's enabledness) with every varied read
        ``If(G, g(k), f(k))`` whose guard instance ``G`` ``context`` and the assumed invariants of
        ``pre`` refute replaced by ``f(k)`` (then both sides read the same term): equisatisfiable,
        since the goal implies ``context``."""
        pairs = []
        for e, value in self._free_reads(goal):
            if self._refuted(context, e.arg(0), value):
                # the read takes its kept branch: the very term of the other side (hash-consed)
                pairs.append((e, e.arg(1) if value else e.arg(2)))
        return z3.substitute(goal, *pairs) if pairs else goal

    def solve(self, assume: list, goal: Any, context: Any = None) -> bool:
        """True iff ``assume and goal`` is proved unsatisfiable, after settling the guards that
        ``context`` refutes (``settle_guards``; a goal that becomes false needs no query)."""
        if context is not None:
            goal = self.settle_guards(goal, context)
            if z3.is_false(z3.simplify(goal)):
                self.stats["settled"] = self.stats.get("settled", 0) + 1
                return True
        ok = self._unsat(assume, goal)
        if not ok and _DEBUG:
            print("guarded_resets: not proved:", str(goal)[:_DEBUG])
        return ok

    def _unsat(self, assume: list, goal: Any) -> bool:
        """True iff ``assume and goal`` is proved unsatisfiable (within ``rlimit``): first with the
        goal's large Boolean and bit-vector subterms that read no field allowed to differ and no key constant
        generalised to fresh constants (sound for unsat: a model of the original formula is one
        of the generalised formula with each constant set to its subterm's value; the access
        checks of both sides become one constant), then as it is."""
        rlimit = self.rlimit
        self.stats["checks"] += 1
        pairs = _common_subterms(goal, self.varied, self.stats)
        tries = [(z3.substitute(goal, *pairs), [z3.substitute(a, *pairs) for a in assume], rlimit)] if pairs else []
        tries.append((goal, assume, rlimit // 4 if pairs else rlimit))
        for g, asm, rl in tries:
            sv = z3.Solver()
            sv.set("rlimit", rl)
            sv.add(*self.uni.axioms, *asm, g)
            res = sv.check()
            if res == z3.unsat:
                return True
            if res == z3.unknown:  # out of resources: the original formula is no easier
                return False
        return False

    # ---------------------------------------------------------------- obligations
    # An obligation is (label, terms read, check): ``check(vary)`` proves it with the fields
    # ``vary`` varying; it is posed only for the families of the guarded fields ``terms`` read.
    def state_obligation(self, p: Property):
        """(terms read, check) of obligation 3 for the state property ``p``."""
        v1 = p.check(self.pre)

        def run(vary: frozenset[str]) -> bool:
            pre2, inv2, _ = self.related(vary)
            v2 = p.check(pre2)
            if p in self.assumed_props:
                return self.solve(self.inv_pre, z3.Not(v2))
            return self.solve(self.inv_pre + inv2, v1 != v2)
        return ([v1] if is_sym(v1) else []), run

    def rule_obligations(self, name: str):
        """(label, terms read, check) per obligation 1, 2, 4 of rule ``name`` (lazily: the terms of
        an obligation are built after the previous one is settled)."""
        o = self.outs[name][2]
        en1 = _as_bool(o.enabled)
        yield self._outcome_obligation(name, o, en1)
        yield from self._post_obligations(name, o, en1)
        yield from self._transition_obligations(name, o, en1)

    def _outcome_obligation(self, name: str, o: Any, en1: Any):
        """Obligation 1: the same enabledness, errno and (on success) results from ``pre'``."""
        obs1 = [o.errno, *_flatten(o.ret)]

        def ob1(vary):
            c = self.related(vary)
            o2 = self.applied(c, name)
            en2 = _as_bool(o2.enabled)
            obs2 = [o2.errno, *_flatten(o2.ret)]
            if len(obs1) != len(obs2):
                return False
            # results matter on success only (the explorer observes the errno, and a failing
            # step's results are not used)
            ok = obs1[0] == 0 if is_sym(obs1[0]) else z3.BoolVal(obs1[0] == 0)
            diff = [z3.And(ok, a != b) for a, b in zip(obs1[1:], obs2[1:]) if is_sym(a) or is_sym(b)]
            if is_sym(obs1[0]) or is_sym(obs2[0]):
                diff.append(obs1[0] != obs2[0])
            asm = self.inv_pre + c.inv
            return (self.solve(asm, z3.And(en1, z3.Not(en2)), en1) and self.solve(asm, z3.And(en2, z3.Not(en1)), en2)
                    and (not diff or self.solve(asm, z3.And(en1, z3.Or(*diff)), en1)))
        return f"{name}'s preconditions, errno or results", [en1, *obs1], ob1

    def _post_obligations(self, name: str, o: Any, en1: Any):
        """Obligation 2 per field not dropped: a written field equal on both post-states (outside
        its guard on the post-state); an unwritten guarded field's guard does not turn false."""
        pre, guards = self.pre, self.guards
        for spec in SCHEMA:
            h = spec.name
            if h in self.dropped:
                continue
            k = self.xs(spec.keys)
            new1 = o.post.fns[h]
            if new1 is pre.fns[h]:
                if h in guards:
                    def ob_keep(vary, h=h, k=k):
                        c = self.related(vary)
                        if h not in vary:
                            return True
                        g_pre, g_post = guard_term(pre, guards[h], k), guard_term(o.post, guards[h], k)
                        return self.solve(self.inv_pre + c.inv, z3.And(en1, g_pre, z3.Not(g_post)), en1)
                    yield f"{name} (the guard of {h} may turn false without a write)", \
                        [guard_term(pre, guards[h], k), guard_term(o.post, guards[h], k), pre.fns[h](*k)], ob_keep
                continue
            t1 = new1(*k)

            def ob_post(vary, h=h, k=k, t1=t1):
                c = self.related(vary)
                o2 = self.applied(c, name)
                cond = z3.And(en1, t1 != o2.post.fns[h](*k))
                if h in guards:
                    cond = z3.And(cond, z3.Not(guard_term(o.post, guards[h], k)))
                return self.solve(self.inv_pre + c.inv, cond, en1)
            yield f"{name}'s new value of {h}", [t1] + ([pre.fns[h](*k)] if h in guards else []), ob_post

    def _transition_obligations(self, name: str, o: Any, en1: Any):
        """Obligation 4: the same verdict of every checked transition property that applies to
        rule ``name`` and is not one-step valid (``_NoGuards`` if one does not run symbolically)."""
        actor, args, _ = self.outs[name]
        for p in self.props.values():
            if p.kind != "transition" or (p.rules is not None and name not in p.rules) or (p.id, name) in self.valid:
                continue
            try:
                v1 = p.check(self.pre, o.post, StepInfo(name, actor, args, o.errno))
            except Exception as e:  # cannot be evaluated symbolically: no guarded resets at all
                raise _NoGuards(f"the transition property {p.id} does not run symbolically ({type(e).__name__})")
            if not is_sym(v1):
                continue

            def ob_trans(vary, p=p, v1=v1):
                c = self.related(vary)
                o2 = self.applied(c, name)
                v2 = p.check(c.state, o2.post, StepInfo(name, actor, args, o2.errno))
                return self.solve(self.inv_pre + c.inv, z3.And(en1, v1 != v2), en1)
            yield f"the transition property {p.id} ({name})", [v1], ob_trans

    # ---------------------------------------------------------------- the per-family fixpoint
    def settle(self, label: str, terms: list, run) -> bool:
        """Check one obligation per family of the guarded fields ``terms`` read; reject the fields
        of each family that fails.  True if something was rejected."""
        rd = self.reads_of(terms) & set(self.guards)
        if not rd:
            return False
        bad: set[str] = set()
        for fam in sorted({family(f) for f in rd}):
            vary = frozenset(f for f in self.guards if family(f) == fam)
            if not run(vary):
                bad |= {f for f in rd if family(f) == fam}
        if not bad:
            return False
        self._reject(bad, label)
        return True

    def _reject(self, bad: set[str], label: str) -> None:
        """Drop the guards of ``bad`` (``label`` may read them under their guards); a guard that
        reads a rejected field is narrowed to the dead guard."""
        for f in bad:
            self.reasons.setdefault(f, f"{label} may read it under its guard")
            del self.guards[f]
        for h, gd in list(self.guards.items()):  # a rejected guard field leaves only the dead guard
            if any(g in bad for g, _ in gd):
                self.guards[h] = gd[:1]

    def run(self) -> Guarded:
        """Settle every obligation, state properties first, then rule by rule, until a round
        rejects nothing (the greatest fixpoint); nothing is guarded if one cannot be evaluated."""
        stats = self.stats
        rounds = 0
        changed = True
        while changed:
            rounds += 1
            changed = False
            try:
                for p in self.state_props:
                    terms, run = self.state_obligation(p)
                    changed |= self.settle(f"the state property {p.id}", terms, run)
                for name in self.rules:
                    for label, terms, run in self.rule_obligations(name):
                        changed |= self.settle(label, terms, run)
            except _NoGuards as e:
                return Guarded({}, {"*": str(e)}, frozenset(), stats["checks"], rounds, stats)
        return Guarded(dict(self.guards), self.reasons, frozenset(p.id for p in self.assumed_props),
                       stats["checks"], rounds, stats)


_CONNECTIVES = frozenset({z3.Z3_OP_AND, z3.Z3_OP_OR, z3.Z3_OP_NOT, z3.Z3_OP_IMPLIES, z3.Z3_OP_ITE, z3.Z3_OP_XOR,
                          z3.Z3_OP_EQ, z3.Z3_OP_DISTINCT, z3.Z3_OP_IFF})


def _common_subterms(goal: Any, blocked: set[str], stats: dict, min_size: int = 24) -> list:
    """(subterm, fresh constant) pairs for the maximal Boolean and bit-vector subterms of ``goal``
    (of at least ``min_size`` nodes, not the goal itself) that apply none of the symbols
    ``blocked`` and are not connectives (and, or, not, if-then-else, equality, ...: the search
    descends through them, so related conditions, e.g. an errno chain and the condition of a
    write, keep their shared atoms)."""
    info: dict[int, tuple[bool, int]] = {}
    stack = [(goal, False)]
    while stack:
        e, done = stack.pop()
        i = e.get_id()
        if i in info:
            continue
        kids = e.children() if z3.is_app(e) else ([e.body()] if z3.is_quantifier(e) else [])
        if not done:
            stack.append((e, True))
            stack.extend((c, False) for c in kids if c.get_id() not in info)
            continue
        hit = z3.is_quantifier(e) or (z3.is_app(e) and e.decl().name() in blocked)
        size = 1
        for c in kids:
            ch, cs = info[c.get_id()]
            hit = hit or ch
            size = min(size + cs, 1 << 20)
        info[i] = (hit, size)
    pairs: list = []
    seen: set[int] = set()
    todo = [goal]
    while todo:
        e = todo.pop()
        i = e.get_id()
        if i in seen:
            continue
        seen.add(i)
        hit, size = info[i]
        if (not hit and size >= min_size and i != goal.get_id() and (z3.is_bool(e) or z3.is_bv(e))
                and not (z3.is_app(e) and e.decl().kind() in _CONNECTIVES)):
            stats["generalised"] = stats.get("generalised", 0) + 1
            pairs.append((e, z3.Const(f"grd_c{stats['generalised']}", e.sort())))
            continue
        if z3.is_app(e):
            todo.extend(e.children())
    return pairs
