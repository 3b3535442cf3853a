"""The concrete executor's speed-ups change nothing (benchmarks/executor_throughput.py
measures the speed; these tests only check semantics, deterministically).

* Value layer: every concrete fast path gives the value of the plain
  definition; ``and_lazy``/``or_lazy`` give exactly ``and_``/``or_`` (the same
  z3 terms on the symbolic backend, also for the reclamation rules that use
  them).
* ``Step.finish`` on a concrete state (effects applied directly) gives the
  same outcome and post-state as the reference path (every ``Write`` built
  and applied one by one by ``with_writes``), in random walks of every rule.
* ``collect_garbage(..., since=)`` (reclamation offered only to candidates)
  gives the same reclamations, in the same order, and the same state as the
  full pass over every token and session, after every step of random walks;
  and every reclaimable object is among the candidates.
* Universe bookkeeping (``next_free``, ``copy_with_universe``) agrees with its
  definition.
* ``BV`` operators and ``clear`` (direct construction) give the plain
  definitions; alive lists carried across steps (no universe scan) are the
  definition; a scheduled collection offers a candidate again only after a
  reclamation made it one again, with the full pass's records.
"""

from __future__ import annotations

import itertools
import random
from contextlib import contextmanager
from typing import Any

import pytest
import z3

import model.step as step_mod
from model import domain as D
from model import values as V
from model.concrete import ConcreteState, Ids, as_ids, next_free
from model.reclaim import collect_garbage, collect_garbage_full, reclaim_candidates
from model.rules import RULES
from model.rules import lifecycle
from model.scenarios import standard
from model.sim import ModelPreconditionError, Simulator, apply_rule
from model.state import ALIVE_FIELD, SCHEMA, THREAD, TOKEN, SESSION
from model.symbolic import Universe
from model.values import BV
from tokenproof.statefile import exact_equal


@contextmanager
def reference_finish():
    """``Step.finish`` through ``Write`` objects and ``with_writes`` (the slow reference path)."""
    old = step_mod.FAST_FINISH
    step_mod.FAST_FINISH = False
    try:
        yield
    finally:
        step_mod.FAST_FINISH = old


def same_state(a: ConcreteState, b: ConcreteState) -> None:
    """ConcreteState equality over every field at every key, plus the exact dump equality."""
    assert a.universe == b.universe
    assert a.snapshot() == b.snapshot()
    assert exact_equal(a, b)
    for f in SCHEMA:  # also the stored Python types (bool stays bool, ids stay int)
        ra, rb = a.raw(f.name), b.raw(f.name)
        if f.keys:
            assert {k: (type(v), v) for k, v in ra.items()} == {k: (type(v), v) for k, v in rb.items()}, f.name
        else:
            assert (type(ra), ra) == (type(rb), rb), f.name


# ====================================================================== value layer
def _ref_and(*xs):
    sym = []
    for x in xs:
        if isinstance(x, z3.ExprRef):
            sym.append(x)
        elif not x:
            return False
    if not sym:
        return True
    return sym[0] if len(sym) == 1 else z3.And(*sym)


def _ref_or(*xs):
    sym = []
    for x in xs:
        if isinstance(x, z3.ExprRef):
            sym.append(x)
        elif x:
            return True
    if not sym:
        return False
    return sym[0] if len(sym) == 1 else z3.Or(*sym)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, z3.ExprRef) or isinstance(b, z3.ExprRef):
        return isinstance(a, z3.ExprRef) and isinstance(b, z3.ExprRef) and a.eq(b)
    return type(a) is type(b) and a == b


def _values(rng: random.Random) -> Any:
    return rng.choice([True, False, 0, 1, 2, 7, 0xFF, BV(0, 4), BV(5, 4), BV(0xF, 4), BV(3, 8), -1, 1 << 20])


def test_value_fast_paths_agree_with_the_definitions():
    rng = random.Random(5)
    for _ in range(3000):
        a, b, c = _values(rng), _values(rng), _values(rng)
        assert _same(V.and_(a, b, c), _ref_and(a, b, c))
        assert _same(V.or_(a, b, c), _ref_or(a, b, c))
        assert _same(V.not_(a), not a)
        assert _same(V.ite(a, b, c), b if bool(a) else c)
        assert _same(V.eq(a, b), a == b)
        assert _same(V.ne(a, b), not (a == b))
        assert _same(V.ult(a, b), int(a) < int(b))
        assert _same(V.ule(a, b), int(a) <= int(b))
        assert _same(V.iff(a, b), bool(a) == bool(b))
        if not isinstance(a, bool) or not isinstance(b, bool):
            assert _same(V.has_all(a, b), (a & b) == b)
            assert _same(V.has_any(a, b), not ((a & b) == 0))


