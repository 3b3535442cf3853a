"""Spec coverage: which sections and requirement IDs the scenarios, properties and rules cover.

Sources:

* conformance scenarios (``tests/scenarios/*.json``, ``tokenproof-trace/1``):
  the spec references are the bracketed prefix of ``description``, e.g.
  ``"[§4.5, ADJ-04] ..."`` (the trace format rejects unknown keys, so there is
  no separate ``spec`` field);
* properties (``@prop(sections=..., clauses=...)``) and the AccessCheck
  relations (``@relprop(...)`` in properties/access_relations.py, proved by
  ``tokenproof access-proofs``), both counted as "properties";
* rules (``@rule(sections=..., clauses=...)``).

The requirement catalog is ``spec/clauses.md`` (rows ``| ID | Section |
Paraphrase | Strength | Kind |``); rows of kind ``out-of-model`` are excluded
from the denominator of "covered by nothing".
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_DIR = ROOT / "tests" / "scenarios"
CLAUSE_RE = re.compile(r"\b([A-Z]{2,6}-\d{2,3})\b")
SECTION_RE = re.compile(r"(§\s?\d+(?:\.\d+)*|Appendix [A-Z](?: §\d+)?)")


def clauses_path() -> Path:
    env = os.environ.get("TOKENPROOF_CLAUSES")
    if env:
        return Path(env)
    for cand in (ROOT.parent / "shared" / "spec" / "clauses.md", Path("/work/shared/spec/clauses.md")):
        if cand.exists():
            return cand
    return ROOT.parent / "shared" / "spec" / "clauses.md"


@dataclass
class Clause:
    id: str
    section: str
    strength: str
    kind: str


def load_clauses(path: Path | None = None) -> dict[str, Clause]:
    path = path or clauses_path()
    out: dict[str, Clause] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and CLAUSE_RE.fullmatch(cells[0]):
            out[cells[0]] = Clause(cells[0], cells[1], cells[-2], cells[-1])
    return out


def spec_refs(text: str) -> tuple[list[str], list[str]]:
    """(sections, clause IDs) of a ``[§4.5, ADJ-04] ...`` description prefix."""
    m = re.match(r"\s*\[([^\]]*)\]", text or "")
    if not m:
        return [], []
    secs, ids = [], []
    for part in m.group(1).split(","):
        part = part.strip()
        if CLAUSE_RE.fullmatch(part):
            ids.append(part)
        elif SECTION_RE.fullmatch(part):
            secs.append(part)
    return secs, ids


@dataclass
class Scenario:
    name: str
    path: Path
    sections: list[str]
    clauses: list[str]
    rules: list[str]
    errnos: list[tuple[str, str]] = field(default_factory=list)  # (rule, expected errno)


def load_scenarios(directory: Path | None = None) -> list[Scenario]:
    out = []
    for f in sorted((directory or SCENARIO_DIR).glob("*.json")):
        data = json.loads(f.read_text(encoding="utf-8"))
        secs, ids = spec_refs(data.get("description", ""))
        steps = data.get("steps", [])
        out.append(Scenario(f.stem, f, secs, ids, [s["rule"] for s in steps],
                            [(s["rule"], s["expect"]["errno"]) for s in steps if "errno" in s.get("expect", {})]))
    return out


def _sec_key(s: str) -> tuple:
    nums = re.findall(r"\d+", s)
    return (s.startswith("Appendix"), s[:10] if s.startswith("Appendix") else "", tuple(int(n) for n in nums))


@dataclass
class Coverage:
    sections: dict[str, dict[str, list[str]]]  # section -> source -> names
    clauses: dict[str, dict[str, list[str]]]  # clause -> source -> names
    catalog: dict[str, Clause]
    scenarios: int
    rule_paths: dict[str, dict[str, bool]]  # rule -> {"success": bool, "error": bool}

    @property
    def in_model(self) -> list[str]:
        return [c for c, row in self.catalog.items() if row.kind != "out-of-model"]

    @property
    def uncovered(self) -> list[str]:
        return [c for c in self.in_model if not self.clauses.get(c)]

    @property
    def unknown_ids(self) -> list[str]:
        """IDs cited somewhere but absent from the catalog (typos)."""
        return sorted(c for c in self.clauses if self.catalog and c not in self.catalog)

    def as_json(self) -> dict[str, Any]:
        return {
            "scenarios": self.scenarios,
            "sections": {s: self.sections[s] for s in sorted(self.sections, key=_sec_key)},
            "clauses_total": len(self.catalog), "clauses_in_model": len(self.in_model),
            "clauses_out_of_model_excluded": len(self.catalog) - len(self.in_model),
            "clauses_covered": len(self.in_model) - len(self.uncovered),
            "uncovered": self.uncovered, "unknown_ids_cited": self.unknown_ids,
            "clauses": {c: self.clauses[c] for c in sorted(self.clauses)},
            "rule_paths": self.rule_paths,
        }


def coverage(scenario_dir: Path | None = None, clauses_file: Path | None = None) -> Coverage:
    import model.rules  # noqa: F401
    from model.rules.registry import RULES
    from tokenproof.catalog_run import load_catalog
    from tokenproof.mutants import count_sites

    secs: dict[str, dict[str, list[str]]] = {}
    ids: dict[str, dict[str, list[str]]] = {}

    def add(table, key, source, name):
        table.setdefault(key, {}).setdefault(source, [])
        if name not in table[key][source]:
            table[key][source].append(name)

    scen = load_scenarios(scenario_dir)
    for s in scen:
        for x in s.sections:
            add(secs, x, "scenarios", s.name)
        for c in s.clauses:
            add(ids, c, "scenarios", s.name)
    from properties.access_relations import RELATIONAL

    for p in [*load_catalog().values(), *RELATIONAL.values()]:
        for x in p.sections:
            add(secs, x, "properties", p.id)
        for c in p.clauses:
            add(ids, c, "properties", p.id)
    for r in RULES.values():
        for x in r.sections:
            add(secs, x, "rules", r.name)
        for c in r.clauses:
            add(ids, c, "rules", r.name)
    paths: dict[str, dict[str, bool]] = {}
    for name, r in sorted(RULES.items()):
        exp = [e for s in scen for (rn, e) in s.errnos if rn == name]
        guards = count_sites(r)[0]
        paths[name] = {"success": "OK" in exp, "error": any(e != "OK" for e in exp), "has_guards": guards > 0}
    return Coverage(secs, ids, load_clauses(clauses_file), len(scen), paths)
