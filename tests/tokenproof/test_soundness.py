"""Soundness checks: vacuity, unknown-as-verdict (forced tiny timeouts), the cvc5 cross-check."""

from __future__ import annotations

import pytest
import z3

from model.scenarios import SCENARIOS
from properties.base import Property
from tokenproof.catalog_run import load_catalog
from tokenproof.prover import InductionProver, ProofResult
from tokenproof.soundness import (CrossCheckDisagreement, Query, RecordingProver, VacuityChecker, apply_vacuity,
                                  cross_check_queries, cvc5_available, reachable_walks)

HARD = ("failed-steps-change-nothing-but-used-bits", "kacs_open_process_token")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def vc(catalog):
    return VacuityChecker(walk=reachable_walks(seeds=range(1), steps=15), timeout_ms=5000)


# ------------------------------------------------------------------ vacuity
def test_catalog_premises_have_a_concrete_witness(vc, catalog):
    for pid in ("live-threads-have-live-real-tokens", "handle-masks-never-grow", "enabled-privileges-are-present"):
        _, f = vc.premises(catalog[pid])
        assert f.status == "ok" and f.witness == "concrete", f


def test_inconsistent_support_is_reported_vacuous_and_never_proved(vc, catalog):
    false_lemma = Property("zz-false-lemma", "false", "state", ("§0",), lambda s: False)
    p = Property("zz-uses-false", "anything", "state", ("§0",), lambda s: True, support=("zz-false-lemma",))
    vc.catalog["zz-false-lemma"], vc.catalog["zz-uses-false"] = false_lemma, p
    try:
        _, f = vc.premises(p)
        assert f.status == "vacuous", f
        res = apply_vacuity([ProofResult(p, "proved", 0.0)], [f])
        assert res[0].verdict == "unknown" and res[0].detail.startswith("VACUOUS")
    finally:
        del vc.catalog["zz-false-lemma"], vc.catalog["zz-uses-false"]


def test_a_transition_property_about_nothing_is_flagged_trivial(vc, catalog):
    p = Property("zz-trivial", "holds on every outcome", "transition", ("§0",), lambda pre, post, step: True,
                 rules=("close_handle",))
    f = vc.antecedent(p, [])
    assert f.status == "trivial", f


def test_a_real_transition_property_has_a_reachable_antecedent(vc, catalog):
    p = catalog["handle-masks-never-grow"]
    lemmas, _ = vc.premises(p)
    assert vc.antecedent(p, lemmas).status == "ok"


def test_rule_guards_are_satisfiable(vc):
    assert vc.guard("close_handle").status == "ok"
    assert vc.guard("fork").status == "ok"


# ------------------------------------------------------------------ unknown is a verdict
def test_tiny_timeout_is_unknown_with_a_reason(catalog):
    from model.rules.registry import RULES

    prover = InductionProver(RULES, catalog, SCENARIOS["standard"]().state, timeout_ms=1, cross_check=False)
    prop, rule = HARD
    lemmas = [pid for pid in prover.closure(catalog[prop]) if pid != prop]
    ob = prover.step_case(prop, rule, lemmas)
    assert ob.status == "unknown", ob
    assert ob.reason, "an unknown verdict must carry z3's reason"


def test_tiny_timeout_never_proves(catalog):
    from model.rules.registry import RULES

    prover = InductionProver({HARD[1]: RULES[HARD[1]]}, catalog, SCENARIOS["standard"]().state, timeout_ms=1,
                             cross_check=False)
    res = prover.prove(catalog[HARD[0]])
    assert res.verdict != "proved"
    assert res.verdict == "unknown" and res.detail


def test_bmc_tiny_timeout_is_unknown_with_a_reason(catalog):
    from tokenproof.bmc import UNKNOWN, run_bmc

    res = run_bmc(catalog["live-threads-have-live-real-tokens"], depth=2, timeout_ms=1)
    assert res.verdict in (UNKNOWN, "bounded-ok")  # a 1 ms query may still finish on a trivial depth
    if res.verdict == UNKNOWN:
        assert res.reason


# ------------------------------------------------------------------ second solver
needs_cvc5 = pytest.mark.skipif(not cvc5_available(), reason="cvc5 is not installed (pip install 'tokenproof[cvc5]')")


@needs_cvc5
def test_cvc5_agrees_on_a_proved_property(catalog):
    from model.rules.registry import RULES

    rules = {n: RULES[n] for n in ("close_handle", "set_cloexec", "kacs_open_self_token")}
    prover = RecordingProver(rules, catalog, SCENARIOS["standard"]().state, timeout_ms=10000, cross_check=False)
    res = prover.prove(catalog["token-fds-are-created-close-on-exec"])
    assert res.verdict == "proved"
    checks = cross_check_queries(prover.queries, timeout_ms=10000)
    assert checks and not any(c.disagrees for c in checks)
    assert any(c.agrees for c in checks)


@needs_cvc5
def test_a_disagreement_fails_loudly():
    x = z3.BitVec("x", 8)
    fake = Query(("p", "r"), [x == 3], {}, "unsat", "quantified")  # z3 'said' unsat, but it is sat
    with pytest.raises(CrossCheckDisagreement):
        cross_check_queries([fake])


def test_cvc5_unknown_is_not_a_disagreement():
    from tokenproof.soundness import CrossCheck

    c = CrossCheck(("p", "r"), "quantified", "unsat", "unknown", 0.0, "timeout")
    assert not c.disagrees and not c.agrees
