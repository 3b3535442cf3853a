"""``tokenproof explore``: enumerate every reachable state of a small universe."""

from __future__ import annotations

import json
import resource
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

import click

HELP = """Explore every reachable state of a small universe (docs/explorer.md).

\b
Breadth-first from boot (SYSTEM's privileges restricted to --privileges; with
--user a user principal holding them), every rule by every live thread with
every argument from the explorer's domains, symmetry-reduced.  Every state
property is checked on every state, every transition property on every step;
a violation is reported as a shortest path and written as a trace.

\b
Exit codes: 0 no violation (or only those the properties expect); 1 an
unexpected violation; 2 bad input.
"""


@click.command("explore", help=HELP)
@click.option("--threads", default=2, show_default=True, help="thread slots (start world included)")
@click.option("--processes", default=2, show_default=True, help="process slots")
@click.option("--tokens", default=3, show_default=True, help="token slots")
@click.option("--sessions", default=None, type=int, help="logon-session slots (default: the start world's)")
@click.option("--sockets", default=0, show_default=True, help="socket slots")
@click.option("--handles", default=1, show_default=True, help="fd numbers per process")
@click.option("--privileges", default="SeAssignPrimaryTokenPrivilege,SeImpersonatePrivilege,SeTcbPrivilege",
              show_default=True, help="comma-separated privileges of SYSTEM (and of --user); '' for none")
@click.option("--user/--no-user", default=False, help="add a user principal (session, token, process, thread)")
@click.option("--auto-gc/--no-auto-gc", default=False, help="reclaim after every step instead of kernel steps")
@click.option("--masks", type=click.Choice(["small", "full"]), default="small", show_default=True)
@click.option("--rules", "rule_names", default="", help="comma-separated rule subset (default: every rule)")
@click.option("--max-states", type=int, default=None, help="stop after N states")
@click.option("--max-seconds", type=float, default=None, help="stop after N seconds (wall)")
@click.option("--max-cpu-seconds", type=float, default=None, help="stop after N seconds of CPU time")
@click.option("--mutant", default=None, help="explore a seeded mutant's rule set")
@click.option("--no-symmetry", is_flag=True, help="no canonical renaming")
@click.option("--no-abstraction", is_flag=True, help="keep every field in the state key (no abstraction of token contents)")
@click.option("--guarded", is_flag=True,
              help="guarded resets: leave dead objects' contents (and other values z3 proves unread "
                   "under a guard) out of the state key (z3 analysis: minutes for every rule)")
@click.option("--no-prune", is_flag=True, help="evaluate every transition check, also those z3 proves valid")
@click.option("--property", "prop_ids", multiple=True, help="check only these properties (repeatable)")
@click.option("--export", "export", default=None, help="write the state graph as GraphML")
@click.option("--stats", is_flag=True, help="edges per rule, dead rules, states without successor")
@click.option("--out", "out_dir", default="counterexamples/explorer", show_default=True,
              help="directory for violation traces")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option("--trace-memory", is_flag=True, help="measure the Python peak with tracemalloc (slow)")
@click.option("--cache-dir", default=".tokenproof-cache", show_default=True, type=click.Path(file_okay=False),
              help="cache of the start-up z3 analysis (abstraction, valid checks, --guarded resets), keyed on "
                   "every source it depends on, the rules, the properties and the start state")
