"""tokenproof review (issue 8): proposals load, the diff finds the broken
property with a replayed counterexample and a new behaviour, and the output
formats render.  Small property subsets keep it fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.profiles import get_profile
from tokenproof.review import load_proposal, review

ROOT = Path(__file__).resolve().parents[2]
PROPOSALS = sorted((ROOT / "proposals").glob("[a-z]*.py"))


def test_at_least_four_proposals_with_titles_and_changes():
    assert len(PROPOSALS) >= 4
    base = get_profile("kacs")
    for p in PROPOSALS:
        prop = load_proposal(p, base)
        assert prop.title and prop.description and prop.changed and prop.expect_broken, p.name


@pytest.fixture(scope="module")
def ceiling_report(tmp_path_factory):
    return review(str(ROOT / "proposals/se_impersonate_lifts_ceiling.py"),
                  ids=["se-impersonate-never-lifts-the-integrity-ceiling"], timeout_ms=10000, depth=3,
                  out_dir=tmp_path_factory.mktemp("cex"))


def test_review_finds_the_broken_property_with_a_replayed_counterexample(ceiling_report):
    rep = ceiling_report
    assert rep.changed == ["ioctl_impersonate", "kacs_impersonate_peer"]
    [c] = rep.changes
    assert (c.prop, c.before, c.after) == ("se-impersonate-never-lifts-the-integrity-ceiling", "proved", "refuted")
    assert c.cex is not None and c.cex.depth == 3 and Path(c.cex.file).exists()
    assert c.cex.steps[-1]["rule"] == "kacs_impersonate_peer"


def test_review_finds_new_behaviours(ceiling_report):
    found = {b.rule: b for b in ceiling_report.behaviours}
    assert found["kacs_impersonate_peer"].status == "found"
    assert found["kacs_impersonate_peer"].differences


def test_new_behaviour_witnesses_show_small_counters(ceiling_report):
    """z3 left alone picks a next_token_id near 2**64; the witness prefers small global counters."""
    import re

    from tokenproof.review import SMALL_COUNTER

    numbers = [int(n) for b in ceiling_report.behaviours for d in b.differences
               if d.startswith(("next_token_id", "next_luid")) for n in re.findall(r"\d+", d)]
    assert numbers and max(numbers) <= SMALL_COUNTER


def test_the_small_counter_preference_covers_every_global_counter_and_nothing_else():
    from model.symbolic import Universe
    from tokenproof.review import _small_counters

    pre = Universe("unbounded", sids=[]).fresh_state("pre")
    text = " ".join(str(c) for c in _small_counters(pre))
    assert "next_token_id" in text and "next_luid" in text and len(_small_counters(pre)) == 2


def test_formats_render(ceiling_report):
    from tokenproof.commands.review import markdown
    from tokenproof.htmlreport import render

    md = markdown(ceiling_report)
    assert "| `se-impersonate-never-lifts-the-integrity-ceiling` | proved | **refuted**" in md
    html = render(ceiling_report)
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and 'id="diff"' in html


def test_default_selection_restricts_to_affected_properties():
    from model.scenarios import SCENARIOS
    from tokenproof.catalog_run import load_catalog
    from tokenproof.prover import InductionProver
    from tokenproof.review import select_properties

    base = get_profile("kacs")
    prop = load_proposal(ROOT / "proposals/adjust_privs_adds.py", base)
    cat = load_catalog()
    init = SCENARIOS["standard"]().state
    bv = InductionProver(base, cat, init)
    pv = InductionProver(prop.rules, cat, init)
    ids, text = select_properties(cat, bv, pv, prop.changed, False, None)
    assert "privileges-present-never-grow" in ids and "enabled-privileges-are-present" in ids
    assert len(ids) < len(cat) and any(cat[i].kind == "state" for i in set(cat) - set(ids))
    assert all(cat[i].kind != "access" for i in ids)


def test_the_proof_cache_serves_unchanged_obligations_and_never_a_changed_rule(tmp_path):
    """With ``cache_dir`` a review reads and writes ``tokenproof prove``'s obligation cache.  The proposal
    swaps a helper of two rules but keeps their functions, so a source key cannot tell them from the
    baseline's: their obligations must never come from the cache, or the refutation would be lost."""
    import json

    ids = ["se-impersonate-never-lifts-the-integrity-ceiling"]
    path = str(ROOT / "proposals/se_impersonate_lifts_ceiling.py")
    cache = tmp_path / "cache"

    def changes():
        rep = review(path, ids=ids, timeout_ms=10000, depth=3, behaviours=False, out_dir=tmp_path / "cex",
                     cache_dir=str(cache))
        return [(c.prop, c.before, c.after) for c in rep.changes]

    cold = changes()
    stored = {p.name: json.loads(p.read_text()) for p in cache.rglob("*.json")}
    assert stored  # the baseline's unsat obligations (and the proposal's on unchanged rules)
    assert changes() == cold == [(ids[0], "proved", "refuted")]
    assert {p.name for p in cache.rglob("*.json")} == set(stored)  # warm: nothing new to store
