"""The explicit-state explorer and its symmetry reduction (issue 9)."""

from __future__ import annotations

import json
import random

import networkx as nx
import pytest
from click.testing import CliRunner

import properties.catalog  # noqa: F401
from model.concrete import ConcreteState
from model.rules.registry import RULES
from model.state import FIELDS, SCHEMA, SORTS
from properties.base import CATALOG
from tokenproof.cli import main
from tokenproof.explorer import Explorer, Universe, UniverseError, start_world, universe_state
from tokenproof.mutants import load_seeded
from tests.tokenproof.rulesets import rule_subset

THREADS = ["clone_thread", "thread_exit", "kacs_open_self_token", "close_handle", "kacs_revert", "kernel_free_token"]
TINY = Universe(threads=2, processes=1, tokens=2, privileges=())


def _explore(rules=THREADS, u=TINY, **kw):
    ex = Explorer(u, rules={n: RULES[n] for n in rules}, **kw)
    return ex, ex.run()


def rename(st: ConcreteState, perm: dict[str, dict[int, int]]) -> ConcreteState:
    """``st`` with objects renamed by ``perm`` (sort -> old id -> new id)."""
    data = {}
    for spec in SCHEMA:
        raw = st.raw(spec.name)

        def val(v, t=spec.type):
            return perm[t.sort].get(v, v) if t.kind == "obj" else v

        if not spec.keys:
            data[spec.name] = val(raw)
        else:
            out = {}
            for k, v in raw.items():
                kk = k if isinstance(k, tuple) else (k,)
                nk = tuple(perm[s].get(x, x) for s, x in zip(spec.keys, kk))
                out[nk if len(nk) > 1 else nk[0]] = val(v)
            data[spec.name] = out
    return ConcreteState(data, st.universe)


def test_tiny_universe_completes_without_violation():
    ex, res = _explore()
    assert res.complete and res.states > 5 and res.depth >= 2
    assert not res.violations
    assert res.graph.number_of_nodes() == res.states
    assert res.rule_stats["clone_thread"].ok > 0


def test_deterministic():
    _, a = _explore()
    _, b = _explore()
    assert (a.states, a.edges, a.steps, a.depth) == (b.states, b.edges, b.steps, b.depth)


def test_symmetry_reduces_and_never_merges_non_isomorphic_states():
    rules = ["clone_thread", "thread_exit", "kacs_revert"]
    u = Universe(threads=3, processes=1, tokens=2, privileges=())
    _, a = _explore(rules, u, keep_graph=False)
    _, b = _explore(rules, u, keep_graph=False, symmetry=False)
    assert a.complete and b.complete and a.states < b.states
    ex, res = _explore()
    # every explored state: a random renaming of its non-fixed objects has the same key
    rng = random.Random(7)
    for st in list(ex._states.values())[:40]:
        perm = {}
        for s in SORTS:
            ids = [x for x in st.universe[s] if x not in ex.canon.fixed.get(s, ())]
            shuffled = ids[:]
            rng.shuffle(shuffled)
            perm[s] = dict(zip(ids, shuffled))
        assert ex.canon.key(rename(st, perm)) == ex.canon.key(st)
    # soundness: states with different keys stay different; changing any field that is not
    # abstracted (ex.dropped) changes the key, changing a dropped one does not
    from model.state import Write

    st = ex.init
    base = ex.canon.key(st)
    tok = st.value("anon_token")
    kept = 0
    for name in ("token_integrity", "token_privs_used", "token_primary", "token_privs_enabled", "token_level"):
        spec = FIELDS[name]
        v = st.value(name, tok)
        new = (not v) if spec.type.kind == "bool" else v + 1
        changed = st.with_writes([Write(name, key=(tok,), value=new)])
        if name in ex.dropped:
            assert ex.canon.key(changed) == base, name
        else:
            kept += 1
            assert ex.canon.key(changed) != base, name
    assert kept >= 2


def test_abstracted_counters_do_not_split_states():
    from model.state import Write

    ex, _ = _explore()
    st = ex.init
    bumped = st.with_writes([Write("next_token_id", key=(), value=st.value("next_token_id") + 5),
                             Write("token_modified_id", key=(st.value("anon_token"),), value=3)])
    assert ex.canon.key(bumped) == ex.canon.key(st)
    ex2, _ = _explore(abstraction=False, max_states=1)
    assert ex2.canon.key(bumped) != ex2.canon.key(st)


