"""Rule sets the explorer tests run on: a subset of the KACS rules, or of a seeded mutant's."""

from __future__ import annotations

from model.rules.registry import RULES, Rule
from tokenproof.mutants import load_seeded


def rule_subset(names: list[str], mutant: str | None = None) -> dict[str, Rule]:
    """The rules ``names`` (in that order) of the KACS rule set, or of ``mutant``'s when one is named."""
    rules = load_seeded()[mutant].rules(dict(RULES)) if mutant else dict(RULES)
    return {n: rules[n] for n in names}