def test_lazy_connectives_are_the_eager_ones():
    x, y = z3.Bools("x y")
    vals = [True, False, 0, 1, x, y]
    for n in range(4):
        for combo in itertools.product(vals, repeat=n):
            for lazy_mask in range(1 << n):
                args = [(lambda v=v: v) if lazy_mask >> i & 1 else v for i, v in enumerate(combo)]
                assert _same(V.and_lazy(*args), V.and_(*combo)), combo
                assert _same(V.or_lazy(*args), V.or_(*combo)), combo
    # a thunk after a concretely decisive argument is not called
    assert V.and_lazy(x, False, lambda: 1 / 0) is False
    assert V.or_lazy(y, 1, lambda: 1 / 0) is True


def _eager(fn):
    def eager(*xs):
        return fn(*[x() if callable(x) and not isinstance(x, z3.ExprRef) else x for x in xs])
    return eager


@pytest.mark.parametrize("name", ["kernel_free_token", "kernel_destroy_session"])
def test_reclamation_rules_build_the_same_terms_as_with_eager_connectives(name, monkeypatch):
    """The reclamation rules use ``and_lazy``/``or_lazy`` (a profile hot spot); with the eager
    ``and_``/``or_`` in their place the symbolic transition is the very same term."""
    rule = RULES[name]
    uni = Universe("finite", {"Thread": 2, "Process": 2, "Token": 3, "Handle": 1, "Session": 2, "Socket": 1})
    pre = uni.fresh_state("pre")
    args = {a.name: uni.elements[a.type.sort][1] for a in rule.args}

    def facts(out):
        post = out.post
        return [out.enabled, out.errno] + [post.view("token_alive")(t) for t in uni.elements["Token"]] + [
            post.view(f)(e) for f in ("sess_alive", "sess_linked") for e in uni.elements["Session"]]

    lazy = facts(rule.apply(pre, None, args))
    monkeypatch.setattr(lifecycle, "and_lazy", _eager(V.and_))
    monkeypatch.setattr(lifecycle, "or_lazy", _eager(V.or_))
    eager = facts(rule.apply(pre, None, args))
    for a, b in zip(lazy, eager):
        a = a if isinstance(a, z3.ExprRef) else z3.BoolVal(a) if isinstance(a, bool) else z3.BitVecVal(int(a), 8)
        b = b if isinstance(b, z3.ExprRef) else z3.BoolVal(b) if isinstance(b, bool) else z3.BitVecVal(int(b), 8)
        assert a.eq(b)


def test_unbounded_reclamation_rules_still_build():
    for name in ("kernel_free_token", "kernel_destroy_session"):
        uni = Universe("unbounded")
        rule = RULES[name]
        out = rule.apply(uni.fresh_state("pre"), None, {a.name: uni.const(a.name, a.type) for a in rule.args})
        assert isinstance(out.enabled, z3.ExprRef)


# ====================================================================== universes
def test_next_free_and_universe_union_agree_with_their_definitions():
    rng = random.Random(11)
    for _ in range(2000):
        ids = sorted(rng.sample(range(0, 40), rng.randrange(0, 25)))
        start = rng.randrange(0, 12)
        want = next(n for n in itertools.count(start) if n not in ids)
        assert next_free(as_ids(ids), start) == want == next_free(list(ids), start)
        assert type(as_ids(ids)) is Ids
        s = ConcreteState.empty()
        s.universe = {**s.universe, "Token": as_ids(ids)}
        new = [rng.randrange(0, 50) for _ in range(rng.randrange(0, 3))]
        t = s.copy_with_universe("Token", new)
        assert t.universe["Token"] == tuple(sorted(set(ids) | set(new)))
        assert type(t.universe["Token"]) is Ids
        if set(new) <= set(ids):
            assert t is s
    assert as_ids((3, 1)) == (3, 1) and type(as_ids((3, 1))) is tuple  # not sorted: left alone


