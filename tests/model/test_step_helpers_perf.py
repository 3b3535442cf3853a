"""The executor speed-ups of the second throughput round change no term and no outcome
(benchmarks/executor_throughput.py measures the speed; these tests only check semantics,
deterministically).

* ``State.exists_alive`` and ``Step.set_where_match`` build exactly the terms of the
  ``exists`` / ``set_where`` they stand for on symbolic states (unbounded and finite), and
  give the same truth values and post-states on concrete states.
* ``Step.guarded`` skips its effects only where none of them could take place (concrete
  fast path: a concretely false ``when``, a failed precondition or guard), never on symbolic
  states or for subclasses (mutants count effects).
* ``model.reclaim.RECLAIM_READS`` holds every field the two reclamation rules read (a write of
  any other field makes no reclamation candidate).
* Linear states leave writes that change nothing out of the step's delta, yet make them.
* The benchmark's ``below`` draws what ``random.Random.choice`` / ``randrange`` draw.
"""

from __future__ import annotations

import itertools
import random
import re

import pytest
import z3

import model.step as step_mod
from model import domain as D
from model.reclaim import RECLAIM_READS, collect_garbage_full
from model.rules import RULES
from model.scenarios import standard
from model.sim import apply_rule
from model.state import ALIVE_FIELD, FIELDS, THREAD
from model.step import Step
from model.symbolic import SymState, Universe
from model.values import and_, eq, ne

from tests.model.test_reclaim_index_perf import _bench

SIZES = {"Thread": 3, "Process": 2, "Token": 3, "Session": 2, "Socket": 2, "Handle": 2}


def _states():
    """(universe, pre-state) pairs: unbounded and finite."""
    for mode in ("unbounded", "finite"):
        uni = Universe(mode, sizes=SIZES) if mode == "finite" else Universe(mode)
        yield uni, uni.fresh_state("pre")


def _same(a, b) -> bool:
    """The same term, up to the names of bound variables (``SymState._bound`` numbers them)."""
    if isinstance(a, z3.ExprRef) or isinstance(b, z3.ExprRef):
        if not (isinstance(a, z3.ExprRef) and isinstance(b, z3.ExprRef)):
            return False
        return a.eq(b) or _BOUND.sub(r"q_\1", a.sexpr()) == _BOUND.sub(r"q_\1", b.sexpr())
    return a == b


_BOUND = re.compile(r"q_([a-z]+)_\d+")


# ------------------------------------------------------------------ exists_alive
def test_exists_alive_builds_the_terms_of_exists():
    for uni, s in _states():
        p, th = uni.const("p", FIELDS["thread_proc"].type), uni.const("th", THREAD)
        # thread_exit's condition, with and without ``match``
        want = s.exists("Thread", lambda x: and_(s.thread_alive[x], eq(s.thread_proc[x], p), ne(x, th)))
        got = s.exists_alive("Thread", lambda x: (ne(x, th),), match=("thread_proc", p))
        assert _same(want, got)
        want = s.exists("Thread", lambda x: and_(s.thread_alive[x], ne(x, th)))
        got = s.exists_alive("Thread", lambda x: (ne(x, th),))
        assert _same(want, got)
        t = uni.const("t", FIELDS["proc_primary"].type)
        want = s.exists("Process", lambda q: and_(s.proc_alive[q], eq(s.proc_primary[q], t)))
        assert _same(want, s.exists_alive("Process", lambda q: (), match=("proc_primary", t)))


def test_exists_alive_is_exists_on_concrete_states():
    rng = random.Random(5)
    state = standard().state
    checked = 0
    for _ in range(60):
        threads = state.alive("Thread")
        if not threads:
            state = standard().state
            continue
        for sort in ALIVE_FIELD:
            alive = state.view(ALIVE_FIELD[sort])
            for x in list(state.universe[sort]) + [None]:
                for field in [f.name for f in FIELDS.values() if f.keys == (sort,)][:6]:
                    values = {state.view(field)[y] for y in state.universe[sort]} | {0, True, "x"}
                    for v in values:
                        want = state.exists(sort, lambda y: and_(alive[y], eq(state.view(field)[y], v), ne(y, x)))
                        got = state.exists_alive(sort, lambda y: (ne(y, x),), match=(field, v))
                        assert want == got, (sort, field, v, x)
                        checked += 1
                want = state.exists(sort, lambda y: and_(alive[y], ne(y, x)))
                assert state.exists_alive(sort, lambda y: (ne(y, x),)) == want
        rule = RULES[rng.choice(["fork", "clone_thread", "thread_exit", "socket_create", "socket_close", "exec"])]
        actor = rng.choice(threads)
        args = {a.name: (rng.random() < 0.5 if a.type.kind == "bool" else None if a.fresh else
                         rng.choice(state.alive(a.type.sort) or [1]) if a.type.kind == "obj" and
                         a.type.sort in ALIVE_FIELD else D.IL_LOW) for a in rule.args}
        try:
            state = apply_rule(state, rule, actor, args).post
        except ValueError:
            pass
    assert checked > 1000


# ------------------------------------------------------------------ set_where_match
def _sym_where_terms(step_cls):
    """The post-state terms of thread_alive / thread_proc after exec's bulk update, made with
    ``set_where_match`` and with the ``set_where`` it stands for."""
    out = []
    for uni, s in _states():
        p, th = uni.const("p", FIELDS["thread_proc"].type), uni.const("th", THREAD)
        a = step_cls(s, th, {})
        a.set_where_match("thread_alive", ("thread_proc", p), lambda x: (ne(x, th), False))
        b = step_cls(s, th, {})
        b.set_where("thread_alive", lambda x: (and_(eq(s.thread_proc[x], p), ne(x, th)), False))
        pa, pb = a.finish().post, b.finish().post
        keys = uni.elements["Thread"] if uni.mode == "finite" else [z3.Const("k", uni.sorts["Thread"])]
        out.append([(pa.fns["thread_alive"](k), pb.fns["thread_alive"](k)) for k in keys])
    return out


