"""`prove` settles what induction cannot prove with replayed counterexamples
(DEVELOPERS.md: every counterexample is replayed before it is reported)."""

from __future__ import annotations

from tokenproof.catalog_run import known_counterexample, load_catalog, prove_catalog, CORPUS_DIR
from model.profiles import get_profile


def test_a_recorded_counterexample_refutes_the_naive_primary_property(tmp_path):
    """§4.3 NEW_PROCESS_MIN: the naive property is refuted by a replayed one-step trace."""
    [res] = prove_catalog(ids=["primary-changes-only-by-privileged-install"], timeout_ms=10000, depth=1,
                          out_dir=tmp_path)
    assert res.verdict == "refuted" and res.as_expected
    assert res.counterexample_file and "new-process-min" in res.counterexample_file


def test_a_recorded_counterexample_is_only_evidence_if_it_still_replays():
    """A trace for a property the model satisfies is not accepted (it does not reproduce)."""
    catalog = load_catalog()
    rules = get_profile("kacs")
    assert known_counterexample(catalog["exec-leaves-no-impersonation"], rules, "kacs", [CORPUS_DIR]) is None
    found = known_counterexample(catalog["threads-of-a-live-process-share-its-primary"], rules, "kacs", [CORPUS_DIR])
    assert found is not None and found[0].reproduced
