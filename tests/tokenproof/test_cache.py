"""The proof cache: what keys cover, hits and misses, and re-proving only what a change touches."""

from __future__ import annotations

import json

from model.profiles import get_profile
from tokenproof import cache as C
from tokenproof.catalog_run import Record, RunOptions, Runner, load_catalog, run, volatile

FAST = "fork-yields-a-distinct-token"


def keys(**kw) -> C.Keys:
    return C.Keys(get_profile("kacs"), load_catalog(), kw.get("profile", "kacs"), "standard", 5000, 3)


def names(files) -> set[str]:
    return {p.relative_to(C.ROOT).as_posix() for p in files}


def test_source_closure_follows_imports_not_package_glue():
    sess = names(C.closure(C.module_file("model.rules.sessions")))
    assert {"model/rules/sessions.py", "model/rules/common.py", "model/values.py", "model/step.py",
            "model/state.py", "model/domain.py", "model/access.py"} <= sess
    assert "model/rules/adjustment.py" not in sess and "model/rules/__init__.py" not in sess
    creation = names(C.closure(C.module_file("model.rules.creation")))
    assert "model/rules/handles.py" in creation  # it imports merge_when from there
    prover = names(C.module_closure(*C.PROVER_MODULES))
    assert {"tokenproof/smt.py", "tokenproof/encode.py", "model/symbolic.py"} <= prover
    assert not any(n.startswith("model/rules/") and n not in ("model/rules/common.py", "model/rules/registry.py")
                   for n in prover)


def test_keys_are_stable_and_separate_rules():
    a, b = keys(), keys()
    lem = ("dead-sessions-never-revive",)
    assert a.step(FAST, "fork", lem) == b.step(FAST, "fork", lem)
    assert a.base(FAST) == b.base(FAST) and a.property(FAST) == b.property(FAST)
    assert a.step(FAST, "fork", ()) != a.step(FAST, "exec", ())
    assert a.step(FAST, "fork", ()) != a.step(FAST, "fork", lem)
    assert a.step(FAST, "fork", ("x", "y")[:0]) == a.step(FAST, "fork", [])


def test_result_cache_round_trip_and_corruption(tmp_path):
    rc = C.ResultCache(tmp_path)
    assert rc.get("obligation", "ab" * 32) is None
    rc.put("obligation", "ab" * 32, {"core": ["x"]})
    assert rc.get("obligation", "ab" * 32) == {"core": ["x"]}
    path = next(tmp_path.rglob("*.json"))
    path.write_text("{not json")
    assert rc.get("obligation", "ab" * 32) is None
    assert rc.stats.obligations.to_json() == {"hits": 1, "misses": 2}


def test_warm_run_hits_and_a_changed_rule_reproves_only_its_obligations(tmp_path, monkeypatch):
    opts = RunOptions(ids=[FAST], timeout_ms=5000, out_dir=str(tmp_path / "cex"), cache_dir=str(tmp_path / "c"))
    cold = run(opts)
    assert cold.records[0].verdict == "proved" and not cold.records[0].cached
    assert cold.cache.properties.misses == 1 and cold.cache.obligations.hits == 0
    n_obligations = cold.cache.obligations.misses
    assert n_obligations >= len(get_profile("kacs"))  # one step obligation per rule, at least

    warm = run(opts)
    assert warm.records[0].cached and warm.cache.properties.hits == 1 and warm.cache.obligations.misses == 0
    assert warm.records[0].comparable() == cold.records[0].comparable()

    # "edit" one rule: its source digest changes
    original = C.Keys.rule_src
    monkeypatch.setattr(C.Keys, "rule_src",
                        lambda self, name: original(self, name) + ("!edited" if name == "exec" else ""))
    again = run(opts)
    assert again.cache.properties.misses == 1  # the property's verdict depends on every rule
    # only the step obligation of the edited rule is solved again (the all-rules cross-check query is off by
    # default: a sanity check of the solver, not part of the proof)
    assert again.cache.obligations.misses == 1
    assert again.cache.obligations.hits == n_obligations - 1
    assert again.records[0].comparable() == cold.records[0].comparable()


def test_no_cache_option_leaves_no_directory(tmp_path):
    opts = RunOptions(ids=[FAST], timeout_ms=5000, out_dir=None, cache_dir=None)
    rep = run(opts)
    assert rep.cache is None and rep.records[0].verdict == "proved"


def rec(**kw) -> Record:
    d = dict(id="p", statement="s", kind="state", area="a", sections=[], clauses=[], source=["f.py", 1],
             profile="kacs", verdict="unknown", expected="unknown", seconds=0.0)
    d.update(kw)
    return Record(**d)


def test_resource_limited_unknowns_are_not_cached():
    assert volatile(rec(detail="p on fork: solver timeout"))
    assert volatile(rec(detail="not inductive ...; BMC: canceled"))
    assert not volatile(rec(detail="not inductive ...; no counterexample up to depth 3"))
    assert not volatile(rec(verdict="proved", expected="proved", detail="every step (combined cross-check "
                                                                          "inconclusive: timeout)"))


def test_cached_refutation_rewrites_its_trace_file(tmp_path):
    runner = Runner(RunOptions(ids=[FAST], out_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "c")))
    trace = json.dumps({"schema": "tokenproof-trace/1", "steps": []}) + "\n"
    r = rec(verdict="refuted", expected="refuted", counterexample="counterexamples/p.json")
    runner._restore_counterexample(r, trace)
    assert (tmp_path / "out" / "p.json").read_text() == trace
    assert r.counterexample.endswith("out/p.json")
