"""The explorer's start-up analysis on disk (``abstraction_of`` with a ``ResultCache``;
tokenproof/analysis_cache.py): a second run on unchanged sources reads it back and explores exactly the same
graph; another rule set, property set, universe or start state misses; a corrupt entry is
recomputed; a rule that cannot be identified is never cached; ``explore --no-cache`` writes
nothing.  Small universes and rule subsets (a few seconds of z3 each)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

import properties.catalog  # noqa: F401
import tokenproof.analysis_cache as analysis_cache
import tokenproof.explorer as explorer
from properties.base import CATALOG
from tokenproof.abstraction import ASSUMED_INVARIANTS, Analysis, Guarded
from tokenproof.cache import ResultCache
from tokenproof.cli import main
from tokenproof.analysis_cache import analysis_from_json, analysis_key, analysis_to_json
from tokenproof.explorer import Explorer, Universe, start_world, universe_state
from tokenproof.mutants import load_seeded
from tests.tokenproof.rulesets import rule_subset

U = Universe(threads=2, processes=2, tokens=2, privileges=())
GUARDED_RULES = ["thread_exit", "kacs_open_self_token", "close_handle"]  # ~15 s of z3 for the resets
GUARDED_PROPS = [p for p in ASSUMED_INVARIANTS if p in CATALOG]
RULE_NAMES = ["fork", "process_exit", "thread_exit", "kacs_open_self_token", "close_handle"]  # < 1 s of z3
PROPS = ["live-processes-have-live-primaries", "open-token-fds-refer-to-live-tokens",
         "live-threads-belong-to-live-processes", "fork-child-runs-a-copy-of-the-real-token"]
U2 = Universe(threads=2, processes=2, tokens=2, privileges=())
MUTANT = "process-exit-leaves-threads-running"


@pytest.fixture(autouse=True)
def fresh_memo(monkeypatch):
    """No in-process memo from other tests (each run here goes to the disk cache or z3)."""
    monkeypatch.setattr(explorer, "_ANALYSES", {})


def _rules(names, mutant=None):
    return rule_subset(names, mutant)


def _run(u, rules, props, cache, **kw):
    ex = Explorer(u, rules=rules, properties={p: CATALOG[p] for p in props}, cache=cache, **kw)
    return ex, ex.run()


def _summary(ex, res):
    return (res.states, res.edges, res.steps, res.depth, {p: (v.depth, v.path) for p, v in res.violations.items()},
            ex.dropped, ex.guards, ex.valid_pairs, ex.guards_dropped_after_violation)


def _entries(root):
    return sorted(root.rglob("*.json"))


# ------------------------------------------------------------------ hits
def test_guarded_second_run_reads_the_analysis_from_disk(tmp_path):
    cache = ResultCache(tmp_path)
    rules = _rules(GUARDED_RULES)
    ex1, r1 = _run(U, rules, GUARDED_PROPS, cache, guarded=True, keep_graph=False)
    assert ex1.analysis_source == "computed" and not ex1.analysis_cached
    assert ex1.guards  # the resets are active: the cached guards matter
    assert len(_entries(tmp_path)) == 1
    explorer._ANALYSES.clear()  # a new process
    ex2, r2 = _run(U, rules, GUARDED_PROPS, ResultCache(tmp_path), guarded=True, keep_graph=False)
    assert ex2.analysis_source == "disk" and ex2.analysis_cached
    assert _summary(ex1, r1) == _summary(ex2, r2)
    assert analysis_cache._same(ex1.analysis, ex2.analysis)
    # the same process: the in-process memo, no disk read
    ex3, _ = _run(U, rules, GUARDED_PROPS, ResultCache(tmp_path), guarded=True, keep_graph=False)
    assert ex3.analysis_source == "memory"


def test_a_mutant_with_violations_hits_with_the_same_violations(tmp_path, monkeypatch):
    ex1, r1 = _run(U2, _rules(RULE_NAMES, MUTANT), PROPS, ResultCache(tmp_path))
    assert r1.violations and ex1.analysis_source == "computed"
    explorer._ANALYSES.clear()
    ex2, r2 = _run(U2, _rules(RULE_NAMES, MUTANT), PROPS, ResultCache(tmp_path))
    assert ex2.analysis_source == "disk"
    assert _summary(ex1, r1) == _summary(ex2, r2)
    # library callers without a cache: computed, nothing read or written (here: the working directory)
    monkeypatch.chdir(tmp_path)
    explorer._ANALYSES.clear()
    ex3, r3 = _run(U2, _rules(RULE_NAMES, MUTANT), PROPS, None)
    assert ex3.analysis_source == "computed" and _summary(ex3, r3) == _summary(ex1, r1)
    assert len(_entries(tmp_path)) == 1 and not (tmp_path / ".tokenproof-cache").exists()


# ------------------------------------------------------------------ misses
def _key(u=U2, names=RULE_NAMES, mutant=None, props=PROPS, rlimit=1000, guarded=False, profile="kacs", init=None):
    init = universe_state(u, start_world(u)) if init is None else init
    return analysis_key(_rules(names, mutant), {p: CATALOG[p] for p in props}, init, rlimit, guarded, profile)


def test_the_key_covers_rules_properties_universe_start_state_and_options():
    base = _key()
    assert base is not None and base == _key()
    mutants = [m for m, mu in load_seeded().items() if mu.rule in RULE_NAMES]
    others = [_key(mutant=m) for m in dict.fromkeys([MUTANT, *mutants[:4]])]
    others += [_key(names=RULE_NAMES[:-1]), _key(names=list(reversed(RULE_NAMES))),
               _key(props=PROPS[:-1]), _key(props=PROPS + ["exec-closes-close-on-exec-fds"]),
               _key(u=replace(U2, tokens=3)), _key(u=replace(U2, privileges=("SeTcbPrivilege",))),
               _key(rlimit=2000), _key(guarded=True), _key(profile="linux")]
    # the same universe, other start-state contents
    init = universe_state(U2, start_world(U2))
    init._replace_field("token_integrity", {**init.__dict__["token_integrity"], 1: 4096})
    others.append(_key(init=init))
    assert len({base, *others}) == len(others) + 1
    # a property whose scope changes with the same id
    props = {p: CATALOG[p] for p in PROPS}
    props[PROPS[-1]] = replace(props[PROPS[-1]], rules=("fork",))
    assert analysis_key(_rules(RULE_NAMES), props, init, 1000, False, "kacs") != \
        analysis_key(_rules(RULE_NAMES), {p: CATALOG[p] for p in PROPS}, init, 1000, False, "kacs")


def test_a_changed_rule_set_misses_on_disk(tmp_path):
    cache = ResultCache(tmp_path)
    ex1, _ = _run(U2, _rules(RULE_NAMES), PROPS, cache)
    explorer._ANALYSES.clear()
    ex2, _ = _run(U2, _rules(RULE_NAMES, MUTANT), PROPS, ResultCache(tmp_path))
    assert (ex1.analysis_source, ex2.analysis_source) == ("computed", "computed")
    assert len(_entries(tmp_path)) == 2


def test_unidentifiable_rules_are_not_cached(tmp_path):
    rules = _rules(["kacs_open_self_token", "close_handle"])
    fn = rules["close_handle"].fn
    rules["close_handle"] = replace(rules["close_handle"], fn=lambda st, **a: fn(st, **a))
    init = universe_state(U2, start_world(U2))
    assert analysis_key(rules, {p: CATALOG[p] for p in PROPS}, init, 1000, False, "kacs") is None
    ex, _ = _run(U2, rules, PROPS, ResultCache(tmp_path))
    assert ex.analysis_source == "computed" and not _entries(tmp_path)


# ------------------------------------------------------------------ the stored form
def test_round_trip_is_exact():
    g = {"sock_level": (("sock_alive", False), ("sock_connected", True)), "x": (("lvl", 3), ("name", "s"))}
    a = Analysis(frozenset({"token_id", "next_token_id"}), {"f": "why"}, 7, frozenset({("p", "r"), ("q", "s")}), 3,
                 g, Guarded(g, {"y": "no"}, frozenset({"inv"}), 12, 2, {"checks": 12, "settled": 4}))
    data = analysis_to_json(a)
    back = analysis_from_json(json.loads(json.dumps(data)))
    assert back == a and analysis_cache._same(back, a)
    assert isinstance(back.guarded["x"], tuple) and isinstance(back.guarded["x"][0], tuple)
    assert back.guarded["x"][0][1] == 3 and type(back.guarded["x"][0][1]) is int
    assert type(back.guarded["sock_level"][0][1]) is bool
    assert back.guarded_info.guards is back.guarded
    plain = Analysis(frozenset(), {"*": "rule r does not run symbolically (KeyError)"})
    assert analysis_cache._same(analysis_from_json(json.loads(json.dumps(analysis_to_json(plain)))), plain)
    # a value JSON cannot carry faithfully: not stored
    assert analysis_to_json(Analysis(frozenset(), guarded={"f": (("g", 1.5j),)})) is None
    assert analysis_to_json(Analysis(frozenset(), guarded={"f": (("g", (1, 2)),)})) is None


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-key", "bad-shape", "bad-type"])
def test_a_corrupt_entry_is_recomputed(tmp_path, damage):
    rules = _rules(RULE_NAMES)
    ex1, r1 = _run(U2, rules, PROPS, ResultCache(tmp_path))
    [entry] = _entries(tmp_path)
    good = entry.read_text()
    doc = json.loads(good)
    if damage == "garbage":
        entry.write_bytes(b"\x00\xff not json")
    elif damage == "truncated":
        entry.write_text(good[: len(good) // 2])
    elif damage == "wrong-key":
        entry.write_text(json.dumps({**doc, "key": "0" * 64}))
    elif damage == "bad-shape":
        entry.write_text(json.dumps({**doc, "value": {"dropped": "token_id"}}))
    else:
        doc["value"]["valid"] = [[1, 2]]
        entry.write_text(json.dumps(doc))
    explorer._ANALYSES.clear()
    ex2, r2 = _run(U2, rules, PROPS, ResultCache(tmp_path))
    assert ex2.analysis_source == "computed"
    assert _summary(ex1, r1) == _summary(ex2, r2)
    assert json.loads(entry.read_text()) == json.loads(good)  # rewritten
    explorer._ANALYSES.clear()
    ex3, _ = _run(U2, rules, PROPS, ResultCache(tmp_path))
    assert ex3.analysis_source == "disk"


# ------------------------------------------------------------------ the CLI
CLI = ["explore", "--threads", "2", "--processes", "2", "--tokens", "2", "--privileges", "",
       "--rules", ",".join(RULE_NAMES), *[x for p in PROPS for x in ("--property", p)], "--json"]


def test_cli_caches_by_default_and_no_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = ["--out", str(tmp_path / "cex")]
    r = CliRunner().invoke(main, [*CLI, *out, "--no-cache"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["analysis_cached"] is False and rep["analysis_source"] == "computed"
    assert "setup_seconds" in rep and "analysis_seconds" in rep
    assert not (tmp_path / ".tokenproof-cache").exists()
    explorer._ANALYSES.clear()
    r = CliRunner().invoke(main, [*CLI, *out])  # the default directory, relative to the working directory
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["analysis_source"] == "computed"
    assert len(_entries(tmp_path / ".tokenproof-cache")) == 1
    explorer._ANALYSES.clear()
    r = CliRunner().invoke(main, [*CLI, *out, "--cache-dir", ".tokenproof-cache"])
    assert r.exit_code == 0, r.output
    warm = json.loads(r.output)
    assert warm["analysis_cached"] is True and warm["analysis_source"] == "disk"
    assert {k: v for k, v in warm.items() if "seconds" not in k and "bytes" not in k and "analysis" not in k} == \
        {k: v for k, v in rep.items() if "seconds" not in k and "bytes" not in k and "analysis" not in k}
    other = tmp_path / "elsewhere"
    explorer._ANALYSES.clear()
    r = CliRunner().invoke(main, [*CLI, *out, "--cache-dir", str(other), "--no-cache"])
    assert r.exit_code == 0, r.output
    assert not other.exists()
