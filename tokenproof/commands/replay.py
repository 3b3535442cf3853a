"""``tokenproof replay FILE``: re-execute a counterexample and tell its story."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

HELP = """Replay the trace FILE on the concrete executor and print a narrative:
per step who did what, the result and the fields that changed (in names),
ending with the property statement and the values that break it.

\b
FILE is a tokenproof-trace/1 file (docs/trace-format.md): a BMC
counterexample, a counterexample to induction (an explicit "state" plus one
step) or a hand-written trace; or an AccessCheck counterexample
(tokenproof-access-counterexample/1).  See docs/counterexamples.md.

\b
The rules: --profile (default: the trace's profile) with --mutant NAME (a
seeded mutant, tokenproof/seeded_mutants.py); by default the mutant the trace
records, --mutant none for the plain profile.

\b
  --python        print the trace as a runnable Python script ending in the
                  property's assert (it fails while the bug is there)
  --minimize      shrink the trace while the violation persists, print the
                  narrative of the result and what was removed (--out saves it)
  --svg OUT.svg   sequence diagram (threads as lanes, tokens as boxes)
  --graph OUT.svg token-derivation graph
  (pictures need graphviz's dot: apt-get install -y graphviz)

\b
Exit codes: 0 the trace replays and its recorded violation reproduces (or it
records none and every expectation holds); 1 it does not reproduce; 2 bad
input (unreadable or invalid file, unknown property, profile or mutant).
"""


def _fail(msg: str) -> None:
    click.echo(click.style("error: ", fg="red", bold=True) + msg, err=True)
    sys.exit(2)


@click.command("replay", help=HELP, short_help="Replay a counterexample as a readable narrative.")
@click.argument("file", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--profile", default=None, help="Rule set (default: the trace's profile, kacs).")
@click.option("--mutant", default=None, metavar="NAME",
              help="Replay on a seeded mutant (default: the trace's own mutant; 'none': the plain profile).")
@click.option("--python", "as_python", is_flag=True, help="Print the trace as a runnable Python script.")
@click.option("--svg", "svg", default=None, type=click.Path(dir_okay=False), help="Write a sequence diagram (SVG).")
@click.option("--graph", "graph", default=None, type=click.Path(dir_okay=False),
              help="Write the token-derivation graph (SVG).")
@click.option("--minimize", is_flag=True, help="Shrink the trace while the violation persists.")
@click.option("--budget", default=400, show_default=True, help="--minimize: at most this many replays.")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="--minimize: write the minimized trace here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(file: str, profile: str | None, mutant: str | None, as_python: bool, svg: str | None,
            graph: str | None, minimize: bool, budget: int, out: str | None, as_json: bool) -> None:
    from tokenproof.narrative import ACCESS_SCHEMA, narrate, replay_access_document, replay_trace
    from tokenproof.trace import TraceError, dump_trace, load_trace, parse_trace

    path = Path(file)
    if not path.exists():
        _fail(f"{file}: no such file")
    # an AccessCheck counterexample (tokenproof/relational.py) has its own small format
    try:
        head = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        head = None
    if isinstance(head, dict) and head.get("schema") == ACCESS_SCHEMA:
        if as_python or svg or graph or minimize:
            _fail(f"{file}: an AccessCheck counterexample supports only the narrative and --json")
        try:
            arep = replay_access_document(head, file, mutant)
        except TraceError as e:
            _fail(str(e))
            return
        click.echo(json.dumps(arep.to_json(), indent=2) if as_json else "\n".join(arep.lines))
        sys.exit(arep.exit_code)

    try:
        trace = load_trace(file)
        rep = replay_trace(trace, profile, mutant)
    except TraceError as e:
        _fail(str(e))
        return

    removals: list[str] = []
    min_info: dict[str, Any] | None = None
    if minimize:
        from tokenproof.minimize import minimize as shrink

        if trace.violation is None:
            _fail(f"{file}: --minimize needs a trace that records a violation")
        if not rep.reproduced:
            _fail(f"{file}: --minimize needs a violation that reproduces on {rep.target}")
        mres = shrink(trace, rep.rules, budget=budget)
        removals = mres.removals
        data = mres.data
        if out:
            dump_trace(data, out)
        trace = parse_trace(json.loads(json.dumps(data)), out or f"{file} (minimized)")
        rep = replay_trace(trace, rules=rep.rules, label=rep.target)
        min_info = {"removals": removals, "replays": mres.runs, "budget_exhausted": mres.exhausted,
                    "steps_before": mres.steps_before, "steps_after": len(trace.steps), "trace": data}

    if as_python:
        from tokenproof.pyscript import trace_script

        click.echo(trace_script(trace, profile=profile or trace.profile,
                                mutant=rep.target.split(":", 1)[1] if rep.target.startswith("mutant:") else None,
                                source=file))
        sys.exit(rep.exit_code)

    pictures: dict[str, str] = {}
    for kind, dest in (("svg", svg), ("graph", graph)):
        if not dest:
            continue
        from tokenproof import pictures as P

        try:
            if kind == "svg":
                P.write_sequence_svg(rep, dest)
            else:
                P.write_graph_svg(rep, dest)
        except P.NoRenderer as e:
            _fail(str(e))
        pictures[kind] = dest

    if as_json:
        doc = rep.to_json()
        if min_info is not None:
            doc["minimized"] = min_info
        doc["pictures"] = pictures
        click.echo(json.dumps(doc, indent=2))
    else:
        lines = narrate(rep)
        for ln in lines:
            if ln.startswith("VIOLATED") or ln.startswith("NOT POSSIBLE"):
                click.echo(click.style(ln, fg="red", bold=True))
            elif ln.startswith("reproduces") or ln.startswith("replays as recorded"):
                click.echo(click.style(ln, fg="green", bold=True))
            elif ln.startswith("does not") or ln.startswith("NOT "):
                click.echo(click.style(ln, fg="yellow", bold=True))
            else:
                click.echo(ln)
        if min_info is not None:
            click.echo("")
            click.echo(click.style(f"minimized: {min_info['steps_before']} → {min_info['steps_after']} steps "
                                   f"in {min_info['replays']} replays"
                                   + (" (budget exhausted)" if min_info["budget_exhausted"] else ""), bold=True))
            for r in removals:
                click.echo(f"  - {r}")
            if not removals:
                click.echo("  (nothing could be removed)")
            if out:
                click.echo(f"written to {out}")
        for kind, dest in pictures.items():
            click.echo(f"{'sequence diagram' if kind == 'svg' else 'derivation graph'}: {dest}")
    sys.exit(rep.exit_code)