# ====================================================================== random walks
RIGHTS = [0, int(D.TOKEN_QUERY), int(D.TOKEN_DUPLICATE), int(D.TOKEN_IMPERSONATE), int(D.TOKEN_ALL_ACCESS),
          int(D.MAXIMUM_ALLOWED), int(D.TOKEN_ASSIGN_PRIMARY | D.TOKEN_DUPLICATE | D.TOKEN_QUERY)]
PRIVS = [0, int(D.SE_IMPERSONATE), int(D.SE_TCB), int(D.SE_CHANGE_NOTIFY), int(D.ALL_PRIVILEGES)]
INTEGRITY = [int(D.IL_UNTRUSTED), int(D.IL_LOW), int(D.IL_MEDIUM), int(D.IL_HIGH), int(D.IL_SYSTEM)]
LIFECYCLE_AND_IMPERSONATION = ["fork", "clone_thread", "thread_exit", "process_exit", "close_handle", "exec",
                               "set_cloexec", "kacs_revert", "socket_create", "socket_connect", "socket_close",
                               "kacs_impersonate_peer", "kacs_set_impersonation_level", "ioctl_impersonate"]


def pick_call(rng: random.Random, state: ConcreteState, rule) -> tuple[Any, dict[str, Any]]:
    actor = None
    if not rule.kernel:
        live = state.alive("Thread")
        actor = rng.choice(live) if live and rng.random() < 0.97 else rng.choice(list(state.universe["Thread"]))
    args: dict[str, Any] = {}
    for a in rule.args:
        t = a.type
        if a.fresh and rng.random() < 0.95:
            args[a.name] = None
        elif t.kind == "bool":
            args[a.name] = rng.random() < 0.5
        elif t.kind == "sid":
            args[a.name] = rng.choice(sorted(D.WELL_KNOWN_SIDS) + ["S-1-5-21-1-1-1-1001"])
        elif t.kind == "obj" and t.sort == "Handle":
            p = state.value("thread_proc", actor) if actor is not None else None
            fds = [h for h in state.universe["Handle"] if p is not None and state.value("fd_open", (p, h))]
            args[a.name] = rng.choice(fds) if fds and rng.random() < 0.9 else rng.choice([3, 4, 5])
        elif t.kind == "obj":
            live = state.alive(t.sort)
            args[a.name] = rng.choice(live) if live and rng.random() < 0.9 else rng.choice(
                list(state.universe[t.sort]) or [1])
        elif a.fmt == "rights":
            args[a.name] = rng.choice(RIGHTS)
        elif a.fmt == "privileges":
            args[a.name] = rng.choice(PRIVS)
        elif a.fmt == "level" or t.width == 2:
            args[a.name] = BV(rng.randrange(4), t.width) if rng.random() < 0.5 else rng.randrange(4)
        elif a.fmt == "integrity":
            args[a.name] = rng.choice(INTEGRITY)
        else:
            args[a.name] = rng.choice([0, 1, 2, 3, (1 << t.width) - 1])
    return actor, args


def _apply(state, rule, actor, args):
    try:
        return apply_rule(state, rule, actor, args)
    except ModelPreconditionError:
        return None


def assert_reclaimable_are_candidates(since: ConcreteState, post: ConcreteState) -> None:
    """Completeness of the scheduling, directly: a live token or session that is not a
    candidate is not reclaimable."""
    cands = reclaim_candidates(since, post)
    assert cands is not None
    for name, key, sort in (("kernel_free_token", "token", "Token"), ("kernel_destroy_session", "session", "Session")):
        for oid in post.alive(sort):
            if oid in cands[sort]:
                continue
            out = RULES[name].apply(post, None, {key: oid})
            assert not (out.enabled and int(out.errno) == 0), f"{sort} {oid} reclaimable but not a candidate"


