"""Linear states (``ConcreteState.linear``: a step's effects written into the field dicts in
place) give the outcomes of persistent states (benchmarks/executor_throughput.py measures the
speed; these tests only check semantics, deterministically).

* Random walks of every rule, run twice in lockstep (persistent with the full reclamation
  pass, linear with the scheduled one): the same outcomes, post-states, reclamations and
  alive lists after every step; also linear states without a delta.
* A bulk update reads the pre-state even when an earlier effect of the same step wrote a
  field it reads (effects are applied in place only after every bulk update is evaluated).
* The throughput benchmark's digests are the same with linear and persistent states.
"""

from __future__ import annotations

import random

import pytest

from model.reclaim import collect_garbage, collect_garbage_full
from model.rules import RULES
from model.scenarios import standard
from model.state import ALIVE_FIELD
from model.step import Step
from model.values import eq

from tests.model.test_performance_semantics import LIFECYCLE_AND_IMPERSONATION, _apply, same_state
from tests.model.test_reclaim_index_perf import EXTRA, _bench, _pick


def _alive_lists_are_the_definition(state) -> None:
    for sort, f in ALIVE_FIELD.items():
        d = state.raw(f)
        assert state.alive(sort) == [x for x in state.universe[sort] if d.get(x, False)], sort


@pytest.mark.parametrize("seed,names,delta", [(61, LIFECYCLE_AND_IMPERSONATION, True), (62, sorted(RULES), True),
                                              (63, sorted(RULES), False), (64, LIFECYCLE_AND_IMPERSONATION, False)])
def test_linear_walks_are_the_persistent_ones(seed, names, delta):
    rng = random.Random(seed)
    pers = standard().state
    lin = pers.linear(delta=delta)
    assert lin.is_linear and not pers.is_linear
    fixpoint = None
    steps = reclaimed = 0
    for _ in range(220):
        if not pers.alive("Thread"):
            pers = standard().state
            lin, fixpoint = pers.linear(delta=delta), None
        rule = RULES[rng.choice(names + EXTRA)]
        actor, args = _pick(rng, pers, rule)
        out_p = _apply(pers, rule, actor, args)
        out_l = _apply(lin, rule, actor, args)
        assert (out_p is None) == (out_l is None), rule.name
        if out_p is None:
            continue
        assert int(out_p.errno) == int(out_l.errno) and out_p.ret == out_l.ret, rule.name
        same_state(out_l.post, out_p.post)
        assert out_l.post.is_linear
        pers, recs_p = collect_garbage_full(out_p.post)
        lin, recs_l = collect_garbage(out_l.post, since=fixpoint)
        assert [(r.rule, r.args) for r in recs_l] == [(r.rule, r.args) for r in recs_p], rule.name
        same_state(lin, pers)
        _alive_lists_are_the_definition(lin)
        if out_l.post is not out_l.pre:
            assert (out_l.post.__dict__["_delta"] is None) == (not delta)
        fixpoint = lin
        steps += 1
        reclaimed += len(recs_l)
    assert steps > 100 and reclaimed > 0


def _bulk_reads_pre(st: Step, p2: int, th: int):
    """A made-up step: move thread ``th`` to process ``p2``, then end every thread of ``p2``
    (the bulk update must see ``th`` still in its old process)."""
    s = st.pre
    st.set("thread_proc", th, p2)
    st.set_where("thread_alive", lambda x: (eq(s.thread_proc[x], p2), False))
    return st.finish()


def test_bulk_updates_read_the_pre_state():
    w = standard()
    th, p2 = w.names["Thread"]["sh1"], w.names["Process"]["server"]
    pers = w.state
    out_p = _bulk_reads_pre(Step(pers, None, {}), p2, th)
    out_l = _bulk_reads_pre(Step(pers.linear(), None, {}), p2, th)
    same_state(out_l.post, out_p.post)
    assert out_l.post.thread_alive[th] and out_l.post.thread_proc[th] == p2
    assert not out_l.post.thread_alive[w.names["Thread"]["srv1"]]


@pytest.mark.parametrize("gc", [True, False])
def test_benchmark_digests_are_those_of_persistent_states(gc):
    bench = _bench()
    lin = bench.run(600, gc, linear=True)
    pers = bench.run(600, gc, linear=False)
    assert lin[:2] == pers[:2] and lin[4] == pers[4]
