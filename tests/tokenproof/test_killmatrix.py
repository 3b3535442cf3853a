"""The kill matrix machinery: generated mutants exist for every operator, the concrete
random-walk oracle never "kills" the real rules, and a fixed set of named mutants stays
killed (fast: concrete oracle only, few short walks)."""

from __future__ import annotations

from collections import Counter

import pytest

from tokenproof.catalog_run import load_catalog
from tokenproof.killmatrix import all_mutants, judged_properties, operator, walk_mutant
from tokenproof.mutants import Mutant

# mutant -> a property that must refute it (the walk may find others too)
KILLED = {
    "fork/skip-effect-0": "live-threads-have-live-real-tokens",
    "kacs_impersonate_peer/effective-for-real": "threads-never-act-as-another-user-without-se-impersonate",
    "ioctl_adjust_privs/drop-guard-1": "token-operations-are-authorized-by-the-handle-mask",
    "ioctl_adjust_groups/drop-guard-6": "mandatory-default-groups-are-never-disabled",
    "exec/skip-effect-0": None,
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