def lockstep_walk(seed: int, steps: int, names: list[str]) -> int:
    """Two runs from the standard world with the same calls: optimised (concrete ``finish``,
    scheduled reclamation) and reference (``Write`` by ``Write``, full reclamation pass),
    compared after every step and every reclamation.  Returns how many reclamations happened."""
    rng = random.Random(seed)
    fast, ref = standard().state, standard().state
    fixpoint = None
    reclaimed = 0
    for _ in range(steps):
        rule = RULES[rng.choice(names)]
        actor, args = pick_call(rng, fast, rule)
        out_f = _apply(fast, rule, actor, args)
        with reference_finish():
            out_r = _apply(ref, rule, actor, args)
        assert (out_f is None) == (out_r is None), rule.name
        if out_f is None:
            continue
        assert bool(out_f.enabled) == bool(out_r.enabled) and int(out_f.errno) == int(out_r.errno), rule.name
        assert out_f.ret == out_r.ret, rule.name
        assert (out_f.post is out_f.pre) == (out_r.post is out_r.pre), rule.name
        same_state(out_f.post, out_r.post)
        if fixpoint is not None:
            assert_reclaimable_are_candidates(fixpoint, out_f.post)
        fast, recs_f = collect_garbage(out_f.post, since=fixpoint)
        with reference_finish():
            ref, recs_r = collect_garbage_full(out_r.post)
        assert [(r.rule, r.args) for r in recs_f] == [(r.rule, r.args) for r in recs_r], rule.name
        for a, b in zip(recs_f, recs_r):
            same_state(a.outcome.post, b.outcome.post)
        same_state(fast, ref)
        reclaimed += len(recs_f)
        fixpoint = fast
    return reclaimed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lifecycle_and_impersonation_walks_agree_with_the_reference(seed):
    assert lockstep_walk(seed, 160, LIFECYCLE_AND_IMPERSONATION) > 0


@pytest.mark.parametrize("seed", [4, 5])
def test_walks_of_every_rule_agree_with_the_reference(seed):
    assert lockstep_walk(seed, 220, sorted(RULES)) >= 0


def test_scheduled_collection_handles_linked_pairs_and_session_destruction():
    """A walk that creates linked pairs and lets processes exit: the sessions family and
    process_exit drive both reclamation rules (tokens held by pairs, whole sessions)."""
    names = sorted(RULES)
    kinds = set()
    for seed in range(20, 26):
        rng = random.Random(seed)
        fast = standard().state
        fixpoint = None
        for _ in range(150):
            rule = RULES[rng.choice(names + ["process_exit"] * 6 + ["thread_exit"] * 3)]
            actor, args = pick_call(rng, fast, rule)
            out = _apply(fast, rule, actor, args)
            if out is None:
                continue
            full_state, full_recs = collect_garbage_full(out.post)
            fast, recs = collect_garbage(out.post, since=fixpoint)
            assert [(r.rule, r.args) for r in recs] == [(r.rule, r.args) for r in full_recs]
            same_state(fast, full_state)
            kinds |= {r.rule for r in recs}
            fixpoint = fast
    assert kinds == {"kernel_free_token", "kernel_destroy_session"}


def test_simulator_schedules_and_agrees_with_the_reference():
    """The Simulator's own collections (scheduled after the first) against apply_rule plus the
    full reference collection."""
    rng = random.Random(9)
    sim = Simulator(standard())
    ref = standard().state
    for _ in range(150):
        rule = RULES[rng.choice(LIFECYCLE_AND_IMPERSONATION)]
        actor, args = pick_call(rng, sim.state, rule)
        try:
            rec = sim.call(rule.name, actor, **args)
        except ModelPreconditionError:
            continue
        with reference_finish():
            out = apply_rule(ref, rule, actor, args)
            ref, recs = collect_garbage_full(out.post)
        assert [(r.rule, r.args) for r in rec.kernel_followups] == [(r.rule, r.args) for r in recs]
        same_state(sim.state, ref)


def _checked_sim_call(sim: Simulator, rule: str, actor: Any, **args: Any):
    """``sim.call`` (scheduled collection) checked against the full collection of the same post-state."""
    rec = sim.call(rule, actor, **args)
    full, full_recs = collect_garbage_full(rec.outcome.post)
    assert [(r.rule, r.args) for r in rec.kernel_followups] == [(r.rule, r.args) for r in full_recs]
    same_state(sim.state, full)
    return rec


