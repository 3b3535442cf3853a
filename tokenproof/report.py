"""Report formats for ``tokenproof prove`` and ``tokenproof merge``.

Every formatter takes a ``catalog_run.Report`` (records sorted by property
id) and returns text; ``timings=False`` drops times and cache figures so
equal inputs give byte-identical output.

* ``table``: the rich table for a terminal, with a summary footer
  (counts, not-as-expected ids, cache hits and misses);
* ``json``: ``tokenproof-report/1`` (``catalog_run.report_to_json``), the
  input of ``tokenproof merge``;
* ``junit``: JUnit XML, one ``testcase`` per property (``classname`` =
  ``properties.<area>``, ``name`` = the property id); a property not meeting
  its expected verdict is a ``failure`` whose text holds the verdict, the
  detail, the CTI or the counterexample file and its steps;
* ``sarif``: SARIF 2.1.0, one ``result`` per refuted or not-as-expected
  property, located at the source line of the rule whose step breaks it
  (the CTI's rule, the counterexample's violating step) or else at the
  property's check; ``error`` for not as expected, ``note`` for an expected
  refutation;
* ``markdown``: a table for a pull-request comment plus a summary line.

With ``--cross-check cvc5`` every format also says how many obligations of
the proved properties the second solver re-checked, how many it could not
decide (unknown, timeout, unreadable: reported, not a failure unless
``--strict``) and any disagreement (z3 unsat, cvc5 sat: the property is
not reported proved and the run exits 4): the summary line, a ``cvc5`` column
of the table, the JSON ``cross_check`` object (and per record), JUnit
``properties`` and a ``failure`` per disagreeing property.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from typing import Callable

from tokenproof.catalog_run import Record, Report, report_to_json

FORMATS = ("table", "json", "junit", "sarif", "markdown")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://peios.org/tokenproof"  # informational only


def summary(rep: Report, timings: bool = True) -> str:
    c = rep.counts()
    bad = [r.id for r in rep.records if not r.as_expected]
    head = f"{len(rep.records)} properties"
    if timings:
        head += f" in {rep.seconds:.1f}s"
    text = (f"{head}: {c['proved']} proved, {c['refuted']} refuted, {c['unknown']} unknown; "
            + ("all as expected" if not bad else f"NOT as expected: {', '.join(bad)}"))
    if timings and rep.cache is not None:
        text += f" (cache: {cache_line(rep)})"
    cc = cross_check_line(rep)
    if cc:
        text += f"; {cc}"
    return text


def cross_check_line(rep: Report) -> str:
    """``cross-check (cvc5): 312 obligations of 40 proved properties, 300 agreed, 12 undecided, 0 disagree``."""
    c = rep.cross_check_counts()
    if c is None:
        return ""
    text = (f"cross-check ({rep.cross_check}): {c['obligations']} obligation(s) of {c['properties']} proved "
            f"propert{'y' if c['properties'] == 1 else 'ies'} re-checked, {c['agreed']} agreed, "
            f"{c['undecided']} undecided, {c['disagreed']} disagree")
    if c["disagreed"]:
        text += " — DISAGREEMENT: " + "; ".join(rep.disagreements)
    return text


def cross_check_cell(r: Record) -> str:
    """One property's cross-check in a table cell: ``12/12``, ``10/12 (2 undecided)``, ``DISAGREE``."""
    c = r.cross_check
    if not c:
        return ""
    if c.get("disagreed"):
        return f"DISAGREE ({c['disagreed']})"
    return f"{c['agreed']}/{c['obligations']}" + (f" ({c['undecided']} undecided)" if c.get("undecided") else "")


def cache_line(rep: Report) -> str:
    if rep.cache is None:
        return "off"
    p, o = rep.cache.properties, rep.cache.obligations
    return (f"{p.hits} property hit(s), {p.misses} miss(es); "
            f"{o.hits} obligation hit(s), {o.misses} miss(es)")


def failure_text(r: Record) -> str:
    """Why a property did not meet its expectation (or what its refutation is): for junit, pytest, SARIF."""
    lines = [f"{r.id}: {r.verdict}, expected {r.expected} ({r.profile} profile)", f"statement: {r.statement}"]
    if r.sections:
        lines.append(f"sections: {' '.join(r.sections)}")
    if r.detail:
        lines.append(f"detail: {r.detail}")
    if r.lemmas_used:
        lines.append(f"lemmas used: {', '.join(r.lemmas_used)}")
    if r.cti:
        args = ", ".join(f"{k}={v}" for k, v in r.cti.get("args", {}).items())
        who = "kernel" if r.cti.get("actor") is None else f"thread {r.cti['actor']}"
        lines.append(f"counterexample to induction: {who}: {r.cti['rule']}({args}) -> errno {r.cti.get('errno')}"
                     + (f" breaks {r.cti['property']}" if r.cti.get("property") else ""))
    if r.counterexample:
        lines.append(f"counterexample: {r.counterexample} (replay: tokenproof run {r.counterexample})")
    if r.counterexample_steps:
        lines.extend(f"  {s}" for s in r.counterexample_steps)
    if r.location:
        lines.append(f"at: {r.location[0]}:{r.location[1]}" + (f" (rule {r.failing_rule})" if r.failing_rule else ""))
    if r.cross_check:
        c = r.cross_check
        lines.append(f"cross-check ({c['solver']}): {c['obligations']} obligation(s), {c['agreed']} agreed, "
                     f"{c['undecided']} undecided, {c['disagreed']} disagree")
        lines.extend(f"  DISAGREEMENT: {d}" for d in c.get("disagreements", []))
        lines.extend(f"  undecided: {u}" for u in c.get("undecided_obligations", []))
    return "\n".join(lines)


