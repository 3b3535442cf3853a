"""The reviewed survivors of the kill matrix (issue 6): every entry names a generated mutant and says
why it is equivalent (it cannot change any observable behaviour) or which property is missing (a gap)."""

from __future__ import annotations

from tokenproof.killmatrix import SURVIVORS, all_mutants, classify


def test_every_reviewed_survivor_is_a_generated_mutant_with_a_reason():
    names = set(all_mutants())
    for name, (cls, why) in SURVIVORS.items():
        assert name in names, f"{name}: not a generated mutant (tokenproof mutants --list)"
        assert cls in ("equivalent", "gap"), f"{name}: class {cls!r}"
        assert len(why.split()) >= 5, f"{name}: the explanation is too short to review"


def test_classify_prefers_the_reviewed_entry():
    for name, entry in SURVIVORS.items():
        assert classify(name) == entry
    assert classify("no-such-rule/drop-guard-0")[0] == "unclassified"