def test_a_replaced_reference_frees_the_old_token():
    """Candidates include the *old* value of a changed reference: impersonating again replaces
    the thread's impersonation token (IMP-27), and the kernel frees the first copy; the same
    for exec's lowered primary replacing the old one, and for closing the last fd."""
    w = standard()
    sim = Simulator(w)
    server = w.names["Process"]["server"]
    k = _checked_sim_call(sim, "socket_create", "sh1", server=server, capturing=True).args["socket"]
    _checked_sim_call(sim, "socket_connect", "sh1", socket=k)
    first = _checked_sim_call(sim, "kacs_impersonate_peer", "srv1", socket=k)
    copy1 = sim.state.value("thread_imp_token", w.names["Thread"]["srv1"])
    assert first.errno == 0 and sim.state.value("token_alive", copy1)
    again = _checked_sim_call(sim, "kacs_impersonate_peer", "srv1", socket=k)
    assert again.errno == 0
    assert ("kernel_free_token", {"token": copy1}) in [(r.rule, r.args) for r in again.kernel_followups]
    # the peer snapshot is the last reference to nothing new; closing the socket drops it
    _checked_sim_call(sim, "socket_close", "sh1", socket=k)
    _checked_sim_call(sim, "kacs_revert", "srv1")
    # exec with NEW_PROCESS_MIN and a Low executable: a lowered primary replaces bob's token
    bob_tok = w.names["Token"]["bob"]
    rec = _checked_sim_call(sim, "exec", "bob1", file_labelled=True, file_level=int(D.IL_LOW))
    assert rec.outcome.ret["lowered"] is True
    assert ("kernel_free_token", {"token": bob_tok}) in [(r.rule, r.args) for r in rec.kernel_followups]


def test_collection_without_a_known_delta_is_the_full_pass():
    """``since`` that is not the step's origin (or a state edited in place) falls back to the full pass."""
    w = standard()
    sim = Simulator(w, auto_gc=False)
    sim.call("process_exit", "bob1")
    unrelated = standard().state
    assert reclaim_candidates(unrelated, sim.state) is None
    state, recs = collect_garbage(sim.state, since=unrelated)
    full, full_recs = collect_garbage_full(sim.state)
    assert [(r.rule, r.args) for r in recs] == [(r.rule, r.args) for r in full_recs] and recs
    same_state(state, full)
    # an in-place edit gives the state a new generation: no delta from its old self
    s = standard().state
    before = s.__dict__["_gen"]
    s.set("thread_impersonating", s.alive("Thread")[0], True)
    assert s.__dict__["_gen"] != before and s.__dict__["_delta"] is None


def test_mutant_reclamation_rules_get_the_full_pass():
    from tokenproof.mutants import load_seeded

    m = load_seeded()["free-token-ignores-fds"]
    rules = m.rules()
    s = standard().state
    assert reclaim_candidates(s, s, rules) is None
    assert reclaim_candidates(s, s, RULES) == {"Token": set(), "Session": set()}


# ====================================================================== Step.finish
def test_finish_fast_and_reference_agree_on_guards_and_unguarded_effects():
    """Every rule, applied at many random states, on both finish paths (the walks above cover
    sequences; this covers failing guards and set_now effects at fixed states)."""
    rng = random.Random(17)
    state = standard().state
    for _ in range(250):
        rule = RULES[rng.choice(sorted(RULES))]
        actor, args = pick_call(rng, state, rule)
        out_f = _apply(state, rule, actor, args)
        with reference_finish():
            out_r = _apply(state, rule, actor, args)
        assert (out_f is None) == (out_r is None)
        if out_f is None:
            continue
        assert int(out_f.errno) == int(out_r.errno) and out_f.ret == out_r.ret
        same_state(out_f.post, out_r.post)
        if rng.random() < 0.3:
            state, _ = collect_garbage_full(out_f.post)


