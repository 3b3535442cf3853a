"""``tokenproof check PROPERTY``: bounded model checking of one property."""

from __future__ import annotations

import difflib
import sys
import time

import click

from tokenproof.bmc import (BOUNDED_OK, DEFAULT_DEPTH, DEFAULT_TIMEOUT_MS, DEFERRED_RULES, REFUTED, SAT_FROM_DEPTH,
                            UNKNOWN, parse_universe)
from tokenproof.satsolve import SOLVER, SOLVERS


def _catalog():
    try:
        import properties.catalog  # noqa: F401  (registers every property)
    except ImportError:  # pragma: no cover - the catalog is optional while it is written
        pass
    from properties.base import CATALOG

    return CATALOG


@click.command("check")
@click.argument("property_id", metavar="PROPERTY")
@click.option("--depth", default=DEFAULT_DEPTH, show_default=True, type=click.IntRange(0, 50),
              help="Check every execution of at most this many steps.")
@click.option("--scenario", default="standard", show_default=True,
              help="The initial world (model/scenarios.py: standard, boot).")
@click.option("--mutant", default=None, help="Check a seeded mutant's rule set instead of the KACS rules.")
@click.option("--timeout", "timeout_ms", default=DEFAULT_TIMEOUT_MS, show_default=True, type=click.IntRange(1),
              help="Solver timeout per query, in milliseconds.")
@click.option("--universe", default="", metavar="SORT=N,...",
              help="Fresh objects per sort beyond the world's (default Thread=2,Process=1,Token=3,Handle=2,"
                   "Session=1,Socket=1).")
@click.option("--out", "out_dir", default="counterexamples/found", show_default=True,
              help="Where replayed counterexamples are written.")
@click.option("--strict", is_flag=True, help="Exit 3 when the solver answers unknown (timeout).")
@click.option("--cone/--no-cone", default=True, show_default=True,
              help="Encode only the rules that can affect the property (its rule-level cone of influence).")
@click.option("--bv/--no-bv", default=True, show_default=True,
              help="Objects and SIDs as bit-vector numbers, so z3 bit-blasts each query to SAT (faster at "
                   "finding counterexamples; --no-bv: enumeration sorts).")
@click.option("--defer/--no-defer", default=True, show_default=True,
              help="Ask each depth first without the create/duplicate/restrict steps (the largest part of "
                   "the encoding), then with every rule.")
@click.option("--reduce/--no-reduce", default=False, show_default=True,
              help="Fresh objects of a sort come alive in index order, and no step before the last fails "
                   "(tokenproof/reductions.py: same verdicts and depths; faster on deep queries without a "
                   "violation, slower at finding most counterexamples).")
@click.option("--sat", default="z3", show_default=True, type=click.Choice(["z3", *SOLVERS]),
              help=f"z3 alone, or a SAT solver (python-sat) that decides z3's bit-blasted queries from depth "
                   f"{SAT_FROM_DEPTH} on (with --bv).  Try --reduce --sat {SOLVER} on a query that times out.")
@click.option("--shortcuts/--no-shortcuts", default=True, show_default=True,
              help="With --jobs 2 or more: a second lane asks each depth with one actor, fresh tokens by "
                   "step position and plain create requests (tokenproof/shortcuts.py: a satisfiable answer "
                   "is a counterexample of that depth; verdicts and depths are the whole query's).")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Solver lanes, one core each, working ahead through the depths while the next depth is "
                   "built: lane 1 asks the shortcuts of depth k+1 while lane 0 proves depth k "
                   "(tokenproof/depthrace.py; same verdicts and depths, which counterexample is found may vary).")