def _info(r: Record) -> str:
    info = ", ".join(r.lemmas_used) if r.verdict == "proved" else r.detail
    if r.counterexample:
        info += f" → {r.counterexample}"
    return info


# ------------------------------------------------------------------ table
STYLE = {"proved": "green", "refuted": "red", "unknown": "yellow"}


def table_object(rep: Report, timings: bool = True):
    """The rich ``Table`` (printed in colour on a terminal)."""
    from rich.table import Table

    t = Table(title="tokenproof prove", show_lines=False)
    cc = rep.cross_check is not None
    cols = (["property", "verdict", "expected"] + (["time"] if timings else []) + ([rep.cross_check] if cc else [])
            + ["sections", "lemmas used / detail"])
    for col in cols:
        t.add_column(col, overflow="fold")
    for r in rep.records:
        style = STYLE.get(r.verdict, "") if r.as_expected else "bold magenta"
        mark = "" if r.as_expected else " ✗"
        time_cell = [f"{r.seconds:.2f}s" + (" (cached)" if r.cached else "")] if timings else []
        cc_cell = [cross_check_cell(r)] if cc else []
        t.add_row(r.id, f"[{style}]{r.verdict}{mark}[/]", r.expected, *time_cell, *cc_cell, " ".join(r.sections),
                  _info(r))
    return t


def table(rep: Report, timings: bool = True, width: int | None = 200) -> str:
    from rich.console import Console

    t = table_object(rep, timings)
    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=False, color_system=None).print(t)
    return buf.getvalue() + summary(rep, timings) + "\n"


# ------------------------------------------------------------------ json
def as_json(rep: Report, timings: bool = True) -> str:
    return json.dumps(report_to_json(rep, timings), indent=2, sort_keys=False) + "\n"


# ------------------------------------------------------------------ junit
def _cross_check_failed(r: Record) -> bool:
    return bool(r.cross_check and r.cross_check.get("disagreed"))


def junit(rep: Report, timings: bool = True) -> str:
    failures = sum(not r.as_expected or _cross_check_failed(r) for r in rep.records)
    suites = ET.Element("testsuites", name="tokenproof", tests=str(len(rep.records)), failures=str(failures),
                        errors="0")
    suite = ET.SubElement(suites, "testsuite", name=f"tokenproof.{rep.profile}", tests=str(len(rep.records)),
                          failures=str(failures), errors="0", skipped="0")
    if timings:
        suites.set("time", f"{rep.seconds:.3f}")
        suite.set("time", f"{rep.seconds:.3f}")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="profile", value=rep.profile)
    ET.SubElement(props, "property", name="scenario", value=rep.scenario)
    cc = rep.cross_check_counts()
    if cc is not None:
        ET.SubElement(props, "property", name="cross_check", value=str(rep.cross_check))
        for k in ("properties", "obligations", "agreed", "undecided", "disagreed"):
            ET.SubElement(props, "property", name=f"cross_check.{k}", value=str(cc[k]))
    for r in rep.records:
        case = ET.SubElement(suite, "testcase", classname=f"properties.{r.area}", name=r.id,
                             file=str(r.source[0]), line=str(r.source[1]))
        if timings:
            case.set("time", f"{r.seconds:.3f}")
        if _cross_check_failed(r):
            fail = ET.SubElement(case, "failure", type="cross-check-disagreement",
                                 message=f"{r.cross_check['solver']} disagrees with z3: "
                                         f"{'; '.join(r.cross_check['disagreements'])}"[:500])
            fail.text = failure_text(r)
        elif not r.as_expected:
            fail = ET.SubElement(case, "failure", type="not-as-expected",
                                 message=f"{r.verdict}, expected {r.expected}: {r.detail}"[:500])
            fail.text = failure_text(r)
        else:
            out = ET.SubElement(case, "system-out")
            out.text = f"{r.verdict} (as expected): {r.detail}" + (
                f"\nlemmas used: {', '.join(r.lemmas_used)}" if r.lemmas_used else "") + (
                f"\ncounterexample: {r.counterexample}" if r.counterexample else "") + (
                f"\ncross-check ({r.cross_check['solver']}): {cross_check_cell(r)} obligation(s) agreed"
                + "".join(f"\n  undecided: {u}" for u in r.cross_check.get("undecided_obligations", []))
                if r.cross_check else "")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# ------------------------------------------------------------------ sarif
