"""Replaying BMC counterexamples on the concrete executor: a faithful trace
replays; any disagreement (a corrupted step, errno or model state) raises
``ReplayMismatch`` with a precise message; only replayed traces are written."""

from __future__ import annotations

import copy
import json

import pytest

from model.values import implies
from properties.base import Property
from tokenproof.bmc import run_bmc
from tokenproof.cex import model_hash, write
from tokenproof.mutants import load_seeded
from tokenproof.replay import ReplayMismatch, replay


def _live(s):
    return s.forall("Thread", lambda t: implies(s.thread_alive[t], s.token_alive[s.thread_real[t]]))


LIVE = Property("test.live-threads-have-live-tokens", "Every live thread's real token is live.", "state",
                ("§4.3",), _live)


@pytest.fixture(scope="module")
def cex():
    m = load_seeded()["fork-shares-token"]
    res = run_bmc(LIVE, depth=2, rules=m.rules(), mutant=m.name, timeout_ms=60_000)
    assert res.verdict == "refuted"
    return res.counterexample()


def fresh(c):
    d = copy.copy(c)
    d.steps = [copy.deepcopy(s) for s in c.steps]
    d.states = list(c.states)
    d.replayed = False
    return d


def test_faithful_counterexample_replays(cex):
    c = fresh(cex)
    result = replay(c)
    assert c.replayed
    assert len(result.states) == len(c.steps) + 1
    assert result.errnos == [s.errno for s in c.steps]


def test_wrong_errno_is_a_mismatch(cex):
    c = fresh(cex)
    c.steps[0].errno = 9
    with pytest.raises(ReplayMismatch, match=r"step 1 .*fork.*executor returns OK, the model EBADF"):
        replay(c)
    assert not c.replayed


def test_step_not_enabled_on_the_executor_is_a_mismatch(cex):
    c = fresh(cex)
    live_token = c.world.names["Token"]["alice"]
    c.steps[0].args["child_token"] = live_token  # fork needs an unused token object
    with pytest.raises(ReplayMismatch, match="not enabled"):
        replay(c)


def test_corrupted_model_state_is_a_mismatch(cex):
    c = fresh(cex)
    bad = c.states[1].copy_with_universe("Thread", [])
    bad = bad.with_writes([])
    from model.state import Write

    th = c.steps[0].args["child_thread"]
    bad = bad.with_writes([Write("thread_alive", key=(th,), value=False)])
    c.states[1] = bad
    with pytest.raises(ReplayMismatch, match=rf"depth 1 .*field thread_alive at thread thread#{th}"):
        replay(c)


def test_property_must_be_violated_on_the_executor(cex):
    from model.rules import RULES

    c = fresh(cex)
    with pytest.raises(ReplayMismatch):
        replay(c, rules=RULES)  # the real fork creates the token: the model's states disagree


def test_only_replayed_counterexamples_are_written(cex, tmp_path):
    c = fresh(cex)
    with pytest.raises(ValueError):
        write(c, tmp_path)
    replay(c)
    path = write(c, tmp_path)
    assert path.name == "test.live-threads-have-live-tokens.fork-shares-token.json"
    doc = json.loads(path.read_text())
    assert doc["schema"] == "tokenproof-trace/1"
    assert doc["profile"] == "kacs" and doc["auto_gc"] is False and doc["scenario"] == "standard"
    assert doc["model_hash"] == model_hash()
    step = doc["steps"][0]
    assert step["rule"] == "fork" and step["expect"] == {"errno": "OK"}
    assert step["args"]["child_token"].startswith("token#")
    assert doc["violation"] == {"property": LIVE.id, "step": 0, "statement": LIVE.statement}


def test_written_trace_runs_on_the_trace_executor(cex, tmp_path):
    trace = pytest.importorskip("tokenproof.trace")
    c = fresh(cex)
    replay(c)
    path = write(c, tmp_path)
    run = trace.execute(trace.load_trace(path))  # the real rules: fork succeeds as recorded
    assert [s.errno for s in run.steps] == [0]


def test_model_hash_tracks_the_model_source(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    h1 = model_hash(tmp_path)
    assert h1 == model_hash(tmp_path)
    (tmp_path / "a.py").write_text("x = 2\n")
    assert model_hash(tmp_path) != h1
