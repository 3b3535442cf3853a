"""``tokenproof coverage``: spec sections and requirement IDs covered by scenarios, properties and rules;
``--vacuity``: the vacuity report of the catalog's proofs."""

from __future__ import annotations

import json
import sys

import click


@click.command("coverage")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--vacuity", is_flag=True, help="Instead: check the premises, rule guards and antecedents "
                                              "of the properties' proofs (tokenproof.soundness).")
@click.option("--property", "ids", multiple=True, metavar="ID", help="With --vacuity: only these properties.")
@click.option("--timeout", "timeout_ms", default=10000, show_default=True, help="With --vacuity: per query (ms).")
def command(fmt, vacuity, ids, timeout_ms):
    """Print the spec sections and clause IDs (spec/clauses.md) covered by the
    conformance scenarios (tests/scenarios), the properties and the rules, and
    the in-model clause IDs covered by nothing (rows of kind out-of-model are
    excluded from the denominator).

    With --vacuity: for every property, whether the premises of its proof are
    satisfiable, whether its antecedent is reachable (transition properties),
    and which rules can never succeed under the invariants.

    \b
    Exit codes: 0 done; 1 (--vacuity) a vacuous premise, a trivial property or
    a dead rule; 2 bad input.
    """
    if vacuity:
        _vacuity(fmt, list(ids), timeout_ms)
        return
    from tokenproof.coverage import _sec_key, coverage

    cov = coverage()
    if fmt == "json":
        click.echo(json.dumps(cov.as_json(), indent=2))
        return
    click.echo(f"spec sections ({cov.scenarios} conformance scenarios; counts of scenarios / properties / rules):")
    for s in sorted(cov.sections, key=_sec_key):
        src = cov.sections[s]
        click.echo(f"  {s:16s} {len(src.get('scenarios', [])):3d} / {len(src.get('properties', [])):3d} / "
                   f"{len(src.get('rules', [])):3d}")
    missing = [r for r, p in cov.rule_paths.items() if not p["success"] or (p["has_guards"] and not p["error"])]
    click.echo(f"rules: {len(cov.rule_paths)}; without a success scenario or (guarded) an error scenario: "
               f"{', '.join(missing) or 'none'}")
    n_in = len(cov.in_model)
    click.echo(f"clauses: {len(cov.catalog)} in spec/clauses.md, {len(cov.catalog) - n_in} out-of-model excluded; "
               f"{n_in - len(cov.uncovered)}/{n_in} in-model clauses covered by a scenario, property or rule")
    by_src = {k: sum(1 for c in cov.in_model if cov.clauses.get(c, {}).get(k)) for k in ("scenarios", "properties", "rules")}
    click.echo("  covered by " + ", ".join(f"{k}: {v}" for k, v in by_src.items()))
    if cov.uncovered:
        click.echo(f"covered by nothing ({len(cov.uncovered)}): " + " ".join(cov.uncovered))
    if cov.unknown_ids:
        click.echo(f"cited but not in the clause catalog: {' '.join(cov.unknown_ids)}")


def _vacuity(fmt: str, ids: list[str], timeout_ms: int) -> None:
    from tokenproof.catalog_run import load_catalog, select
    from tokenproof.soundness import vacuity_report

    try:
        props = select(load_catalog(), ids or None)
    except KeyError as e:
        raise click.UsageError(str(e.args[0])) from None
    findings = vacuity_report(props, None if not ids else [], timeout_ms=timeout_ms) if ids else \
        vacuity_report(props, None, timeout_ms=timeout_ms)
    problems = [f for f in findings if f.problem]
    if fmt == "json":
        click.echo(json.dumps({"findings": [f.__dict__ | {"rules": list(f.rules)} for f in findings],
                               "problems": len(problems)}, indent=2))
    else:
        for f in findings:
            who = f.prop if f.prop != "*" else f"rule {f.rules[0]}"
            click.echo(f"{who} [{f.check}]: {f.status} ({f.witness}) {f.detail[:160]}")
        click.echo(f"{len(findings)} checks: {len(problems)} problem(s) "
                   f"({', '.join(sorted({f.status for f in problems})) or 'none'}), "
                   f"{sum(f.status == 'unknown' for f in findings)} unknown")
    if problems:
        sys.exit(1)