def command(property_id: str, depth: int, scenario: str, mutant: str | None, timeout_ms: int, universe: str,
            out_dir: str, strict: bool, cone: bool, bv: bool, defer: bool, reduce: bool, sat: str,
            shortcuts: bool, jobs: int) -> None:
    """Bounded model checking of PROPERTY from a concrete world.

    Explores every sequence of at most --depth rule applications (syscalls,
    ioctls and kernel steps, with any actor and arguments) from the initial
    world, over a finite universe of objects, and reports:

    \b
      refuted     a shortest counterexample, replayed on the concrete
                  executor and written to --out as a trace file
      bounded-ok  no violation within the depth (NOT a proof)
      unknown     the solver gave up (timeout); never reported as proved

    \b
    Exit codes: 0 the verdict matches the property's expectation (expected
    refuted and refuted; expected proved and bounded-ok; with --mutant the
    expectation is refuted), 1 it does not, 2 bad input, 3 unknown under
    --strict.

    \b
    Example:  tokenproof check live-processes-have-live-primaries --mutant fork-shares-token --depth 2
    """
    from model.scenarios import SCENARIOS
    from tokenproof.bmc import run_bmc

    catalog = _catalog()
    prop = catalog.get(property_id)
    if prop is None:
        close = difflib.get_close_matches(property_id, list(catalog), n=5, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        click.echo(f"error: unknown property {property_id!r}.{hint}", err=True)
        sys.exit(2)
    if scenario not in SCENARIOS:
        click.echo(f"error: unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})", err=True)
        sys.exit(2)
    try:
        extra = parse_universe(universe)
    except ValueError as e:
        click.echo(f"error: --universe: {e}", err=True)
        sys.exit(2)
    rules = None
    expected = prop.expected("kacs")
    if mutant is not None:
        from tokenproof.mutants import load_seeded

        seeded = load_seeded()
        if mutant not in seeded:
            close = difflib.get_close_matches(mutant, list(seeded), n=5, cutoff=0.4)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            click.echo(f"error: unknown mutant {mutant!r}.{hint}", err=True)
            sys.exit(2)
        rules = seeded[mutant].rules()
        expected = "refuted"

    on = f" on mutant {mutant}" if mutant else ""
    click.echo(f"{prop.id}{on}: bounded model checking to depth {depth} from '{scenario}' "
               f"(timeout {timeout_ms} ms per query)")
    t0 = time.perf_counter()
    res = run_bmc(prop, depth=depth, scenario=scenario, extra=extra, timeout_ms=timeout_ms, rules=rules,
                  mutant=mutant, cone=cone, bv=bv, defer=DEFERRED_RULES if defer else (), reduce=reduce, sat=sat,
                  shortcuts=shortcuts, jobs=jobs)
    elapsed = time.perf_counter() - t0

    if res.verdict == REFUTED:
        from tokenproof.cex import write
        from tokenproof.replay import replay

        cex = res.counterexample()
        replay(cex)  # raises ReplayMismatch (a tokenproof bug) if the executor disagrees
        path = write(cex, out_dir)
        via = f", found by the restriction '{res.settled_by}'" if res.settled_by else ""
        click.echo(f"REFUTED at depth {res.depth} ({elapsed:.1f}s{via}); counterexample replayed on the executor:")
        for line in cex.describe():
            click.echo(f"  {line}")
        click.echo(f"  violated after step {res.depth}: {prop.statement}")
        click.echo(f"written to {path}")
    elif res.verdict == BOUNDED_OK:
        click.echo(f"BOUNDED-OK: no violation up to depth {res.depth} ({elapsed:.1f}s). "
                   "This is a bounded check, not a proof.")
    else:
        click.echo(f"UNKNOWN after depth {res.depth} ({elapsed:.1f}s): {res.reason or 'solver gave up'} "
                   "(not proved)")
        if bv and not (reduce and sat != "z3"):
            click.echo(f"hint: a longer --timeout, or --reduce --sat {SOLVER}, which are faster on deep queries "
                       "without a violation")

    if res.verdict == UNKNOWN:
        sys.exit(3 if strict else 0)
    ok = (res.verdict == REFUTED) == (expected == "refuted")
    click.echo(f"expected {expected}: {'as expected' if ok else 'NOT as expected'}")
    sys.exit(0 if ok else 1)
