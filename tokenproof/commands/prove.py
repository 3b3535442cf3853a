"""``tokenproof prove``: prove the property catalog and report each verdict."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tokenproof.report import FORMATS

EXIT_CODES = """\b
Exit codes:
  0  every property met its expected verdict
  1  some property did not (a refutation, proof or unknown not expected)
  2  bad input or usage (unknown property, profile, scenario, bad --shard)
  3  some verdict is unknown (a timeout, not inductive), with --strict;
     with --cross-check and --strict also: the second solver could not
     decide some obligation (unknown, timeout, unreadable formula)
  4  --cross-check: the second solver contradicts z3 (it finds a model of
     an obligation z3 answered unsat); checked before everything else
"""


def emit(rep, fmt: str, output: str | None, timings: bool, strict: bool) -> None:
    """Write the report in ``fmt`` (to ``output`` or stdout) and exit with the documented code."""
    from tokenproof.report import render, summary, table_object

    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(render(rep, fmt, timings))
        click.echo(summary(rep, timings) + f" → {output}")
    elif fmt == "table" and sys.stdout.isatty():
        from rich.console import Console

        Console().print(table_object(rep, timings))
        click.echo(summary(rep, timings))
    else:
        click.echo(render(rep, fmt, timings), nl=False)
    code = rep.exit_code(strict)
    for d in rep.disagreements:  # loud, whatever the format and wherever the report went
        click.echo(f"CROSS-CHECK DISAGREEMENT ({rep.cross_check} vs z3): {d}", err=True)
    if code:
        sys.exit(code)


def output_options(f):
    f = click.option("--no-timings", is_flag=True,
                     help="Leave times and cache figures out of the output (byte-identical for equal input).")(f)
    f = click.option("--strict", is_flag=True, help="Exit 3 if any verdict is unknown.")(f)
    f = click.option("--output", "-o", metavar="FILE", type=click.Path(dir_okay=False),
                     help="Write the report to FILE (a one-line summary goes to stdout).")(f)
    f = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                     help="table (terminal), json (input of `tokenproof merge`), junit (XML), "
                          "sarif (2.1.0, code scanning), markdown (pull-request comment).")(f)
    return f


@click.command("prove", epilog=EXIT_CODES)
@click.option("--profile", default="kacs", show_default=True, help="Rule set to prove the catalog on.")
@click.option("--property", "ids", multiple=True, metavar="ID", help="Prove only these properties (repeatable).")
@click.option("--timeout", "timeout_ms", default=10000, show_default=True, help="Solver timeout per query (ms).")
@click.option("--depth", default=3, show_default=True,
              help="BMC depth used to look for a real counterexample when induction fails.")
@click.option("--scenario", default="standard", show_default=True, help="Initial world (model.scenarios).")
@click.option("--out", "out_dir", default="counterexamples/found", show_default=True, type=click.Path(file_okay=False),
              help="Where replayed counterexamples are written.")
@output_options
@click.option("--cache-dir", default=".tokenproof-cache", show_default=True, type=click.Path(file_okay=False),
              help="Proof cache directory (results keyed on a hash of the rules, properties, lemmas, profile, "
                   "scenario, prover source and z3 version).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the proof cache.")
@click.option("--jobs", "-j", default=1, show_default=True, type=int,
              help="Worker processes (each proves whole properties with its own prover).")
@click.option("--shard", metavar="I/N", help="Prove only shard I of N (1-based; a stable hash of the property "
                                             "id), for a CI matrix; merge the JSON reports with `tokenproof merge`.")
@click.option("--cross-check", "cross_check", type=click.Choice(["cvc5"]), is_flag=False, flag_value="cvc5",
              default=None, metavar="[cvc5]",
              help="Re-ask every obligation z3 answered unsat for a proved property to a second solver (cvc5, "
                   "pip install 'tokenproof[cvc5]').  A model found by it is a disagreement: the property is "
                   "not reported proved (unknown, or refuted if a counterexample is found) and the run exits 4.  Obligations it cannot decide are counted in the "
                   "report (exit 3 with --strict).  Cached proofs are cross-checked too (the cache key "
                   "covers the cross-check).")
@click.option("--cross-check-timeout", "cross_check_timeout_ms", default=10000, show_default=True, type=int,
              help="--cross-check: the second solver's timeout per obligation (ms).")
def command(profile, ids, timeout_ms, depth, scenario, out_dir, fmt, output, strict, no_timings, cache_dir,
            no_cache, jobs, shard, cross_check, cross_check_timeout_ms):
    """Prove every property of the catalog (or the ones named).

    Each property ends as proved (by induction, unbounded in the number of
    threads, processes, tokens, handles and sessions), refuted (with a
    counterexample replayed on the concrete executor and written to --out)
    or unknown (with the reason: a timeout, or "not inductive" with the
    counterexample to induction).  Unknown is never reported as proved.

    Results are cached (--cache-dir; --no-cache to bypass): a warm run
    re-proves only what a change touches.  The output is sorted by property
    id, and z3's random seeds are fixed, so equal input gives equal verdicts.

    --cross-check cvc5 re-asks each obligation of every proved property (its
    own and its lemmas') to cvc5 and fails loudly (exit 4) on a disagreement.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from tokenproof.catalog_run import RunOptions, check_options, parse_shard, run

    try:
        opts = RunOptions(profile=profile, ids=list(ids) or None, timeout_ms=timeout_ms, depth=depth,
                          scenario=scenario, out_dir=out_dir, cache_dir=None if no_cache else cache_dir,
                          jobs=jobs, shard=parse_shard(shard), cross_check=cross_check,
                          cross_check_timeout_ms=cross_check_timeout_ms)
        n = len(check_options(opts))
    except (KeyError, ValueError) as e:
        raise click.UsageError(str(e.args[0] if e.args else e)) from None
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("proving", total=n)
        rep = run(opts, progress=lambda msg: bar.update(task, description=msg[:60]),
                  on_record=lambda r: bar.advance(task))
    emit(rep, fmt, output, not no_timings, strict)
