"""The reclamation scheduling's reference index and the throughput benchmark's traces change
no outcome (benchmarks/executor_throughput.py measures the speed; these tests only check
semantics, deterministically).

* ``model.reclaim.RefIndex``, carried across every step and every reclamation by deltas, is the
  index built from scratch, and what it says is what the rules say: a token has a witness
  exactly when ``referenced_outside_pairs`` holds, a session is busy exactly when one of its
  live tokens has one, and every object ``refused`` leaves out is refused by its rule.
* The benchmark's traces (free slots reused for fresh arguments) give the same digest on the
  fast paths (concrete ``finish``, scheduled collection with the index) and on the reference
  paths (``Write`` by ``Write``, ``collect_garbage_full``).
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

import model.reclaim as reclaim_mod
import model.step as step_mod
from model.reclaim import RefIndex, collect_garbage, collect_garbage_full
from model.rules import RULES
from model.rules.lifecycle import referenced_outside_pairs
from model.scenarios import standard

from tests.model.test_performance_semantics import LIFECYCLE_AND_IMPERSONATION, _apply, pick_call, same_state

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("executor_throughput", ROOT / "benchmarks" / "executor_throughput.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("executor_throughput", mod)
    spec.loader.exec_module(mod)
    return mod


def _remembered(state) -> RefIndex:
    hit = reclaim_mod._LAST_INDEX[0]
    assert hit is not None and hit[0] is state.__dict__ and hit[2] is state.universe
    return hit[3]


def _check_index(state, idx: RefIndex) -> tuple[int, int]:
    """``idx`` is the built index of ``state`` and agrees with the rules; returns how many
    tokens it marks referenced and how many offers it would leave out."""
    built = RefIndex.build(state)
    assert (idx.refs, idx.count, idx.busy, idx.held) == (built.refs, built.count, built.busy, built.held)
    data = state.__dict__
    referenced = 0
    left_out = 0
    for t in state.universe["Token"]:
        ref = bool(referenced_outside_pairs(state, t))
        assert bool(idx.count.get(t)) == ref, t
        referenced += ref
    for s in state.universe["Session"]:
        busy = any(state.token_alive[t] and state.token_session[t] == s and referenced_outside_pairs(state, t)
                   for t in state.universe["Token"])
        assert bool(idx.busy.get(s)) == busy, s
    for name, key, sort in (("kernel_free_token", "token", "Token"), ("kernel_destroy_session", "session", "Session")):
        for oid in state.alive(sort):
            if idx.refused(sort, oid, data):
                left_out += 1
                out = RULES[name].apply(state, None, {key: oid})
                assert not (out.enabled and int(out.errno) == 0), (sort, oid)
    return referenced, left_out


def _pick(rng: random.Random, state, rule):
    """``pick_call``, except that impersonating a peer is mostly done by a thread of the socket's
    server (so that walks impersonate, revert and drop impersonation tokens often)."""
    actor, args = pick_call(rng, state, rule)
    if rule.name == "kacs_impersonate_peer" and rng.random() < 0.8:
        socks = [k for k in state.alive("Socket") if state.sock_has_peer[k]]
        if socks:
            k = rng.choice(socks)
            threads = [x for x in state.alive("Thread") if state.thread_proc[x] == state.sock_server[k]]
            if threads:
                actor, args["socket"] = rng.choice(threads), k
    return actor, args


EXTRA = ["socket_create", "socket_connect", "kacs_impersonate_peer", "kacs_impersonate_peer", "kacs_revert",
         "socket_close", "thread_exit", "process_exit"]


@pytest.mark.parametrize("seed,names", [(31, LIFECYCLE_AND_IMPERSONATION), (32, LIFECYCLE_AND_IMPERSONATION),
                                        (33, sorted(RULES)), (34, sorted(RULES))])
def test_carried_index_is_the_built_one_and_agrees_with_the_rules(seed, names):
    rng = random.Random(seed)
    state, fixpoint = standard().state, None
    collections = referenced = left_out = 0
    kinds: set = set()
    for _ in range(200):
        if not state.alive("Thread"):
            state, fixpoint = standard().state, None
        rule = RULES[rng.choice(names + EXTRA * 2)]
        actor, args = _pick(rng, state, rule)
        out = _apply(state, rule, actor, args)
        if out is None:
            continue
        if rule.name == "kacs_revert" and state.thread_impersonating[actor]:
            kinds.add("revert")
        if rule.name == "kacs_impersonate_peer" and int(out.errno) == 0:
            kinds.add("impersonate")
        state, recs = collect_garbage(out.post, since=fixpoint)
        full, full_recs = collect_garbage_full(out.post)
        assert [(r.rule, r.args) for r in recs] == [(r.rule, r.args) for r in full_recs]
        same_state(state, full)
        if fixpoint is not None:
            r, o = _check_index(state, _remembered(state))
            referenced, left_out, collections = referenced + r, left_out + o, collections + 1
        fixpoint = state
        kinds |= {r.rule for r in recs}
    assert collections > 60 and referenced > 0 and left_out > 0
    assert kinds >= {"impersonate", "kernel_free_token"}
    assert "revert" in kinds or names is not LIFECYCLE_AND_IMPERSONATION


def test_index_follows_universe_growth_without_writes():
    """A step that only adds objects to the universe (no field written) carries the index too,
    also when an added object already has stored data (here an open fd of a handle that
    joins the universe: a new witness)."""
    w = standard()
    state = w.state
    p, tok = w.names["Process"]["shell"], w.names["Token"]["alice"]
    h = max(state.universe["Handle"], default=2) + 4
    state._data["fd_open"] = {**state._data["fd_open"], (p, h): True}
    state._data["fd_token"] = {**state._data["fd_token"], (p, h): tok}
    fixpoint, _ = collect_garbage_full(state)
    reclaim_mod._remember_index(fixpoint, RefIndex.build(fixpoint))
    before = RefIndex.build(fixpoint).count.get(tok, 0)
    grown = fixpoint.copy_with_universe("Thread", [max(fixpoint.universe["Thread"]) + 1])
    grown = grown.copy_with_universe("Handle", [h])
    after, recs = collect_garbage(grown, since=fixpoint)
    assert recs == [] and after is grown
    idx = _remembered(grown)
    _check_index(grown, idx)
    assert idx.count[tok] == before + 1


def test_benchmark_random_args_use_free_slots():
    bench = _bench()
    state = standard().state
    dead = max(state.universe["Thread"]) + 5
    state = state.copy_with_universe("Thread", [dead])  # a thread slot never used: dead
    actor = state.alive("Thread")[0]
    args = bench.random_args(random.Random(1), RULES["clone_thread"], state, actor)
    assert args["new_thread"] == dead
    args = bench.random_args(random.Random(1), RULES["fork"], state, actor)
    assert args["child_thread"] == dead and args["child"] is None  # no dead process: a new id


@pytest.mark.parametrize("gc,all_rules", [(True, False), (False, False), (True, True)])
def test_benchmark_digests_are_those_of_the_reference_paths(gc, all_rules):
    bench = _bench()
    fast = bench.run(500, gc, all_rules=all_rules)
    old = step_mod.FAST_FINISH
    step_mod.FAST_FINISH = False
    try:
        ref = bench.run(500, gc, full_gc=True, all_rules=all_rules)
    finally:
        step_mod.FAST_FINISH = old
    assert fast[0] == ref[0] == 500 and fast[1] == ref[1]
    assert fast[4] == ref[4]


INDEX_FIELDS = ["thread_alive", "thread_real", "thread_impersonating", "thread_imp_token", "proc_alive",
                "proc_primary", "fd_open", "fd_token", "sock_alive", "sock_has_peer", "sock_peer_token",
                "token_alive", "token_session", "sess_alive", "sess_had_token", "sess_linked",
                "sess_elevated", "sess_filtered", "anon_token"]


@pytest.mark.parametrize("seed", [41, 42, 43])
def test_index_follows_arbitrary_deltas(seed):
    """Transitions that are not rule steps (one or two random writes to the fields the index and
    the reclamation rules read, any object, any value): after each, the scheduled collection
    agrees with the full one and the carried index is the built one."""
    from model.state import FIELDS, Write

    rng = random.Random(seed)
    w = standard()
    for _ in range(4):  # some sockets with peers, some fds, an impersonating thread
        for name in ("socket_create", "socket_connect", "kacs_impersonate_peer", "kacs_open_self_token"):
            if name in RULES:
                rule = RULES[name]
                actor, args = _pick(rng, w.state, rule)
                out = _apply(w.state, rule, actor, args)
                if out is not None:
                    w.state = out.post
    state, _ = collect_garbage_full(w.state)
    reclaim_mod._remember_index(state, RefIndex.build(state))
    fixpoint = state
    checked = 0
    for _ in range(150):
        writes = []
        for name in rng.sample(INDEX_FIELDS, rng.choice([1, 1, 2])):
            spec = FIELDS[name]
            if any(not state.universe[k] for k in spec.keys):
                continue
            if spec.keys:  # now and then an object outside the universe (a witness the rules do not see)
                key = tuple(rng.choice(list(state.universe[k])) if rng.random() < 0.9 else max(state.universe[k]) + 3
                            for k in spec.keys)
            else:
                key = ()
            if spec.type.kind == "bool":
                value = rng.random() < 0.5
            else:
                value = rng.choice(list(state.universe[spec.type.sort]) + [-1])
            writes.append(Write(name, key=key, value=value))
        post = state.with_writes(writes)
        state, recs = collect_garbage(post, since=fixpoint)
        full, full_recs = collect_garbage_full(post)
        assert [(r.rule, r.args) for r in recs] == [(r.rule, r.args) for r in full_recs]
        same_state(state, full)
        _check_index(state, _remembered(state))
        checked += 1
        fixpoint = state
    assert checked == 150 and all(state.universe[k] for k in ("Socket", "Handle", "Session"))
