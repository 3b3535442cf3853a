"""``tokenproof prove``: prove the property catalog and report each verdict."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tokenproof.prover import ProofResult

STYLE = {"proved": "green", "refuted": "red", "unknown": "yellow"}


def _row(r: ProofResult) -> dict:
    return {
        "property": r.prop.id, "statement": r.prop.statement, "kind": r.prop.kind,
        "verdict": r.verdict, "expected": r.prop.expected(r.profile), "as_expected": r.as_expected,
        "seconds": round(r.seconds, 3), "sections": list(r.prop.sections), "clauses": list(r.prop.clauses),
        "lemmas_used": list(r.lemmas_used), "detail": r.detail,
        "counterexample": r.counterexample_file,
        "cti": None if r.cti is None else {"rule": r.cti.rule, "actor": r.cti.actor, "args": r.cti.args,
                                             "errno": r.cti.errno},
    }


def _table(results: list[ProofResult]) -> Table:
    t = Table(title="tokenproof prove", show_lines=False)
    for col in ("property", "verdict", "expected", "time", "sections", "lemmas used / detail"):
        t.add_column(col, overflow="fold")
    for r in results:
        style = STYLE[r.verdict] if r.as_expected else "bold magenta"
        mark = "" if r.as_expected else " ✗"
        info = ", ".join(r.lemmas_used) if r.verdict == "proved" else r.detail
        if r.counterexample_file:
            info += f" → {r.counterexample_file}"
        t.add_row(r.prop.id, f"[{style}]{r.verdict}{mark}[/]", r.prop.expected(r.profile),
                  f"{r.seconds:.2f}s", " ".join(r.prop.sections), info)
    return t


@click.command("prove")
@click.option("--profile", default="kacs", show_default=True, help="Rule set to prove the catalog on.")
@click.option("--property", "ids", multiple=True, metavar="ID", help="Prove only these properties (repeatable).")
@click.option("--timeout", "timeout_ms", default=10000, show_default=True, help="Solver timeout per query (ms).")
@click.option("--depth", default=3, show_default=True,
              help="BMC depth used to look for a real counterexample when induction fails.")
@click.option("--scenario", default="standard", show_default=True, help="Initial world (model.scenarios).")
@click.option("--out", "out_dir", default="counterexamples", show_default=True, type=click.Path(file_okay=False),
              help="Where replayed counterexamples are written.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--strict", is_flag=True, help="Exit 3 if any verdict is unknown.")
def command(profile, ids, timeout_ms, depth, scenario, out_dir, fmt, strict):
    """Prove every property of the catalog (or the ones named).

    Each property ends as proved (by induction, unbounded in the number of
    threads, processes, tokens, handles and sessions), refuted (with a
    counterexample replayed on the concrete executor and written to --out)
    or unknown (with the reason: a timeout, or "not inductive" with the
    counterexample to induction).  Unknown is never reported as proved.

    \b
    Exit codes: 0 every property met its expected verdict; 1 some did not;
    2 bad input; 3 some verdict unknown (with --strict).
    """
    from tokenproof.catalog_run import load_catalog, prove_catalog, select
    from model.profiles import get_profile

    try:
        get_profile(profile)
        select(load_catalog(), list(ids) or None)
    except KeyError as e:
        raise click.UsageError(str(e.args[0])) from None
    console = Console(stderr=True)
    t0 = time.perf_counter()
    results: list[ProofResult] = []
    n = len(select(load_catalog(), list(ids) or None))
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("proving", total=n)

        def on_result(r: ProofResult) -> None:
            results.append(r)
            bar.advance(task)

        prove_catalog(profile, list(ids) or None, timeout_ms, depth, scenario, Path(out_dir),
                      progress=lambda msg: bar.update(task, description=msg[:60]), on_result=on_result)
    elapsed = time.perf_counter() - t0
    ok = all(r.as_expected for r in results)
    unknown = any(r.verdict == "unknown" for r in results)
    if fmt == "json":
        click.echo(json.dumps({"profile": profile, "seconds": round(elapsed, 2), "all_as_expected": ok,
                               "results": [_row(r) for r in results]}, indent=2, default=str))
    else:
        Console(width=200 if not sys.stdout.isatty() else None).print(_table(results))
        counts = {v: sum(r.verdict == v for r in results) for v in STYLE}
        bad = [r.prop.id for r in results if not r.as_expected]
        click.echo(f"{len(results)} properties in {elapsed:.1f}s: {counts['proved']} proved, "
                   f"{counts['refuted']} refuted, {counts['unknown']} unknown; "
                   + ("all as expected" if ok else f"NOT as expected: {', '.join(bad)}"))
    if not ok:
        sys.exit(1)
    if strict and unknown:
        sys.exit(3)
