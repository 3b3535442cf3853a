"""``tokenproof replay``: narrative, exit codes, schema checks, --python, --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tokenproof.commands.replay import command

ROOT = Path(__file__).resolve().parents[2]
CEX = ROOT / "counterexamples"
NPM = CEX / "finding-new-process-min-exec-replaces-the-primary.json"
WINDOW = CEX / "finding-install-window-siblings-keep-the-old-primary.json"
MUT = CEX / "mutant-install-without-assign-primary-privilege.json"


def run(*args):
    return CliRunner().invoke(command, [str(a) for a in args])


def test_narrative_of_a_kacs_finding():
    r = run(NPM)
    assert r.exit_code == 0, r.output
    out = r.output
    assert "thread sh1 (alice's shell) calls exec(" in out
    assert "process shell: primary alice → tok1" in out
    assert "primary-changes-only-by-privileged-install" in out and "VIOLATED after step 0" in out
    assert "reproduces on kacs" in out


def test_narrative_names_the_offending_objects_and_values():
    r = run(WINDOW)
    assert r.exit_code == 0, r.output
    assert "thread kid1 breaks it:" in r.output
    assert "thread kid1: real = system" in r.output and "process init: primary = tok1" in r.output
    assert "ioctl_install(fd 4 → tok1 (SYSTEM)" in r.output


def test_mutant_trace_reproduces_on_its_mutant_and_not_on_kacs():
    assert run(MUT).exit_code == 0
    r = run(MUT, "--mutant", "none")
    assert r.exit_code == 1 and "does not reproduce on kacs" in r.output
    r = run(MUT, "--mutant", "install-without-assign-primary-privilege")
    assert r.exit_code == 0 and "mutant:install-without-assign-primary-privilege" in r.output


def test_bad_input_exits_2(tmp_path):
    assert run(tmp_path / "missing.json").exit_code == 2
    p = tmp_path / "bad.json"
    p.write_text('{"schema": "tokenproof-trace/9", "steps": []}')
    r = run(p)
    assert r.exit_code == 2 and "schema" in r.output
    data = json.loads(NPM.read_text())
    data["violation"]["property"] = "primary-changes-only-by-privileged-instal"
    p.write_text(json.dumps(data, indent=2))
    r = run(p)
    assert r.exit_code == 2 and "did you mean primary-changes-only-by-privileged-install" in r.output
    assert f"{p}:" in r.output  # file:line
    data = json.loads(NPM.read_text())
    data["profile"] = "vms"
    p.write_text(json.dumps(data))
    assert run(p).exit_code == 2
    assert run(NPM, "--mutant", "no-such-mutant").exit_code == 2


def test_solver_traces_need_a_model_hash_and_a_stale_hash_warns(tmp_path):
    data = json.loads(NPM.read_text())
    data["origin"] = "bmc"
    p = tmp_path / "t.json"
    p.write_text(json.dumps(data, indent=2))
    r = run(p)
    assert r.exit_code == 2 and "model_hash" in r.output
    data["model_hash"] = "0" * 64
    p.write_text(json.dumps(data, indent=2))
    r = run(p)
    assert r.exit_code == 0 and "warning:" in r.output and "another version of the model" in r.output


def test_a_violation_that_does_not_hold_exits_1(tmp_path):
    data = json.loads(NPM.read_text())
    data["violation"]["property"] = "enabled-privileges-are-present"
    p = tmp_path / "t.json"
    p.write_text(json.dumps(data))
    r = run(p)
    assert r.exit_code == 1 and "NOT violated" in r.output


def test_json_output():
    r = run(WINDOW, "--json")
    assert r.exit_code == 0
    doc = json.loads(r.output)
    assert doc["reproduced"] and doc["violation"]["violated"] and doc["target"] == "kacs"
    assert any("thread kid1" in ln for ln in doc["evidence"])


def test_access_counterexample_replays():
    r = run(CEX / "access-group-toggle-monotonic.json")
    assert r.exit_code == 0 and "VIOLATED" in r.output


def _script(*args) -> str:
    r = run(*args, "--python")
    assert "sim.call(" in r.output and "assert prop.check(" in r.output
    return r.output


def test_python_script_fails_on_the_counterexample_and_passes_on_the_fixed_model(tmp_path):
    for trace in (MUT, WINDOW):
        p = tmp_path / "cex.py"
        p.write_text(_script(trace))
        r = subprocess.run([sys.executable, str(p)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and "AssertionError" in r.stderr, r.stderr
    p = tmp_path / "fixed.py"
    p.write_text(_script(MUT, "--mutant", "none"))
    r = subprocess.run([sys.executable, str(p)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_minimize_flag_prints_removals(tmp_path):
    data = json.loads(NPM.read_text())
    data["steps"].insert(0, {"actor": "bob1", "rule": "kacs_open_self_token",
                             "args": {"real": False, "access_mask": ["TOKEN_QUERY"]}})
    data["violation"]["step"] = 1
    p = tmp_path / "t.json"
    p.write_text(json.dumps(data))
    out = tmp_path / "min.json"
    r = run(p, "--minimize", "--out", out)
    assert r.exit_code == 0, r.output
    assert "minimized: 2 → 1 steps" in r.output and "dropped step 0 (kacs_open_self_token by bob1)" in r.output
    assert len(json.loads(out.read_text())["steps"]) == 1