def sarif(rep: Report, timings: bool = True) -> str:
    results = []
    rules = []
    index: dict[str, int] = {}
    for r in rep.records:
        if r.verdict != "refuted" and r.as_expected:
            continue
        if r.id not in index:
            index[r.id] = len(rules)
            rules.append({
                "id": r.id,
                "name": "".join(w.capitalize() for w in r.id.split("-")),
                "shortDescription": {"text": r.statement},
                "fullDescription": {"text": f"{r.statement} ({' '.join(r.sections)})"},
                "helpUri": INFO_URI,
                "properties": {"kind": r.kind, "area": r.area, "sections": r.sections, "clauses": r.clauses,
                               "tags": ["tokenproof", r.kind, *r.sections]},
            })
        loc = r.location or r.source
        level = "note" if r.as_expected else "error"
        text = (f"{r.statement} — {r.verdict}, expected {r.expected}"
                + (f": {r.detail}" if r.detail else ""))
        res = {
            "ruleId": r.id,
            "ruleIndex": index[r.id],
            "level": level,
            "message": {"text": text},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": str(loc[0]), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": int(loc[1])}}}],
            "partialFingerprints": {"tokenproofProperty/v1": f"{r.profile}:{r.id}:{r.verdict}"},
            "properties": {"verdict": r.verdict, "expected": r.expected, "as_expected": r.as_expected,
                           "sections": r.sections, "clauses": r.clauses, "profile": r.profile,
                           "detail": r.detail, "rule": r.failing_rule, "counterexample": r.counterexample,
                           "counterexample_steps": r.counterexample_steps, "cti": r.cti},
        }
        if r.source and list(r.source) != list(loc):
            res["relatedLocations"] = [{"id": 1, "message": {"text": f"the property {r.id}"},
                                        "physicalLocation": {
                                            "artifactLocation": {"uri": str(r.source[0]), "uriBaseId": "%SRCROOT%"},
                                            "region": {"startLine": int(r.source[1])}}}]
        results.append(res)
    run = {
        "tool": {"driver": {"name": "tokenproof", "informationUri": INFO_URI, "version": _version(),
                            "rules": rules}},
        "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the repository root"}}},
        "results": results,
        "properties": {"profile": rep.profile, "scenario": rep.scenario, "counts": rep.counts(),
                       "all_as_expected": rep.all_as_expected,
                       **({"cross_check": {"solver": rep.cross_check, **rep.cross_check_counts(),
                                           "disagreements": rep.disagreements}}
                          if rep.cross_check is not None else {})},
    }
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2) + "\n"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("tokenproof")
    except Exception:  # noqa: BLE001
        return "0"


# ------------------------------------------------------------------ markdown
EMOJI = {"proved": "✅", "refuted": "❌", "unknown": "❔"}


def _md(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown(rep: Report, timings: bool = True) -> str:
    bad = [r for r in rep.records if not r.as_expected]
    c = rep.counts()
    status = "✅ all as expected" if not bad else f"⚠️ {len(bad)} not as expected"
    line = (f"**tokenproof** ({rep.profile}): {len(rep.records)} properties — {c['proved']} proved, "
            f"{c['refuted']} refuted, {c['unknown']} unknown; {status}")
    if timings:
        line += f" in {rep.seconds:.1f}s"
        if rep.cache is not None:
            line += f" (cache: {cache_line(rep)})"
    out = [line, ""]
    cc_line = cross_check_line(rep)
    if cc_line:
        out.append(("⚠️ " if rep.disagreements else "") + cc_line)
        out.append("")
    if bad:
        out.append("Not as expected: " + ", ".join(f"`{r.id}`" for r in bad))
        out.append("")
    cc = rep.cross_check is not None
    head = (["", "property", "verdict", "expected"] + (["time"] if timings else []) + ([rep.cross_check] if cc else [])
            + ["sections", "lemmas / detail"])
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join("---" for _ in head) + "|")
    for r in rep.records:
        mark = EMOJI.get(r.verdict, "") + ("" if r.as_expected else " ⚠️")
        cells = [mark, f"`{r.id}`", f"**{r.verdict}**" if not r.as_expected else r.verdict, r.expected]
        if timings:
            cells.append(f"{r.seconds:.2f}s" + (" (cached)" if r.cached else ""))
        if cc:
            cells.append(cross_check_cell(r))
        cells += [" ".join(r.sections), _info(r)]
        out.append("| " + " | ".join(_md(x) for x in cells) + " |")
    return "\n".join(out) + "\n"


FORMATTERS: dict[str, Callable[..., str]] = {"table": table, "json": as_json, "junit": junit, "sarif": sarif,
                                              "markdown": markdown}


def render(rep: Report, fmt: str, timings: bool = True) -> str:
    if fmt not in FORMATTERS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    return FORMATTERS[fmt](rep, timings=timings)


__all__ = ["FORMATS", "render", "summary", "failure_text", "table", "as_json", "junit", "sarif", "markdown"]
