"""``tokenproof crosscheck``: prove with z3, then re-ask every proved obligation to cvc5."""

from __future__ import annotations

import json
import sys

import click


@click.command("crosscheck")
@click.option("--property", "ids", multiple=True, metavar="ID", help="Only these properties (repeatable).")
@click.option("--solver", type=click.Choice(["cvc5"]), default="cvc5", show_default=True)
@click.option("--profile", default="kacs", show_default=True)
@click.option("--timeout", "timeout_ms", default=10000, show_default=True, help="z3 timeout per query (ms).")
@click.option("--cvc5-timeout", "cvc5_ms", default=10000, show_default=True, help="cvc5 timeout per query (ms).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def command(ids, solver, profile, timeout_ms, cvc5_ms, fmt):
    """Re-check every obligation z3 proved (unsat) with a second solver.

    The formulas are passed as SMT-LIB2.  A disagreement (z3 unsat, cvc5 sat)
    fails loudly (exit 1); cvc5 unknown/timeouts/parse errors are reported as
    "not cross-checked", never as agreement or disagreement.

    \b
    Exit codes: 0 no disagreement; 1 a disagreement; 2 bad input or cvc5 missing.
    """
    from tokenproof.catalog_run import load_catalog, select
    from tokenproof.soundness import crosscheck_catalog, cvc5_available

    if not cvc5_available():
        click.echo("error: cvc5 is not installed (pip install 'tokenproof[cvc5]')", err=True)
        sys.exit(2)
    try:
        select(load_catalog(), list(ids) or None)
    except KeyError as e:
        raise click.UsageError(str(e.args[0])) from None
    results, checks = crosscheck_catalog(list(ids) or None, profile, timeout_ms, cvc5_ms, strict=False)
    bad = [c for c in checks if c.disagrees]
    open_ = [c for c in checks if not c.agrees and not c.disagrees]
    if fmt == "json":
        click.echo(json.dumps({
            "proved": [r.prop.id for r in results if r.verdict == "proved"],
            "not_proved": {r.prop.id: r.verdict for r in results if r.verdict != "proved"},
            "checks": [{"property": c.label[0], "obligation": c.label[1], "engine": c.engine, "z3": c.z3,
                        "cvc5": c.cvc5, "seconds": round(c.seconds, 3), "reason": c.reason} for c in checks],
            "agree": sum(c.agrees for c in checks), "disagree": len(bad), "not_cross_checked": len(open_)},
            indent=2))
    else:
        for c in checks:
            tag = "agree" if c.agrees else ("DISAGREE" if c.disagrees else f"not cross-checked ({c.cvc5}: {c.reason})")
            click.echo(f"{c.label[0]} × {c.label[1]} [{c.engine}]: {tag} ({c.seconds:.2f}s)")
        click.echo(f"{len(checks)} unsat obligations: {sum(c.agrees for c in checks)} confirmed by cvc5, "
                   f"{len(bad)} DISAGREE, {len(open_)} not cross-checked")
    if bad:
        for c in bad:
            click.echo(f"DISAGREEMENT: {c.label[0]} on {c.label[1]}: z3 unsat, cvc5 sat", err=True)
        sys.exit(1)
