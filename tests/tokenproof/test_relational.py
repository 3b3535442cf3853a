"""Relational AccessCheck proofs (tokenproof/relational.py) at a small N, their mutants, and the findings."""

from __future__ import annotations

import pytest

from model import access as A
from model import domain as D
from model.scenarios import standard
from model.sddl import sd_from_json
from tokenproof.relational import (MUTANTS, RELATIONAL, counterexample_document, overall, prove_bit,
                                   prove_property)

N = 8
TIMEOUT = 60000
PROVED = [p for p in RELATIONAL.values() if p.expect == "proved"]
FINDINGS = [p for p in RELATIONAL.values() if p.expect == "refuted"]


def _some_bits(prop):
    bits = prop.bits(D.TOKEN_MAPPING)
    return sorted({bits[0], bits[-1], *[b for b in bits if b in (3, 17, 19)]})


@pytest.mark.parametrize("prop", PROVED, ids=lambda p: p.id)
def test_property_proves_at_small_n(prop):
    """The direct query over N symbolic ACEs (the cross-check of the walk induction)."""
    res = prove_property(prop, N, timeout_ms=TIMEOUT, bits=_some_bits(prop), method="direct")
    assert overall(res) == "proved", [(r.bit, r.verdict, r.detail) for r in res]


@pytest.mark.parametrize("prop", PROVED, ids=lambda p: p.id)
def test_every_proved_property_is_refuted_by_its_mutants(prop):
    assert prop.mutants, f"{prop.id} names no mutant"
    for mu in prop.mutants:
        assert mu in MUTANTS
        res = prove_property(prop, N, mutant=mu, timeout_ms=TIMEOUT, stop_at_refutation=True)
        assert overall(res) == "refuted", (prop.id, mu)
        cex = next(r for r in res if r.verdict == "refuted").counterexample
        assert cex and "replayed" in cex  # replayed on the concrete (mutant) pipeline


def test_all_bits_of_one_property_prove():
    res = prove_property("access-max-allowed-agrees", 4, timeout_ms=TIMEOUT)
    assert len(res) == 22 and overall(res) == "proved"


@pytest.mark.parametrize("prop", FINDINGS, ids=lambda p: p.id)
def test_findings_are_refuted_with_replayed_counterexamples(prop):
    r = prove_bit(prop, N, prop.bits(D.TOKEN_MAPPING)[2], timeout_ms=TIMEOUT)
    assert r.verdict == "refuted"
    doc = counterexample_document(prop, r, "token")
    assert doc["sd"] is not None and len(doc["tokens"]) == 2


def test_group_toggle_counterexample_reproduces_through_token_specs(tmp_path):
    """The saved counterexample ({token specs, SD, desired, granted before/after}) replays
    through token_from_spec and the JSON SD reader: disabling the group adds the bit."""
    prop = RELATIONAL["access-group-toggle-monotonic"]
    r = prove_bit(prop, N, 2, timeout_ms=TIMEOUT)
    assert r.verdict == "refuted"
    doc = counterexample_document(prop, r, "token")
    w = standard()
    granted = {}
    for name, spec in doc["tokens"].items():
        t = w.add_token(name, spec)
        sd = sd_from_json(doc["sd"], "sd", w.resolve_sid)
        granted[name] = int(A.access_check(w.state, t, sd, D.mask(int(doc["desired"], 16)), D.TOKEN_MAPPING,
                                           doc["intent"]).granted)
    assert granted == {k: int(v, 16) for k, v in doc["granted"].items()}
    bit = 1 << doc["bit"]
    assert granted["disabled"] & bit and not granted["enabled"] & bit