def test_direct_application_normalises_like_with_writes():
    """``ConcreteState._apply_fast`` (what a concrete ``finish`` calls) against ``with_writes``
    for point, bulk and row writes of non-canonical values: ints into Booleans, ``BV``s and
    out-of-width ints into bit-vectors, ``BV``/``bool`` object ids, repeated keys."""
    from model.state import Write

    rng = random.Random(23)
    base = standard().state
    fields = [f for f in SCHEMA]

    def value_for(t):
        if t.kind == "bool":
            return rng.choice([True, False, 0, 1, 2, BV(1, 1)])
        if t.kind == "bv":
            return rng.choice([0, 1, (1 << t.width) - 1, 1 << t.width, (1 << t.width) + 3, -1,
                               BV(3, t.width), True, False])
        if t.kind == "obj":
            return rng.choice([1, 2, -1, BV(2, 8), True])
        return rng.choice(["S-1-5-18", "S-1-1-0", 7])

    for _ in range(300):
        entries, writes = [], []
        for _ in range(rng.randrange(1, 8)):
            f = rng.choice(fields)
            if rng.random() < 0.2 and f.keys:
                v = value_for(f.type)
                cut = rng.random() < 0.5

                def where(*k, v=v, cut=cut):
                    return (cut or k[0] % 2 == 0), v
                rows = None
                if len(f.keys) == 2:
                    p = rng.choice(base.universe["Process"])
                    rows = [(p, h) for h in (3, 4, 5)]
                entries.append((f.name, None, None, True, where, rows))  # Step's pending-effect tuples
                writes.append(Write(f.name, where=where, rows=rows))
                continue
            key = () if not f.keys else tuple(rng.choice(list(base.universe[k]) or [3]) for k in f.keys)
            v = value_for(f.type)
            entries.append((f.name, key, v, True, None, None))
            writes.append(Write(f.name, key=key, value=v, when=True))
        ref = base.with_writes(writes)
        same_state(base._apply_fast(entries), ref)
        for delta in (True, False):  # linear states: written in place (into copies of base's dicts)
            lin = base.linear(delta=delta)
            post = lin._apply_fast(entries)
            same_state(post, ref)
            assert all(dict(post.raw(f.name)) == dict(ref.raw(f.name)) for f in fields if f.keys)  # stored too


def test_in_place_data_edits_stay_visible():
    """``_data[...] = ...`` (used by tests to plant data outside the universe) still works."""
    s = standard().state
    s._data["token_alive"] = {**s._data["token_alive"], 99: True}
    assert s.raw("token_alive")[99] is True and s.token_alive[99] is True
    assert s.token_alive[12345] is False  # the default for a key it does not store
    assert s.view("token_alive")(99) is True


def test_states_pickle_and_copy():
    import copy
    import pickle

    sim = Simulator(standard())
    sim.call("fork", "sh1")
    s = sim.state
    for t in (pickle.loads(pickle.dumps(s)), copy.deepcopy(s)):
        same_state(t, s)
        assert t.token_alive[12345] is False


# ====================================================================== universe lineage, quantifiers
def _slow_added(old: dict, new: dict) -> dict | None:
    """The definition: per sort, the ids of ``new`` not in ``old`` (None if ``old`` is not contained)."""
    if set(old) - set(new):
        return None
    out = {}
    for sort, ids in new.items():
        o = set(old.get(sort, ()))
        if not o <= set(ids):
            return None
        if set(ids) - o:
            out[sort] = sorted(set(ids) - o)
    return out


def test_universe_lineage_agrees_with_the_definition():
    """``universe_added`` (what scheduled collection uses instead of comparing whole universes)
    gives the ids a chain of ``copy_with_universe`` calls appended, or None when it cannot
    tell; never a wrong answer, also after in-place edits of a universe dict."""
    from model.concrete import UniverseDict, universe_added

    rng = random.Random(31)
    told = 0
    for _ in range(400):
        base = standard().state
        states = [base]
        s = base
        for _ in range(rng.randrange(0, 6)):
            sort = rng.choice(["Token", "Socket", "Thread", "Session"])
            ids = list(s.universe[sort])
            # mostly fresh ids past the end (what allocate_fresh makes), sometimes a gap or an old id
            new = rng.choice([[max(ids, default=0) + 1], [max(ids, default=0) + rng.randrange(1, 4)],
                              [rng.choice(ids or [1])], [0], [max(ids, default=0) + 1, max(ids, default=0) + 2]])
            s = s.copy_with_universe(sort, new)
            states.append(s)
        if rng.random() < 0.15 and type(s.universe) is UniverseDict:  # an in-place edit of the newest dict
            s.universe["Token"] = Ids(tuple(s.universe["Token"]) + (10_000,))
        for a in states:
            want = _slow_added(a.universe, s.universe)
            got = universe_added(a.universe, s.universe)
            if got is not None:
                told += 1
                assert want is not None
                assert {k: v for k, v in got.items() if v} == want
    assert told > 300
    unrelated = standard().state
    assert universe_added(unrelated.universe, standard().state.universe) is None


