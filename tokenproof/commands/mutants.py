"""``tokenproof mutants``: generate rule mutants and report the kill matrix."""

from __future__ import annotations

import json
import sys

import click

from tokenproof.killmatrix import all_mutants, classify, kill_matrix, operator, select_mutants


def _split(text: str) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


@click.command("mutants")
@click.option("--rules", "rules", default="", metavar="R,...", help="Only mutants of these rules.")
@click.option("--mutant", "names", multiple=True, metavar="NAME", help="Only these mutants (repeatable).")
@click.option("--properties", "props", default="", metavar="P,...", help="Judge with these properties only.")
@click.option("--depth", default=1, show_default=True, help="BMC depth for mutants the concrete oracles miss (0: none).")
@click.option("--bmc-budget", default=60.0, show_default=True, help="BMC wall seconds per mutant (then: unknown).")
@click.option("--timeout", "timeout_ms", default=20000, show_default=True, help="BMC solver timeout per query (ms).")
@click.option("--jobs", default=1, show_default=True, help="Parallel worker processes.")
@click.option("--seeds", default=6, show_default=True, help="Random walks per mutant.")
@click.option("--steps", default=40, show_default=True, help="Steps per random walk.")
@click.option("--full", is_flag=True, help="Every property that refutes each mutant (default: stop at the first).")
@click.option("--list", "list_only", is_flag=True, help="List the generated mutants and exit.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--min-score", type=float, default=0.0, help="Exit 1 if the score is below this (0..1).")
def command(rules, names, props, depth, bmc_budget, timeout_ms, jobs, seeds, steps, full, list_only, fmt, min_score):
    """Generate rule mutants and report which properties kill each one.

    Operators: drop-guard-K, skip-effect-K, ignore-guards, flip-A-B
    (ult/ule, ugt/uge, eq/ne, has_all/has_any), skip-privilege-check,
    effective-for-real.  Each mutant is attacked cheapest first: the
    conformance scenarios, the counterexample corpus and deterministic
    random walks on the concrete executor (every property expected to hold
    is checked after every step), then BMC at --depth from the standard
    world (a refutation counts once its counterexample replays).  Verdicts:
    killed, survived, unknown (BMC unknown/out of budget: never killed).
    Induction failure alone is never a kill.

    \b
    Exit codes: 0 done (score >= --min-score); 1 score below --min-score;
    2 bad input.
    """
    from tokenproof.catalog_run import load_catalog, select

    try:
        chosen = select_mutants(_split(rules) or None, list(names) or None)
        prop_ids = _split(props) or None
        if prop_ids:
            select(load_catalog(), prop_ids)
    except KeyError as e:
        raise click.UsageError(str(e.args[0])) from None
    allm = all_mutants()
    if list_only:
        for n in chosen:
            click.echo(f"{n}\t{operator(allm[n])}\t{allm[n].description}")
        return

    def progress(k) -> None:
        if fmt == "table":
            mark = "killed" if k.killed else k.verdict.upper()
            click.echo(f"  {k.mutant}: {mark} {', '.join(sorted(k.killed_by))[:120]} ({k.seconds:.1f}s)", err=True)

    mat = kill_matrix(chosen, prop_ids, depth=depth, timeout_ms=timeout_ms, jobs=jobs, seeds=seeds, steps=steps,
                      use_bmc=depth > 0, full=full, progress=progress, bmc_budget=bmc_budget)
    if fmt == "json":
        click.echo(json.dumps(mat.as_json(), indent=2))
    else:
        for k in mat.kills:
            if k.killed:
                click.echo(f"{k.mutant}\tkilled ({k.oracle})\t{', '.join(sorted(k.killed_by))}")
            else:
                cls, why = classify(k.mutant, k)
                click.echo(f"{k.mutant}\t{k.verdict.upper()}\t{cls}: {why}" + (f" [{k.note}]" if k.note else ""))
        click.echo(f"{len(mat.killed)}/{len(mat.kills)} mutants killed ({mat.score:.1%}; "
                   f"{mat.adjusted_score:.1%} excluding equivalent mutants; {len(mat.unknowns)} unknown) "
                   f"in {mat.seconds:.1f}s")
    if mat.score < min_score:
        sys.exit(1)