def test_mutant_violation_is_a_shortest_replayable_trace(tmp_path):
    from tokenproof.trace import dump_trace, execute, parse_trace

    m = load_seeded()["process-exit-leaves-threads-running"]
    rules = {n: r for n, r in m.rules(dict(RULES)).items() if n in THREADS + ["process_exit"]}
    ex = Explorer(TINY, rules=rules, keep_graph=False)
    res = ex.run()
    assert res.violations
    v = min(res.violations.values(), key=lambda v: v.depth)
    data = ex.trace_of(v)
    assert data["auto_gc"] is False
    text = dump_trace(data, tmp_path / "v.json")
    trace = parse_trace(json.loads(text))
    run = execute(trace)
    assert len(run.steps) == v.depth


def test_bad_universe():
    with pytest.raises(UniverseError):
        start = Universe(threads=0)
        universe_state(start, start_world(start))


def test_cli_stats_export(tmp_path):
    g = tmp_path / "g.graphml"
    r = CliRunner().invoke(main, ["explore", "--no-cache", "--threads", "2", "--processes", "1", "--tokens", "2",
                                  "--privileges", "", "--rules", ",".join(THREADS), "--stats",
                                  "--export", str(g), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "states" in r.output and "dead rules" in r.output
    graph = nx.read_graphml(g)
    assert graph.number_of_nodes() > 5


def test_cli_exit_codes(tmp_path):
    r = CliRunner().invoke(main, ["explore", "--threads", "0"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["explore", "--mutant", "no-such-mutant"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["explore", "--no-cache", "--threads", "2", "--processes", "1", "--tokens", "2",
                                  "--privileges", "", "--rules", ",".join(THREADS + ["process_exit"]),
                                  "--mutant", "process-exit-leaves-threads-running", "--out", str(tmp_path)])
    assert r.exit_code == 1, r.output
    assert list(tmp_path.glob("*.json"))


# ------------------------------------------------------------------ sound shortcuts of the BFS
PRUNE_RULES = ["fork", "process_exit", "kacs_open_self_token", "kernel_free_token", "exec", "close_handle"]
PRUNE_PROPS = ["live-processes-have-live-primaries", "open-token-fds-refer-to-live-tokens",
               "exec-closes-close-on-exec-fds", "fork-child-runs-a-copy-of-the-real-token",
               "no-rule-changes-another-threads-impersonation", "failed-steps-change-nothing-but-used-bits"]
PRUNE_U = Universe(threads=2, processes=2, tokens=3, privileges=())


@pytest.mark.parametrize("mutant", [None, "exec-keeps-cloexec-fds", "fork-shares-token"])
def test_one_step_valid_checks_are_skipped_without_changing_verdicts(mutant):
    """Transition checks z3 proves true on every step of a rule (tokenproof.abstraction.valid_steps)
    are not evaluated: the same violations at the same depths as evaluating every check; a
    mutant's broken (property, rule) pair is never skipped."""
    rules = rule_subset(PRUNE_RULES, mutant)
    props = {p: CATALOG[p] for p in PRUNE_PROPS}
    runs = {}
    for prune in (True, False):
        ex = Explorer(PRUNE_U, rules=rules, properties=props, keep_graph=False, max_depth=4, prune_valid=prune)
        runs[prune] = (ex, ex.run())
    (ex_p, a), (ex_f, f) = runs[True], runs[False]
    assert {p: v.depth for p, v in a.violations.items()} == {p: v.depth for p, v in f.violations.items()}
    assert a.states == f.states and a.steps == f.steps
    assert ex_f.trans_checks_skipped == 0
    if mutant is None:
        assert ex_p.trans_checks_skipped > 0
        assert not [p for p in a.violations if CATALOG[p].kind == "transition"]
    else:
        caught = [p for p in PRUNE_PROPS if mutant in CATALOG[p].mutants]
        assert caught and all(p in a.violations for p in caught), (mutant, sorted(a.violations))
        broken = {"exec-keeps-cloexec-fds": "exec", "fork-shares-token": "fork"}[mutant]
        for p in caught:
            if CATALOG[p].kind == "transition":
                assert (p, broken) not in ex_p.valid_pairs


def test_memoised_keys_equal_computed_keys():
    """The key memo (raw data -> key) returns what the canonicalizer computes."""
    ex, res = _explore(keep_graph=False)
    assert ex.canon.memo_hits > 0
    ex.canon.memo = False
    for k, st in ex._states.items():
        assert ex.canon.key(st) == k
