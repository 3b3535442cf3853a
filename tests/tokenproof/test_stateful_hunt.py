"""The hypothesis stateful hunter (``tokenproof.stateful_hunt``), BMC's peer in ``benchmarks/bmc_mutants.py``
(issue "SMT encoding and provers": the seeded mutants hunted with hypothesis stateful testing)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine

import properties.catalog  # noqa: F401
from model.rules import RULES
from properties.base import CATALOG
from tokenproof.mutants import load_seeded
from tokenproof.stateful_hunt import DrawChooser, hunt, machine

PRIVCHECK = "privilege-check-succeeds-exactly-when-every-privilege-is-held"
SHARED_TOKEN = "live-threads-have-live-effective-tokens"


def test_a_transition_property_broken_by_a_seeded_mutant_is_found_on_a_step_of_its_rule():
    """PRIV-* / §7.1 kacs_privilege_check: the mutant answers success without the privileges."""
    prop = CATALOG[PRIVCHECK]
    found = hunt(prop, load_seeded()["privilege-check-ignores-missing-privileges"].rules(), examples=50)
    assert found.found and found.failing_steps[-1] == "kacs_privilege_check"
    assert found.examples <= 51


def test_a_state_property_broken_by_a_seeded_mutant_is_found_as_a_failing_invariant():
    """§4.3 / §9: every live thread has a live effective token; the mutant's fork does not write the
    child's token object, so the child runs on a token that is not alive."""
    found = hunt(CATALOG[SHARED_TOKEN], load_seeded()["fork-shares-token"].rules(), examples=30)
    assert found.found and "fork" in found.failing_steps


@pytest.mark.parametrize("pid", [PRIVCHECK, SHARED_TOKEN])
def test_the_kacs_rules_give_no_violation_of_a_proved_property(pid):
    prop = CATALOG[pid]
    assert prop.expect["kacs"] == "proved"
    result = hunt(prop, RULES, examples=15, steps=20)
    assert not result.found and result.failing_steps == [] and result.examples >= 15


def test_the_hunt_is_deterministic():
    rules = load_seeded()["fork-shares-token"].rules()
    first, second = (hunt(CATALOG[SHARED_TOKEN], rules, examples=30) for _ in range(2))
    assert (first.found, first.failing_steps, first.examples) == (second.found, second.failing_steps,
                                                                  second.examples)


def test_the_machine_has_one_hypothesis_rule_per_model_rule_and_refuses_access_properties():
    cls = machine(CATALOG[SHARED_TOKEN], RULES)
    assert issubclass(cls, RuleBasedStateMachine)
    assert {n for n in vars(cls) if n.startswith("step_")} == {f"step_{n}" for n in RULES}
    access = next(p for p in CATALOG.values() if p.kind == "access")
    with pytest.raises(ValueError, match="AccessQuery"):
        machine(access, RULES)


@settings(max_examples=30, derandomize=True, database=None)
@given(st.data(), st.lists(st.integers(), min_size=1, max_size=5))
def test_draw_chooser_answers_within_the_choices(data, seq):
    chooser = DrawChooser(data)
    assert chooser.choice(seq) in seq
    assert 0 <= chooser.random() < 1
