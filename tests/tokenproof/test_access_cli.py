"""``tokenproof access`` and ``tokenproof access-proofs``: outputs and exit codes."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tokenproof.cli import main

EX = "examples/access"


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_alice_denied_by_admins_deny_ace():
    r = run("access", f"{EX}/alice.json", f"{EX}/deny-admins.json", "--desired", "TOKEN_ADJUST_GROUPS")
    assert r.exit_code == 1, r.output
    assert "denied by ACE #0 (deny Administrators 0x60)" in r.output and "DENIED" in r.output


def test_alice_with_admins_disabled_is_allowed():
    r = run("access", f"{EX}/alice-admins-disabled.json", f"{EX}/deny-admins.json", "--desired",
            "TOKEN_ADJUST_GROUPS")
    assert r.exit_code == 0, r.output
    assert "granted by ACE #1 (allow Everyone 0x68)" in r.output


def test_sddl_file_and_mic_and_json_output():
    r = run("access", f"{EX}/alice.json", f"{EX}/high-label.sddl", "--desired", "TOKEN_QUERY|TOKEN_ADJUST_GROUPS",
            "--format", "json")
    assert r.exit_code == 1
    out = json.loads(r.output)
    by = {b["name"]: b for b in out["bits"]}
    assert by["TOKEN_QUERY"]["granted"] and "MIC" in by["TOKEN_ADJUST_GROUPS"]["by"]


def test_sddl_argument_maximum_allowed_and_intent():
    r = run("access", f"{EX}/alice.json", "O:SYD:(A;;GA;;;WD)", "--desired", "MAXIMUM_ALLOWED",
            "--mapping", "file", "--intent", "backup")
    assert r.exit_code == 0 and "granted 0x001f01ff" in r.output


def test_bad_inputs_exit_2_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"user": "alice", "groups": 5}')
    r = run("access", str(bad), f"{EX}/deny-admins.json", "--desired", "TOKEN_QUERY")
    assert r.exit_code == 2 and "groups" in r.output and "Traceback" not in r.output
    r = run("access", f"{EX}/alice.json", "O:SYD:(A;;ZZ;;;WD)", "--desired", "1")
    assert r.exit_code == 2 and "unknown access right 'ZZ'" in r.output
    r = run("access", f"{EX}/alice.json", "O:SYS:(ML;;NW;;;SY)", "--desired", "1")
    assert r.exit_code == 2 and "S-1-16-X" in r.output
    r = run("access", f"{EX}/alice.json", "missing.json", "--desired", "1")
    assert r.exit_code == 2 and "missing.json" in r.output
    r = run("access", f"{EX}/alice.json", f"{EX}/deny-admins.json", "--desired", "NOPE")
    assert r.exit_code == 2 and "--desired" in r.output
    r = run("access", f"{EX}/alice.json", f"{EX}/deny-admins.json", "--desired", "1", "--mapping", "x")
    assert r.exit_code == 2 and "--mapping" in r.output
    sd = tmp_path / "sd.json"
    sd.write_text('{"owner": "SYSTEM", "dacl": [{"type": "grant", "sid": "WD", "mask": 1}]}')
    r = run("access", f"{EX}/alice.json", str(sd), "--desired", "1")
    assert r.exit_code == 2 and "dacl[0].type" in r.output


def test_access_proofs_table_and_counterexample(tmp_path):
    r = run("access-proofs", "--aces", "4", "--property", "access-gates-deny-all", "--bit", "3",
            "--property", "access-group-toggle-monotonic", "--out", str(tmp_path), "--mutants")
    assert r.exit_code == 0, r.output
    assert "proved" in r.output and "refuted" in r.output and "caught" in r.output
    doc = json.loads((tmp_path / "access-group-toggle-monotonic.json").read_text())
    assert set(doc["tokens"]) == {"enabled", "disabled"} and doc["granted"]
    assert run("access-proofs", "--property", "nope").exit_code == 2
