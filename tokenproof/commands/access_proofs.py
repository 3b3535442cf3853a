"""``tokenproof access-proofs``: relational AccessCheck proofs over every DACL of up to N ACEs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

HELP = """Prove the relational AccessCheck properties (declared in
properties/access_relations.py, machinery in tokenproof/relational.py) for
every SD whose DACL has up to N ACEs over an unbounded SID universe, one
query per access bit, and print a table (property, bit, verdict, time).

\b
--method auto (default): properties declared walk_induction are first proved
for every N by induction over the DACL walk (a per-ACE step lemma on
model.access.ace_step; the table says "every N"); anything not proved that
way, and every other property, gets the direct query over N symbolic ACEs
(the table says "N = ..."), the only source of refutations.
--method direct: only the direct query at N (a cross-check of the induction).

\b
Properties expected to be refuted are findings: their first counterexample
is replayed on the concrete pipeline and written to --out as JSON
({token specs, SD, desired, granted per token}).  With --mutants each proved
property is also run against its mutant (a deliberately broken pipeline),
which must refute it.  Unknown (a timeout) is never reported as proved.

\b
Exit codes: 0 every property met its expected verdict (and every mutant was
caught); 1 otherwise; 2 bad input.
"""


@click.command("access-proofs", help=HELP)
@click.option("--aces", "n_aces", default=32, show_default=True, help="N: DACLs of up to N ACEs.")
@click.option("--property", "ids", multiple=True, metavar="ID", help="Only these properties (repeatable).")
@click.option("--bit", "bits", multiple=True, type=int, help="Only these bits (repeatable).")
@click.option("--mapping", "mapping_name", default="token", show_default=True, help="token, process or file.")
@click.option("--timeout", "timeout_ms", default=30000, show_default=True, help="Solver timeout per bit (ms).")
@click.option("--mutants", "with_mutants", is_flag=True, help="Also check that each property's mutant refutes it.")
@click.option("--out", "out_dir", default="counterexamples/found", show_default=True, type=click.Path(file_okay=False))
@click.option("--method", type=click.Choice(["auto", "direct", "induction"]), default="auto", show_default=True,
              help="auto: walk induction (every N) where declared, else the direct query at N.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def command(n_aces, ids, bits, mapping_name, timeout_ms, with_mutants, out_dir, method, fmt):
    from model.access import MAPPINGS
    from tokenproof.relational import RELATIONAL, counterexample_document, overall, prove_property

    if mapping_name not in MAPPINGS:
        raise click.UsageError(f"--mapping: expected one of {', '.join(MAPPINGS)}")
    unknown = [i for i in ids if i not in RELATIONAL]
    if unknown:
        raise click.UsageError(f"unknown property {unknown[0]!r} (known: {', '.join(RELATIONAL)})")
    if n_aces < 0:
        raise click.UsageError("--aces must be >= 0")
    mapping = MAPPINGS[mapping_name]
    rows, ok = [], True
    for pid in ids or RELATIONAL:
        prop = RELATIONAL[pid]
        chosen = [b for b in prop.bits(mapping) if not bits or b in bits]
        res = prove_property(prop, n_aces, mapping, None, timeout_ms, chosen,
                             stop_at_refutation=prop.expect == "refuted", method=method)
        verdict = overall(res)
        good = verdict == prop.expect
        ok &= good
        cex_file = None
        for r in res:
            if r.verdict == "refuted" and r.counterexample is not None:
                Path(out_dir).mkdir(parents=True, exist_ok=True)
                cex_file = str(Path(out_dir) / f"{pid}.json")
                Path(cex_file).write_text(json.dumps(counterexample_document(prop, r, mapping_name), indent=2) + "\n")
                break
        mutant_rows = []
        if with_mutants and prop.expect == "proved":
            for mu in prop.mutants:
                mres = prove_property(prop, n_aces, mapping, mu, timeout_ms, chosen, stop_at_refutation=True,
                                      method="direct" if method == "induction" else method)
                caught = overall(mres) == "refuted"
                ok &= caught
                mutant_rows.append({"mutant": mu, "verdict": overall(mres), "caught": caught,
                                    "bit": next((r.bit for r in mres if r.verdict == "refuted"), None),
                                    "seconds": round(sum(r.seconds for r in mres), 3)})
        rows.append({"property": pid, "expected": prop.expect, "verdict": verdict, "as_expected": good,
                     "n_aces": n_aces, "counterexample": cex_file, "mutants": mutant_rows,
                     "bits": [{"bit": r.bit, "verdict": r.verdict, "seconds": round(r.seconds, 3),
                               "cpu_seconds": round(r.cpu_seconds, 3), "method": r.method,
                               "scope": "every N" if r.method == "walk-induction" else f"N = {n_aces}",
                               "detail": r.detail} for r in res]})
        if fmt == "table":
            _print(rows[-1])
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    sys.exit(0 if ok else 1)


STYLE = {"proved": "green", "refuted": "red", "unknown": "yellow"}


def _print(row: dict) -> None:
    from model.access import MAPPINGS, right_name

    head = f"{row['property']}  (N = {row['n_aces']}; expected {row['expected']})"
    mark = "" if row["as_expected"] else click.style("  NOT AS EXPECTED", fg="magenta", bold=True)
    click.echo(click.style(head, bold=True) + mark)
    click.echo(f"  {'bit':<32} {'verdict':<8} {'time':>8}  {'scope':<9}")
    for b in row["bits"]:
        name = f"{b['bit']:>2} {right_name(b['bit'], MAPPINGS['token'])}"
        click.echo(f"  {name:<32} " + click.style(f"{b['verdict']:<8}", fg=STYLE[b["verdict"]])
                   + f" {b['seconds']:>7.2f}s  {b['scope']:<9}" + (f"  {b['detail']}" if b["detail"] else ""))
    for m in row["mutants"]:
        status = click.style("caught", fg="green") if m["caught"] else click.style("NOT CAUGHT", fg="red", bold=True)
        click.echo(f"  mutant {m['mutant']}: {m['verdict']} ({status}, bit {m['bit']}, {m['seconds']:.2f}s)")
    if row["counterexample"]:
        click.echo(f"  counterexample -> {row['counterexample']}")
