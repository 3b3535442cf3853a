"""``tokenproof run``: output shape, --json, exit codes 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tokenproof.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*args):
    return CliRunner().invoke(main, ["run", *map(str, args)])


def write(tmp_path, steps, **kw):
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"schema": "tokenproof-trace/1", "scenario": "standard", "steps": steps, **kw}, indent=2))
    return p


FORK = {"actor": "sh1", "rule": "fork", "args": {"child": "kid", "child_thread": "k1"}, "expect": {"errno": "OK"}}


def test_output_shape(tmp_path):
    p = write(tmp_path, [FORK, {"actor": "k1", "rule": "kacs_revert", "args": {}, "expect": {"errno": "OK"}},
                         {"actor": "sh1", "rule": "close_handle", "args": {"fd": 3}, "expect": {"errno": "EBADF"}}],
              description="fork and friends")
    r = run(p)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "fork and friends"
    assert lines[1] == "[0] sh1: fork(child=kid, child_thread=k1, child_token=token#6) -> OK (child=kid)"
    assert "    process kid: created, primary token token#6" in lines
    assert "    thread k1: created in process kid, real token token#6" in lines
    assert "[1] k1: kacs_revert() -> OK" in lines
    assert "[2] sh1: close_handle(fd=3) -> EBADF" in lines
    assert lines[-1] == "3 steps, all as expected"
    assert "\x1b[" not in r.output  # no colour codes when not a terminal


def test_kernel_followups_are_listed(tmp_path):
    p = write(tmp_path, [FORK, {"actor": "k1", "rule": "process_exit", "args": {}}])
    r = run(p)
    assert r.exit_code == 0, r.output
    assert "    kernel: kernel_free_token(token=token#6)" in r.output
    assert "      token#6: freed" in r.output
    r = run(p, "--no-gc")
    assert "kernel:" not in r.output


def test_json_output_parses(tmp_path):
    p = write(tmp_path, [FORK])
    r = run(p, "--json")
    assert r.exit_code == 0
    out = json.loads(r.output)
    assert out["ok"] is True and out["error"] is None
    s0 = out["steps"][0]
    assert s0["rule"] == "fork" and s0["actor"] == "sh1" and s0["errno"] == "OK"
    assert s0["args"]["child"] == "kid" and s0["ret"] == {"child": "kid"}
    assert any(c["object"] == "process kid" and c["kind"] == "created" for c in s0["changes"])


def test_exit_1_when_an_expectation_fails(tmp_path):
    p = write(tmp_path, [{"actor": "sh1", "rule": "close_handle", "args": {"fd": 3}, "expect": {"errno": "OK"}}])
    r = run(p)
    assert r.exit_code == 1
    assert "EXPECTATION FAILED: expected OK, got EBADF" in r.output
    assert "1 of 1 steps not as expected" in r.output
    r = run(p, "--quiet")
    assert r.exit_code == 1 and "EXPECTATION FAILED" in r.output
    r = run(p, "--json")
    assert r.exit_code == 1 and json.loads(r.output)["ok"] is False


def test_expected_return_values(tmp_path):
    p = write(tmp_path, [{**FORK, "expect": {"errno": "OK", "ret": {"child": "kid"}}}])
    assert run(p).exit_code == 0
    p = write(tmp_path, [{**FORK, "expect": {"errno": "OK", "ret": {"child": "other"}}}])
    r = run(p)
    assert r.exit_code == 1 and "expected child = 'other', got kid" in r.output


def test_exit_2_on_bad_input_without_traceback(tmp_path):
    p = write(tmp_path, [{"actor": "sh1", "rule": "frok", "args": {}}])
    r = run(p)
    assert r.exit_code == 2
    assert "unknown rule 'frok'" in r.output and "Traceback" not in r.output
    p.write_text("{ not json")
    r = run(p)
    assert r.exit_code == 2 and "not valid JSON" in r.output
    r = run(tmp_path / "missing.json")
    assert r.exit_code == 2 and "cannot read" in r.output


def test_exit_2_on_an_impossible_step(tmp_path):
    p = write(tmp_path, [FORK, {"actor": "bob1", "rule": "thread_exit", "args": {}}])
    r = run(p)
    assert r.exit_code == 2
    assert "[0] sh1: fork(" in r.output  # the steps before it are shown
    assert "step 1 (thread_exit by bob1) is not possible" in r.output
    assert "Traceback" not in r.output


def test_violation_not_evaluable_is_reported(tmp_path):
    p = write(tmp_path, [FORK], violation={"property": "no-such-property", "step": 0})
    r = run(p)
    assert r.exit_code == 0
    assert "violation:" in r.output and "not evaluated" in r.output


def test_violation_step_out_of_range(tmp_path):
    p = write(tmp_path, [FORK], violation={"property": "x", "step": 4})
    r = run(p)
    assert r.exit_code == 2 and "violation.step 4" in r.output


def test_help_points_to_the_format_doc():
    r = CliRunner().invoke(main, ["run", "--help"])
    assert r.exit_code == 0 and "docs/trace-format.md" in r.output and "--no-gc" in r.output
