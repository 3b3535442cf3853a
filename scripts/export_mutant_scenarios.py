"""Export the seeded mutants' concrete traces as conformance scenarios.

Every seeded mutant has a hand-written trace from the standard world
(``tests/properties/test_mutants_concrete.py::MUTANT_TRACES``, including the
rule-contract traces of ``tests/properties/traces_contracts_*.py``) that drives
the model into the case its property speaks about.  This script writes each
one as ``tests/scenarios/contract-<mutant>.json`` (``tokenproof-trace/1``):
the steps up to the first one the real rules do not allow, each with the errno
the real rules give, and a description citing the property's sections and
clauses.  The kill matrix then runs them like every scenario (issue 6): the
cases that random walks and depth-1 BMC never reach become inputs on which the
catalog judges every generated mutant.

    .venv/bin/python scripts/export_mutant_scenarios.py [--check]

``--check`` writes nothing and exits 1 when a file would change (CI-friendly).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.scenarios import standard  # noqa: E402
from model.sim import ModelPreconditionError, Simulator  # noqa: E402
from properties.catalog import CATALOG  # noqa: E402
from tests.properties.test_mutants_concrete import MUTANT_TRACES  # noqa: E402
from tokenproof.trace import dump_trace, make_trace, step_entry  # noqa: E402

OUT = ROOT / "tests" / "scenarios"
PREFIX = "contract-"


def scenario_for(mutant: str, prop_id: str, steps: list) -> dict | None:
    """The scenario data for one mutant's trace (None if not even its first step is allowed)."""
    sim = Simulator(standard())
    entries = []
    for actor, rule, args in steps:
        try:
            rec = sim.call(rule, actor, **args)
        except ModelPreconditionError:
            break
        entries.append(step_entry(sim.world, rec.rule, rec.actor, rec.args, errno=int(rec.outcome.errno)))
    if not entries:
        return None
    p = CATALOG[prop_id]
    refs = ", ".join([*p.sections, *p.clauses])
    desc = f"[{refs}] The input on which seeded mutant {mutant} breaks '{prop_id}': {p.statement}"
    return make_trace(entries, description=desc, scenario="standard")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would change")
    ns = ap.parse_args()
    wanted: dict[Path, str] = {}
    for mutant, (prop_id, steps) in sorted(MUTANT_TRACES.items()):
        data = scenario_for(mutant, prop_id, steps)
        if data is not None:
            wanted[OUT / f"{PREFIX}{mutant}.json"] = dump_trace(data)
    stale = [p for p in OUT.glob(f"{PREFIX}*.json") if p not in wanted]
    changed = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    if ns.check:
        for p in changed + stale:
            print(f"out of date: {p.relative_to(ROOT)}")
        return 1 if changed or stale else 0
    for p in stale:
        p.unlink()
    for p in changed:
        p.write_text(wanted[p])
    print(f"{len(wanted)} scenarios ({len(changed)} written, {len(stale)} removed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