def test_pair_quantifiers_are_the_nested_ones():
    """``ConcreteState.exists2``/``forall2`` (one loop) against ``State``'s nested definition:
    the same result and the same calls, in the same order."""
    from model.state import State

    rng = random.Random(37)
    s = standard().state
    for _ in range(200):
        table = {(a, b): rng.random() < 0.85 for a in s.universe["Process"] for b in range(-2, 6)}
        s.universe = {**s.universe, "Handle": Ids(tuple(range(rng.randrange(0, 4))))}
        for q in ("exists2", "forall2"):
            calls_fast, calls_ref = [], []

            def fn(a, b, log):
                log.append((a, b))
                v = table[a, b]
                return v if q == "forall2" else not v

            fast = getattr(ConcreteState, q)(s, "Process", "Handle", lambda a, b: fn(a, b, calls_fast))
            ref = getattr(State, q)(s, "Process", "Handle", lambda a, b: fn(a, b, calls_ref))
            assert fast == ref and type(fast) is bool and calls_fast == calls_ref


def test_eq_is_the_equality_operator_on_both_backends():
    x = z3.BitVec("x", 8)
    b = z3.Bool("b")
    assert V.eq(x, 3).eq(x == 3) and V.eq(3, x).eq(3 == x) and V.eq(b, True).eq(b == True)  # noqa: E712
    assert V.eq(BV(3, 8), 3) is True and V.eq("S-1-5-18", "S-1-5-18") is True and V.eq(1, 2) is False


def test_outcomes_copy_and_steps_keep_subclass_attributes():
    """``Outcome`` and ``Step`` have slots now: copies keep every field, and a ``Step``
    subclass (the mutants') still keeps attributes of its own."""
    import copy

    from tokenproof.mutants import MutantStep

    w = standard()
    out = apply_rule(w.state, RULES["kacs_revert"], w.names["Thread"]["sh1"], {})
    back = copy.copy(out)
    assert (back.pre, back.post, back.enabled, back.errno, back.ret) == (out.pre, out.post, out.enabled,
                                                                          out.errno, out.ret)
    st = MutantStep(standard().state, None, {}, drop_guard=0)
    st.require(False, 5)  # the dropped guard
    assert st.n_guards == 1 and st.errno == D.OK


def test_alive_lists_agree_with_the_definition():
    """``alive`` (cached along a lineage, validated by identity): asked of any state of a
    walk, in any order (old states, discarded branches, fresh ones), it is the definition:
    the ids of the universe, in order, whose alive field is true."""
    rng = random.Random(41)
    names = sorted(RULES)
    for seed in range(3):
        state = standard().state
        seen = [state]
        fixpoint = None
        for i in range(150):
            rule = RULES[rng.choice(names + ["socket_create", "socket_close", "fork", "thread_exit"] * 3)]
            actor, args = pick_call(rng, state, rule)
            out = _apply(state, rule, actor, args)
            if out is None:
                continue
            seen += [out.pre, out.post]
            state, recs = collect_garbage(out.post, since=fixpoint)
            fixpoint = state
            seen += [r.outcome.post for r in recs] + [state]
            for s in [state] + rng.sample(seen, min(3, len(seen))):
                sort = rng.choice(["Thread", "Process", "Token", "Session", "Socket"])
                d = s.raw(ALIVE_FIELD[sort])
                assert s.alive(sort) == [x for x in s.universe[sort] if d.get(x, False)], (seed, i, sort)
        for s in seen:
            for sort in ("Thread", "Process", "Token", "Session", "Socket"):
                d = s.raw(ALIVE_FIELD[sort])
                assert s.alive(sort) == [x for x in s.universe[sort] if d.get(x, False)]


# ====================================================================== BV operators, carried alive lists, offers
def _ref_bv_op(a: BV, b: Any, op) -> BV:
    """The definition the operators had: ``BV(op(int(a), int(b)), a.width)``."""
    return BV(op(int(a), int(b)), a.width)


