"""The kill matrix machinery: generated mutants exist for every operator, the concrete
random-walk oracle never "kills" the real rules, and a fixed set of named mutants stays
killed (fast: concrete oracle only, few short walks)."""

from __future__ import annotations

from collections import Counter

import pytest

from tokenproof.catalog_run import load_catalog
from tokenproof.killmatrix import all_mutants, judged_properties, operator, walk_mutant  # noqa: F401
from tokenproof.mutants import Mutant

# mutant -> a property that must refute it (the walk may find others too)
KILLED = {
    "fork/skip-effect-0": "live-threads-have-live-real-tokens",
    "kacs_impersonate_peer/effective-for-real": "threads-never-act-as-another-user-without-se-impersonate",
    "ioctl_adjust_privs/drop-guard-1": "token-operations-are-authorized-by-the-handle-mask",
    "ioctl_adjust_groups/drop-guard-6": "mandatory-default-groups-are-never-disabled",
    "exec/skip-effect-0": None,
    # killed by properties/guards.py (added for the kill matrix's survivors, issue 6)
    "close_handle/drop-guard-0": "no-step-succeeds-on-a-closed-token-fd",
    "set_cloexec/drop-guard-0": "no-step-succeeds-on-a-closed-token-fd",
}


@pytest.fixture(scope="module")
def props():
    return judged_properties(load_catalog())


def test_every_operator_generates_mutants():
    ops = Counter(operator(m) for m in all_mutants().values())
    for op in ("drop-guard", "skip-effect", "ignore-guards", "flip", "skip-privilege-check", "effective-for-real"):
        assert ops[op] > 0, op
    assert set(KILLED) <= set(all_mutants())


def test_the_real_rules_are_never_killed(props):
    """The identity 'mutant' (no change): the oracle must find no violation (no false kills)."""
    identity = Mutant("ioctl_adjust_privs/identity", "ioctl_adjust_privs", "no change")
    assert walk_mutant(identity, props, seeds=range(2), steps=25) == {}


@pytest.mark.parametrize("name", sorted(KILLED))
def test_named_mutant_is_killed_by_the_concrete_oracle(name, props):
    found = walk_mutant(all_mutants()[name], props, seeds=range(4), steps=30, first_only=KILLED[name] is None)
    assert found, f"{name} survived the concrete oracle"
    if KILLED[name]:
        assert KILLED[name] in found, (name, sorted(found))


# ------------------------------------------------------------------ the cheap oracles and the verdicts
def test_the_real_rules_pass_every_recorded_trace(props):
    """Oracle (a)/(b) baseline: no judged property is violated on any scenario or corpus trace with the
    real rules (otherwise a 'kill' on that trace would not be the mutant's doing)."""
    from tokenproof.killmatrix import trace_cases

    cases = trace_cases(props)
    assert sum(c.kind == "scenario" for c in cases) >= 90
    assert sum(c.kind == "corpus" for c in cases) >= 40
    assert [c.path for c in cases if c.baseline] == []


def test_the_scenario_oracle_kills_with_a_catalog_property(props):
    from tokenproof.killmatrix import trace_oracle

    found, _ = trace_oracle(all_mutants()["fork/skip-effect-0"], props, "scenario")
    assert "live-processes-have-live-primaries" in found
    assert found["live-processes-have-live-primaries"].startswith("scenario:tests/scenarios/")


def test_a_changed_scenario_outcome_is_not_a_catalog_kill(props):
    """kernel_destroy_session with its precondition's ne read as eq is never enabled: the kernel-destroy
    scenario no longer gets the outcome it expects (a scenario kill), but no catalog property is violated
    (no transition property sees a step that never happens): the mutant is not 'killed' and is classified a
    gap."""
    from tokenproof.killmatrix import SURVIVED, classify, evaluate

    k = evaluate("kernel_destroy_session/flip-ne-eq", use_bmc=False, seeds=2, steps=20)
    assert not k.killed and k.verdict == SURVIVED
    assert "tests/scenarios/kernel-destroy-session-ok.json" in k.scenario_kills
    assert classify(k.mutant, k)[0] == "gap"


def test_out_of_budget_bmc_is_unknown_never_killed():
    from tokenproof.killmatrix import UNKNOWN, Kill, bmc_stage

    k = bmc_stage(Kill("fork/skip-effect-1"), depth=1, bmc_budget=0.0)
    assert not k.killed and k.verdict == UNKNOWN and "out of time" in k.unknown[0]


def test_a_bmc_kill_is_a_replayed_catalog_violation():
    """Oracle (c): the conjunction query refutes, the counterexample replays, and the kill names the
    catalog property violated at the replayed step."""
    from tokenproof.killmatrix import KILLED, Kill, bmc_stage

    k = bmc_stage(Kill("fork/skip-effect-0"), ["live-threads-have-live-real-tokens"], depth=1, timeout_ms=120000,
                  bmc_budget=600.0)
    assert k.verdict == KILLED and k.oracle == "bmc"
    assert k.killed_by == {"live-threads-have-live-real-tokens": "bmc:1"}


def test_observable_difference_finds_a_changed_errno_and_not_the_identity():
    from tokenproof.killmatrix import observable_difference

    assert "errno 0 instead of 9" in observable_difference(all_mutants()["close_handle/drop-guard-0"], range(2), 20)
    identity = Mutant("close_handle/identity", "close_handle", "no change")
    assert observable_difference(identity, range(2), 20) == ""