def test_set_where_match_builds_the_terms_of_set_where():
    for pairs in _sym_where_terms(Step):
        for got, want in pairs:
            assert _same(got, want)


def test_set_where_match_of_a_mutant_is_one_set_where_effect():
    from tokenproof.mutants import MutantStep

    uni = Universe("unbounded")
    s = uni.fresh_state("pre")
    th = uni.const("th", THREAD)
    st = MutantStep(s, th, {}, skip_effect=0)
    st.set_where_match("thread_alive", ("thread_proc", 1), lambda x: (ne(x, th), False))
    assert st.n_effects == 1 and st._writes == []  # skipped as effect #0, like the set_where it stands for
    for pairs in _sym_where_terms(lambda *a: MutantStep(*a)):
        for got, want in pairs:
            assert _same(got, want)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_set_where_match_is_set_where_on_concrete_states(seed):
    rng = random.Random(seed)
    state = standard().state
    for _ in range(30):
        actor = rng.choice(state.alive("Thread"))
        p = rng.choice(list(state.universe["Process"]) + [99])
        for fast in (True, False):
            old = step_mod.FAST_FINISH
            step_mod.FAST_FINISH = fast
            try:
                a = Step(state, actor, {})
                a.set_where_match("thread_alive", ("thread_proc", p), lambda x: (ne(x, actor), False))
                b = Step(state, actor, {})
                b.set_where("thread_alive", lambda x: (and_(eq(state.thread_proc[x], p), ne(x, actor)), False))
                pa, pb = a.finish().post, b.finish().post
            finally:
                step_mod.FAST_FINISH = old
            assert dict(pa.raw("thread_alive")) == dict(pb.raw("thread_alive"))
            assert pa.alive("Thread") == pb.alive("Thread")
        out = apply_rule(state, RULES["clone_thread"], actor, {"new_thread": None})
        state = out.post


# ------------------------------------------------------------------ guarded
def test_guarded_skips_only_effects_that_cannot_happen():
    state = standard().state
    actor = state.alive("Thread")[0]
    calls = []

    def make():
        calls.append(1)

    for when, enabled, errno, called in [(False, True, D.OK, False), (True, False, D.OK, False),
                                         (True, True, D.EPERM, False), (True, True, D.OK, True),
                                         (z3.Bool("w"), True, D.OK, True)]:
        st = Step(state, actor, {})
        st.enabled, st.errno = enabled, errno
        calls.clear()
        st.guarded(when, make)
        assert bool(calls) == called, (when, enabled, errno)
    # the reference finish, symbolic states and subclasses always make the effects
    old = step_mod.FAST_FINISH
    step_mod.FAST_FINISH = False
    try:
        calls.clear()
        Step(state, actor, {}).guarded(False, make)
        assert calls
    finally:
        step_mod.FAST_FINISH = old
    from tokenproof.mutants import MutantStep

    calls.clear()
    MutantStep(state, actor, {}).guarded(False, make)
    assert calls
    uni = Universe("unbounded")
    calls.clear()
    Step(uni.fresh_state("pre"), uni.const("a", THREAD), {}).guarded(False, make)
    assert calls


# ------------------------------------------------------------------ RECLAIM_READS
class _Reads(SymState):
    def __init__(self, base: SymState, seen: set):
        super().__init__(base.uni, base.fns)
        self.seen = seen

    def view(self, name: str):
        self.seen.add(name)
        return super().view(name)


def test_reclaim_reads_are_the_fields_the_reclamation_rules_read():
    seen: set = set()
    for mode in ("unbounded", "finite"):
        uni = Universe(mode, sizes=SIZES) if mode == "finite" else Universe(mode)
        base = uni.fresh_state("pre")
        for name in ("kernel_free_token", "kernel_destroy_session"):
            rule = RULES[name]
            args = {a.name: uni.const(a.name, a.type) for a in rule.args}
            rule.apply(_Reads(base, seen), None, args)
    assert seen == set(RECLAIM_READS)


# ------------------------------------------------------------------ linear deltas
def test_linear_delta_leaves_out_writes_that_change_nothing():
    w = standard()
    state = w.state.linear()
    actor = w.names["Thread"]["sh1"] if "sh1" in w.names["Thread"] else state.alive("Thread")[0]
    assert not state.thread_impersonating[actor]
    out = apply_rule(state, RULES["kacs_revert"], actor, {})  # writes False over False
    delta = out.post.__dict__["_delta"]
    assert delta is not None and delta[1] == [] and delta[2] == {}
    assert out.post.raw("thread_impersonating").get(actor) is False  # the write was made
    pers = apply_rule(w.state, RULES["kacs_revert"], actor, {}).post
    assert dict(pers.raw("thread_impersonating")) == dict(out.post.raw("thread_impersonating"))
    assert collect_garbage_full(out.post)[1] == collect_garbage_full(pers)[1]


# ------------------------------------------------------------------ the benchmark's draws
def test_benchmark_below_draws_what_random_draws():
    bench = _bench()
    for seed in range(5):
        a, b = random.Random(seed), random.Random(seed)
        for n in itertools.chain(range(1, 70), [255, 256, 1000, 3]):
            seq = list(range(n))
            assert seq[bench.below(a.getrandbits, n)] == b.choice(seq)
            assert bench.below(a.getrandbits, n) == b.randrange(n)