@click.option("--no-cache", is_flag=True, help="neither read nor write the analysis cache")
def command(threads, processes, tokens, sessions, sockets, handles, privileges, user, auto_gc, masks, rule_names,
            max_states, max_seconds, max_cpu_seconds, mutant, no_symmetry, no_abstraction, guarded, no_prune, prop_ids,
            export, stats, out_dir,
            as_json, trace_memory, cache_dir, no_cache) -> None:
    import properties.catalog  # noqa: F401
    from model.rules.registry import RULES
    from properties.base import CATALOG
    from tokenproof.cache import ResultCache
    from tokenproof.explorer import Explorer, Universe, UniverseError

    privs = tuple(p.strip() for p in privileges.split(",") if p.strip())
    u = Universe(threads, processes, tokens, sessions, sockets, handles, privs, user, auto_gc, masks)
    rules = dict(RULES)
    if mutant:
        from tokenproof.mutants import load_seeded

        seeded = load_seeded()
        if mutant not in seeded:
            raise click.UsageError(f"unknown mutant {mutant!r} (known: {', '.join(sorted(seeded))})")
        rules = seeded[mutant].rules(rules)
    if rule_names:
        wanted = [r.strip() for r in rule_names.split(",") if r.strip()]
        bad = [r for r in wanted if r not in rules]
        if bad:
            raise click.UsageError(f"unknown rule(s) {', '.join(bad)}")
        rules = {r: rules[r] for r in wanted}
    props = dict(CATALOG)
    if prop_ids:
        bad = [p for p in prop_ids if p not in props]
        if bad:
            raise click.UsageError(f"unknown property {', '.join(bad)}")
        props = {p: props[p] for p in prop_ids}
    if trace_memory:
        tracemalloc.start()
    try:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("exploring"), BarColumn(), TextColumn("{task.description}"),
                      TimeElapsedColumn(), transient=True, disable=as_json or not sys.stderr.isatty()) as bar:
            task = bar.add_task("", total=max_states)

            def progress(n, steps, depth):
                bar.update(task, completed=n, description=f"{n} states, {steps} steps, depth {depth}")

            ex = Explorer(u, rules=rules, properties=props, symmetry=not no_symmetry,
                          abstraction=not no_abstraction, max_states=max_states, max_seconds=max_seconds,
                          max_cpu_seconds=max_cpu_seconds, prune_valid=not no_prune, progress=progress,
                          guarded=guarded, cache=None if no_cache else ResultCache(cache_dir))
            res = ex.run()
    except UniverseError as e:
        raise click.UsageError(str(e)) from None
    peak = tracemalloc.get_traced_memory()[1] if trace_memory else 0
    if trace_memory:
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    unexpected = []
    files = {}
    for pid, v in sorted(res.violations.items()):
        path = Path(out_dir) / f"{pid}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        from tokenproof.trace import dump_trace

        dump_trace(ex.trace_of(v), path)
        v.trace_file = str(path)
        files[pid] = str(path)
        if not v.expected:
            unexpected.append(pid)
    report = {"universe": u.describe(), "mutant": mutant, "states": res.states, "edges": res.edges,
              "steps": res.steps, "self_loops": res.self_loops, "depth": res.depth, "complete": res.complete,
              "seconds": round(res.seconds, 2), "cpu_seconds": round(res.cpu_seconds, 2),
              "setup_seconds": round(ex.setup_seconds, 2), "analysis_seconds": round(ex.analysis_seconds, 2),
              "analysis_cached": ex.analysis_cached, "analysis_source": ex.analysis_source,
              "transition_checks_skipped": ex.trans_checks_skipped, "key_memo_hits": ex.canon.memo_hits,
              "peak_python_bytes": peak, "max_rss_bytes": rss,
              "symmetry": not no_symmetry, "abstraction": not no_abstraction,
              "abstracted_fields": sorted(ex.dropped),
              "guarded_fields": {f: [list(x) for x in g] for f, g in sorted(ex.guards.items())},
              "guards_dropped_after_violation": ex.guards_dropped_after_violation,
              "incomplete_keys": res.incomplete_keys, "properties_checked": len(res.checked),
              "violations": {pid: {"depth": v.depth, "expected": v.expected, "trace": files[pid],
                                   "path": [f"{e['rule']} by {e['actor']} -> {e['errno']}" for e in v.path]}
                             for pid, v in sorted(res.violations.items())}}
    dead = [n for n, s in res.rule_stats.items() if s.ok == 0]
    if stats:
        report["rules"] = {n: {"edges": s.changed, "steps": s.applications, "ok": s.ok, "failed": s.failed,
                               "new_states": s.new_states, "disabled": s.disabled}
                           for n, s in res.rule_stats.items()}
        report["dead_rules"] = dead
        report["states_without_successor"] = res.deadlocks
        if res.graph is not None:
            report["out_degree_histogram"] = dict(sorted(Counter(d for _, d in res.graph.out_degree()).items()))
    if export and res.graph is not None:
        import networkx as nx

        nx.write_graphml(res.graph, export)
        report["graphml"] = export
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(f"universe: {report['universe']}" + (f"  mutant: {mutant}" if mutant else ""))
        click.echo(f"states {res.states}  edges {res.edges}  steps {res.steps} (unchanged {res.self_loops})  "
                   f"depth {res.depth}  {'complete' if res.complete else 'INCOMPLETE (bound reached)'}")
        mem = f"peak memory {peak / 2**20:.1f} MiB (python), " if trace_memory else ""
        click.echo(f"time {res.seconds:.2f}s, CPU {res.cpu_seconds:.2f}s (setup {ex.setup_seconds:.1f}s, "
                   f"analysis {ex.analysis_source} {ex.analysis_seconds:.1f}s)  {mem}"
                   f"max RSS {rss / 2**20:.0f} MiB  symmetry {'on' if not no_symmetry else 'off'}")
        click.echo(f"transition checks proved valid and skipped: {ex.trans_checks_skipped} (property, rule) pairs"
                   f"{'' if not no_prune else ' (--no-prune)'}")
        click.echo(f"abstraction: {', '.join(sorted(ex.dropped)) + ' left out of the state key' if ex.dropped else 'off' if no_abstraction else 'nothing droppable'}")
        if ex.guards or ex.guards_dropped_after_violation:
            again = " (an assumed invariant was violated: explored again without them)"
            click.echo(f"guarded resets: {', '.join(sorted(ex.guards)) or 'none'}"
                       f"{again if ex.guards_dropped_after_violation else ''}")
        for pid, v in sorted(res.violations.items()):
            tag = "expected" if v.expected else "VIOLATED"
            click.echo(f"{tag}: {pid} after {v.depth} step(s) -> {files[pid]}")
            for i, e in enumerate(v.path):
                click.echo(f"    [{i}] {e['actor'] if e['actor'] is not None else 'kernel'}: {e['rule']}"
                           f"({', '.join(f'{k}={x}' for k, x in sorted(e['args'].items()))}) -> errno {e['errno']}")
        if not res.violations:
            click.echo(f"no violation of {len(res.checked)} properties")
        if stats:
            click.echo("rule                                 steps      ok  failed  edges  new")
            for n, s in res.rule_stats.items():
                click.echo(f"{n:36} {s.applications:6} {s.ok:7} {s.failed:7} {s.changed:6} {s.new_states:4}")
            click.echo(f"dead rules (never succeed): {', '.join(dead) or 'none'}")
            click.echo(f"states without successor: {len(res.deadlocks)} {res.deadlocks[:20]}")
            if "out_degree_histogram" in report:
                click.echo(f"out-degree histogram: {report['out_degree_histogram']}")
        if export:
            click.echo(f"graph written to {export}")
    sys.exit(1 if unexpected else 0)
