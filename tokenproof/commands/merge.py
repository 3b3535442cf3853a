"""``tokenproof merge``: one report from the JSON reports of several shards."""

from __future__ import annotations

import click

from tokenproof.commands.prove import EXIT_CODES, emit, output_options


@click.command("merge", epilog=EXIT_CODES)
@click.argument("reports", nargs=-1, required=True, type=click.Path(dir_okay=False))
@output_options
def command(reports, fmt, output, strict, no_timings):
    """Merge the JSON reports of `tokenproof prove --format json` (e.g. one per
    --shard of a CI matrix) into one report, in any --format.

    Records are keyed by property id and sorted; two reports giving the same
    property different results, or reports of different profiles, are an
    error (exit 2).  A missing shard is reported as a warning on stderr.
    With a single report this converts it to another format.
    """
    from tokenproof.catalog_run import load_report, merge_reports

    try:
        merged, warnings = merge_reports([load_report(p) for p in reports])
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    emit(merged, fmt, output, not no_timings, strict)