def test_bv_operators_and_clear_are_the_definitions():
    """The direct constructions in ``BV.__or__``/``__and__``/``__xor__``/``__invert__`` and
    ``clear`` give the value, type and width of the plain definitions, for ``BV``, ``int``
    (also negative or too wide) and ``bool`` operands; a z3 operand still builds z3's term."""
    import operator

    rng = random.Random(43)
    for _ in range(20000):
        w = rng.choice([1, 2, 3, 8, 16, 64])
        a = BV(rng.randrange(-3, 1 << (w + 1)), w)
        b = rng.choice([BV(rng.randrange(0, 1 << (w + 1)), rng.choice([w, 4, 64])),
                        rng.randrange(-9, 1 << (w + 2)), True, False])
        for op, sym in ((operator.or_, "__or__"), (operator.and_, "__and__"), (operator.xor, "__xor__")):
            for got in (getattr(a, sym)(b), getattr(a, "__r" + sym[2:])(b)):
                want = _ref_bv_op(a, b, op)
                assert type(got) is BV and int(got) == int(want) and got.width == want.width, (a, b, sym)
        inv = ~a
        assert type(inv) is BV and int(inv) == (~int(a)) & ((1 << w) - 1) and inv.width == w
        got = V.clear(a, b)
        assert type(got) is BV and int(got) == int(a) & ~int(b) & ((1 << w) - 1) and got.width == w
        assert int(got) == int(BV(int(a) & ~int(b), w))
    x = z3.BitVec("x", 8)
    for op in ("__or__", "__and__", "__xor__"):
        assert getattr(BV(3, 8), op)(x) is NotImplemented
    assert (BV(3, 8) | x).eq(x.__ror__(3)) and (x & BV(5, 8)).eq(x & 5)
    assert V.clear(x, BV(1, 8)).eq(x & ~1) and V.clear(BV(7, 8), x).eq(BV(7, 8) & ~x)


def test_alive_lists_are_carried_across_steps():
    """A step that changes an alive field (or a universe that grows) carries the cached alive
    list over to the new state (no scan of the universe), and that list is the definition."""
    rng = random.Random(47)
    names = sorted(RULES)
    carried = 0
    for seed in range(2):
        state = standard().state
        for sort in ALIVE_FIELD:
            state.alive(sort)
        fixpoint = None
        for _ in range(150):
            rule = RULES[rng.choice(names + ["socket_create", "socket_close", "fork", "thread_exit"] * 3)]
            actor, args = pick_call(rng, state, rule)
            out = _apply(state, rule, actor, args)
            if out is None:
                continue
            before = state
            state, _ = collect_garbage(out.post, since=fixpoint)
            fixpoint = state
            for sort, f in ALIVE_FIELD.items():
                hit = state._cache.get(sort)
                d = state.raw(f)
                changed = d is not before.raw(f) or state.universe[sort] is not before.universe[sort]
                if changed and hit is not None and hit[0] is state.universe[sort] and hit[1] is d:
                    carried += 1  # a list for the new alive field or universe, made without ``alive``
                assert state.alive(sort) == [x for x in state.universe[sort] if d.get(x, False)]
    assert carried > 100


def test_scheduled_collection_offers_a_candidate_again_only_after_a_change():
    """Within one collection a refused candidate is not offered again unless a later
    reclamation made it a candidate again; the records stay those of the full pass."""
    from model.rules.registry import Rule

    offers: list[tuple[str, Any, int]] = []
    orig = Rule.apply

    def counting(self, pre, actor, args):
        if self.kernel:
            offers.append((self.name, tuple(args.values())[0], pre.__dict__["_gen"]))
        return orig(self, pre, actor, args)

    rng = random.Random(53)
    names = sorted(RULES)
    state, fixpoint = standard().state, None
    scheduled = 0
    Rule.apply = counting
    try:
        for _ in range(400):
            if not state.alive("Thread"):
                state, fixpoint = standard().state, None
            rule = RULES[rng.choice(names + ["kacs_impersonate_peer", "socket_create", "socket_close", "fork",
                                             "thread_exit", "exec"] * 3)]
            actor, args = pick_call(rng, state, rule)
            out = _apply(state, rule, actor, args)
            if out is None:
                continue
            offers.clear()
            fast, recs = collect_garbage(out.post, since=fixpoint)
            seen = list(offers)
            Rule.apply = orig
            full, full_recs = collect_garbage_full(out.post)
            Rule.apply = counting
            assert [(r.rule, r.args) for r in recs] == [(r.rule, r.args) for r in full_recs]
            same_state(fast, full)
            if fixpoint is not None and reclaim_candidates(fixpoint, out.post) is not None:
                # scheduled: never the same object offered twice to a rule at the same state
                # (the full pass offers everything again in its last, empty round)
                assert len(seen) == len(set(seen))
                scheduled += 1
            state, fixpoint = fast, fast
    finally:
        Rule.apply = orig
    assert scheduled > 40
