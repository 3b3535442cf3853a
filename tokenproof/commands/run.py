"""``tokenproof run TRACE``: execute a trace file on the concrete executor."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from tokenproof.render import call_text

HELP = """Execute the trace file TRACE step by step and show what each step changed.

\b
A trace is JSON (docs/trace-format.md):
  {"schema": "tokenproof-trace/1", "description": "...",
   "scenario": "standard",            # or "state": {...} (an explicit state)
   "setup": {...},                    # extra sessions/tokens/processes/fds/sockets
   "steps": [{"actor": "sh1", "rule": "fork", "args": {},
              "expect": {"errno": "OK"}},
             {"actor": "kernel", "rule": "kernel_free_token", "args": {"token": "token#5"}}],
   "violation": {"property": "ID", "step": 3}}   # optional

\b
Each step prints  [k] actor: rule(args) -> ERRNO (ret)  and the changed fields;
kernel follow-ups (reclaimed tokens and sessions) are listed under it.
Steps are numbered from 0.  Examples: examples/*.json.

\b
Exit codes: 0 every step as expected (and the claimed violation, if any,
reproduced); 1 an expectation failed; 2 bad input or a step that is not
possible at all.
"""


def _style(text: str, **kw: Any) -> str:
    return click.style(text, **kw)


def _errno_colour(name: str) -> str:
    return "green" if name == "OK" else "yellow"


def _print_step(sr: Any, quiet: bool) -> None:
    if quiet and sr.ok:
        return
    ret = ", ".join(f"{k}={v}" for k, v in sr.ret.items())
    head = f"[{sr.index}] {sr.actor}: {call_text(sr.rule, sr.args_text)} -> "
    click.echo(head + _style(sr.errno_name, fg=_errno_colour(sr.errno_name), bold=True)
               + (f" ({ret})" if ret else ""))
    for f in sr.failures:
        click.echo("    " + _style(f"EXPECTATION FAILED: {f}", fg="red", bold=True))
    if quiet:
        return
    for c in sr.changes:
        click.echo(f"    {c.text}")
    for k in sr.kernel:
        click.echo("    " + _style(f"kernel: {call_text(k.rule, k.args_text)}", fg="cyan"))
        for c in k.changes:
            click.echo(f"      {c.text}")


@click.command("run", help=HELP, short_help="Execute a trace file step by step.")
@click.argument("trace_file", metavar="TRACE", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--no-gc", is_flag=True, help="Do not run the kernel's reclamation steps after each step.")
@click.option("--quiet", "-q", is_flag=True, help="Only print failed steps and the summary.")
def command(trace_file: str, as_json: bool, no_gc: bool, quiet: bool) -> None:
    from tokenproof.trace import TraceError, evaluate_violation, execute, load_trace

    partial = None
    error = None
    try:
        trace = load_trace(trace_file)
        result = execute(trace, auto_gc=False if no_gc else None)
    except TraceError as e:
        error, partial = str(e), e.partial
        result = None

    steps = result.steps if result is not None else (partial.steps if partial is not None else [])
    violation = evaluate_violation(result) if result is not None else None
    failed = [s for s in steps if not s.ok]
    violation_mismatch = violation is not None and violation.evaluated and violation.violated is False

    if as_json:
        out: dict[str, Any] = {"trace": trace_file, "steps": [s.to_json() for s in steps],
                               "violation": violation.to_json() if violation else None,
                               "error": error, "ok": error is None and not failed and not violation_mismatch}
        if result is not None:
            out["description"] = result.trace.description
        click.echo(json.dumps(out, indent=2))
    else:
        if result is not None and result.trace.description and not quiet:
            click.echo(_style(result.trace.description, bold=True))
        for sr in steps:
            _print_step(sr, quiet)
        if violation is not None:
            colour = "red" if violation.violated else ("yellow" if not violation.evaluated else "green")
            click.echo(_style(f"violation: {violation.message}", fg=colour, bold=True))
        if error is not None:
            click.echo(_style(f"error: {error}", fg="red", bold=True), err=True)
        else:
            n = len(steps)
            summary = (f"{n} step{'s' if n != 1 else ''}, all as expected" if not failed
                       else f"{len(failed)} of {n} steps not as expected")
            if violation_mismatch:
                summary += "; the claimed violation did not reproduce"
            click.echo(_style(summary, fg="green" if not failed and not violation_mismatch else "red"))
    if error is not None:
        sys.exit(2)
    if failed or violation_mismatch:
        sys.exit(1)
