"""Minimization: steps, arguments and the initial world shrink while the violation persists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.rules import RULES
from tokenproof.minimize import minimize
from tokenproof.narrative import replay_trace
from tokenproof.trace import load_trace, parse_trace

CEX = Path(__file__).resolve().parents[2] / "counterexamples"
NPM = CEX / "finding-new-process-min-exec-replaces-the-primary.json"


def padded() -> dict:
    """The NEW_PROCESS_MIN finding with noise: extra steps, a needlessly wide mask, an unused setup."""
    data = json.loads(NPM.read_text())
    data["setup"] = {"sessions": ["carol-session"],
                     "tokens": {"carol": {"user": "SYSTEM", "session": "carol-session",
                                          "privileges": ["SeTcbPrivilege", "SeDebugPrivilege"],
                                          "groups": ["Users", "Everyone"]}},
                     "processes": {"carolsh": {"token": "carol", "threads": ["c1", "c2"]}},
                     "fds": [{"process": "carolsh", "token": "carol", "rights": ["TOKEN_QUERY"]}]}
    noise = [{"actor": "c1", "rule": "kacs_open_self_token",
              "args": {"real": False, "access_mask": ["TOKEN_QUERY", "TOKEN_DUPLICATE", "TOKEN_IMPERSONATE"]}},
             {"actor": "bob1", "rule": "kacs_privilege_check", "args": {"privileges": ["SeChangeNotifyPrivilege"]}},
             {"actor": "sh2", "rule": "kacs_open_self_token", "args": {"real": True, "access_mask": ["TOKEN_QUERY"]}}]
    data["steps"] = noise + data["steps"] + [{"actor": "c2", "rule": "clone_thread", "args": {}}]
    data["violation"]["step"] = 3
    return data


def test_minimize_removes_noise_and_keeps_the_violation():
    data = padded()
    tr = parse_trace(json.loads(json.dumps(data)), "padded")
    assert replay_trace(tr).reproduced
    m = minimize(tr, RULES, budget=400)
    assert [s["rule"] for s in m.data["steps"]] == ["exec"]
    assert m.data["violation"]["step"] == 0
    assert "setup" not in m.data or not any(m.data["setup"].get(k) for k in ("processes", "tokens", "fds", "sessions"))
    text = "\n".join(m.removals)
    assert "dropped step 4 (clone_thread by c2) (after the violation)" in text
    assert "setup: process carolsh" in text and "setup: token carol" in text
    assert m.runs <= 400 and not m.exhausted
    again = parse_trace(json.loads(json.dumps(m.data)), "min")
    rep = replay_trace(again)
    assert rep.exit_code == 0  # re-recorded expectations hold


def test_minimize_is_deterministic():
    a = minimize(padded(), RULES, budget=400)
    b = minimize(padded(), RULES, budget=400)
    assert a.data == b.data and a.removals == b.removals and a.runs == b.runs


def test_minimize_shrinks_arguments():
    tr = load_trace(CEX / "mutant-duplicate-raises-the-level.json")
    rep = replay_trace(tr)
    data = json.loads((CEX / "mutant-duplicate-raises-the-level.json").read_text())
    data["steps"][0]["args"]["access_mask"] = ["TOKEN_ALL_ACCESS"]
    m = minimize(data, rep.rules, budget=400)
    assert any("access_mask" in r for r in m.removals) or any("level" in r for r in m.removals), m.removals
    assert replay_trace(parse_trace(json.loads(json.dumps(m.data)), "m"), rules=rep.rules).reproduced


def test_budget_is_respected():
    m = minimize(padded(), RULES, budget=5)
    assert m.exhausted and m.runs <= 5
    assert replay_trace(parse_trace(json.loads(json.dumps(m.data)), "m")).reproduced


def test_refuses_a_trace_without_a_reproducing_violation():
    data = json.loads(NPM.read_text())
    data.pop("violation")
    with pytest.raises(ValueError):
        minimize(data, RULES)
    tr = load_trace(CEX / "mutant-install-without-assign-primary-privilege.json")
    with pytest.raises(ValueError):
        minimize(tr, RULES)  # on the real rules it does not reproduce
