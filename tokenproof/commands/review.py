"""``tokenproof review``: judge a proposed rule change (docs/review.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

STYLE = {"proved": "green", "refuted": "red", "unknown": "yellow"}


def _tables(rep) -> list:
    out = []
    t = Table(title=f"review: {rep.title}", show_lines=False)
    for col in ("property", "baseline", "proposal", "detail"):
        t.add_column(col, overflow="fold")
    for c in rep.changes:
        t.add_row(c.prop, f"[{STYLE.get(c.before, 'white')}]{c.before}[/]", f"[{STYLE.get(c.after, 'white')}]{c.after}[/]",
                  c.detail + (f" → {c.cex.file}" if c.cex and c.cex.file else ""))
    if not rep.changes:
        t.add_row("(no verdict changed)", "", "", "")
    out.append(t)
    for c in rep.changes:
        if c.cex is None:
            continue
        ct = Table(title=f"shortest counterexample: {c.prop}")
        for col in ("#", "actor", "call", "result", "changes"):
            ct.add_column(col, overflow="fold")
        for i, s in enumerate(c.cex.steps, 1):
            ct.add_row(str(i), s["actor"], s["call"], s["errno"], "; ".join(s["changes"][:4]))
        out.append(ct)
    bt = Table(title="new behaviours (proposal step vs baseline step on a common pre-state)")
    for col in ("rule", "status", "call", "baseline", "proposal", "differences"):
        bt.add_column(col, overflow="fold")
    for b in rep.behaviours:
        bt.add_row(b.rule, b.status, b.call or b.detail, b.base_errno, b.proposal_errno, "; ".join(b.differences[:4]))
    out.append(bt)
    return out


def markdown(rep) -> str:
    lines = [f"## tokenproof review: {rep.title}", "", rep.description, "",
             f"- proposal: `{rep.proposal}`; baseline: {rep.base}",
             f"- changed rules: {', '.join(f'`{r}`' for r in rep.changed) or 'none'}",
             f"- properties: {rep.selection}", ""]
    lines += ["### Verdict changes", "", "| property | baseline | proposal | detail |", "|---|---|---|---|"]
    for c in rep.changes:
        lines.append(f"| `{c.prop}` | {c.before} | **{c.after}** | {c.detail} |")
    if not rep.changes:
        lines.append("| (none) | | | |")
    for c in rep.changes:
        if c.cex is None:
            continue
        lines += ["", f"#### Counterexample to `{c.prop}` ({c.cex.depth} steps from the {c.cex.scenario} world, replayed)",
                  "", f"> {c.statement}", ""]
        for i, s in enumerate(c.cex.steps, 1):
            lines.append(f"{i}. **{s['actor']}**: `{s['call']}` → {s['errno']}")
        if c.cex.file:
            lines.append(f"\nTrace: `{c.cex.file}`")
    lines += ["", "### New behaviours", "", "| rule | status | step | baseline | proposal | differences |",
              "|---|---|---|---|---|---|"]
    for b in rep.behaviours:
        lines.append(f"| `{b.rule}` | {b.status} | {('`' + b.call + '`') if b.call else b.detail} | {b.base_errno} | "
                     f"{b.proposal_errno} | {'<br>'.join(b.differences[:6])} |")
    lines += ["", "### Timing", ""] + [f"- {k}: {v:.1f}s" for k, v in rep.timing.items()]
    for n in rep.notes:
        lines.append(f"- note: {n}")
    return "\n".join(lines) + "\n"


@click.command("review")
@click.argument("proposal", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--base", "base_rev", default=None, metavar="REV", help="Baseline: the model at this git revision.")
@click.option("--property", "ids", multiple=True, metavar="ID", help="Only these properties (repeatable).")
@click.option("--all", "all_", is_flag=True, help="Every property (default: the ones the changed rules can affect).")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "html", "json"]), default="table",
              show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write the report here.")
@click.option("--timeout", "timeout_ms", default=10000, show_default=True, help="Solver timeout per query (ms).")
@click.option("--depth", default=4, show_default=True, help="BMC depth for counterexamples.")
@click.option("--out", "out_dir", default="counterexamples/review", show_default=True,
              type=click.Path(file_okay=False), help="Where replayed counterexamples are written.")
@click.option("--no-behaviours", is_flag=True, help="Skip the new-behaviour queries.")
@click.option("--divergences", is_flag=True, help="Instead: build the KACS/NT divergence table (docs/review.md).")
@click.option("--cache-dir", default=".tokenproof-cache", show_default=True, type=click.Path(file_okay=False),
              help="The proof cache shared with `tokenproof prove`: the obligations of unchanged rules and "
                   "catalog properties are read from it and stored in it.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the proof cache.")
def command(proposal, base_rev, ids, all_, fmt, output, timeout_ms, depth, out_dir, no_behaviours, divergences,
            cache_dir, no_cache):
    """Prove the catalog on the baseline and on PROPOSAL.py and show the difference.

    PROPOSAL.py replaces or adds rules (RULES_OVERRIDE or apply(rules)) and may
    add PROPERTIES.  Reported: the properties whose verdict changed, with the
    shortest replayed counterexample for each newly refuted one; for each
    changed rule, a state and arguments where the proposal's step does what the
    baseline's cannot; timing.  Without PROPOSAL and with --base, the working
    tree's model is compared with the model at REV.

    \b
    Exit codes: 0 no verdict got worse; 1 some property proved on the baseline
    is no longer proved; 2 bad input.
    """
    from tokenproof.review import divergence_markdown, divergence_table, review

    console = Console(stderr=True)
    if divergences:
        rows = divergence_table(Path("counterexamples/nt"), timeout_ms=max(timeout_ms, 20000),
                                progress=lambda m: console.print(f"[dim]{m}[/]"))
        text = divergence_markdown(rows)
        _emit(text, output)
        return
    if not proposal and not base_rev:
        raise click.UsageError("give PROPOSAL.py, or --base REV to compare the working tree with REV")
    try:
        rep = review(proposal, base_rev=base_rev, ids=list(ids) or None, all_=all_, timeout_ms=timeout_ms,
                     depth=depth, out_dir=Path(out_dir), behaviours=not no_behaviours,
                     progress=lambda m: console.print(f"[dim]{m}[/]") if console.is_terminal else None,
                     cache_dir=None if no_cache else cache_dir)
    except (KeyError, ValueError) as e:
        raise click.UsageError(str(e)) from None
    if fmt == "markdown":
        _emit(markdown(rep), output)
    elif fmt == "html":
        from tokenproof.htmlreport import render

        _emit(render(rep), output)
    elif fmt == "json":
        _emit(json.dumps(rep.to_json(), indent=2, default=str), output)
    else:
        c = Console(width=200 if not sys.stdout.isatty() else None, record=output is not None)
        for t in _tables(rep):
            c.print(t)
        c.print(f"{len(rep.properties)} properties ({rep.selection}); "
                + ", ".join(f"{k} {v:.1f}s" for k, v in rep.timing.items()))
        if output:
            Path(output).write_text(c.export_text())
    worse = [c for c in rep.changes if c.before == "proved"]
    sys.exit(1 if worse else 0)


def _emit(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text)
