"""Pictures of a replayed trace, rendered by graphviz ``dot``.

* ``sequence_dot`` / ``write_sequence_svg`` (``tokenproof replay --svg``): a
  sequence diagram: one lane per thread (top to bottom, one row per step),
  tokens as boxes in the row of the step that uses or creates them, arrows
  for impersonate, install, duplicate/restrict, fork/clone and handle
  opening/passing, each labelled with the rule and its errno.
* ``derivation_graph`` (a networkx ``DiGraph``) / ``write_graph_svg``
  (``--graph``): token → token edges for every token a step derives from
  another (duplicate, restrict, fork's copy, exec's NEW_PROCESS_MIN copy,
  linked clones, impersonation snapshots), and thread/process → token edges
  for what uses each token at the end (real, impersonating, primary).

Graphviz comes from Debian's packages (``apt-get install -y graphviz``);
without ``dot`` on PATH the writers raise ``NoRenderer``.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import networkx as nx

from model.rules.registry import RULES
from tokenproof.narrative import Replay, thread_desc, token_desc

# which token a rule derives from another: rule -> how the source is found
DERIVING = {"ioctl_duplicate", "ioctl_restrict", "ioctl_get_linked_token", "fork", "exec", "kacs_impersonate_peer",
            "kacs_open_peer_token", "socket_connect"}
VERB = {"ioctl_impersonate": "impersonate", "kacs_impersonate_peer": "impersonate peer", "ioctl_install": "install",
        "ioctl_duplicate": "duplicate", "ioctl_restrict": "restrict", "fork": "fork", "clone_thread": "clone",
        "kacs_open_self_token": "open", "kacs_open_process_token": "open", "kacs_open_thread_token": "open",
        "kacs_open_peer_token": "open peer", "kacs_create_token": "create", "exec": "exec",
        "ioctl_link_tokens": "link", "ioctl_get_linked_token": "get linked", "kacs_revert": "revert"}


class NoRenderer(RuntimeError):
    """graphviz's ``dot`` is not installed."""


def dot_available() -> bool:
    return shutil.which("dot") is not None


def render_svg(dot_text: str, path: str) -> None:
    exe = shutil.which("dot")
    if exe is None:
        raise NoRenderer("graphviz's dot is not on PATH: install it (apt-get install -y graphviz)")
    r = subprocess.run([exe, "-Tsvg", "-o", path], input=dot_text.encode(), capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"dot failed: {r.stderr.decode(errors='replace')}")


def _q(s: Any) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _actor_id(rep: Replay, sr: Any) -> int | None:
    if RULES[sr.rule].kernel:
        return None
    w = rep.world
    a = w.names["Thread"].get(sr.actor) if w is not None else None
    if a is None and "#" in sr.actor:
        a = int(sr.actor.split("#", 1)[1])
    return a


def _tokens_touched(rep: Replay, sr: Any, actor: int | None) -> tuple[list[int], list[int]]:
    """(tokens the step uses, tokens it creates)."""
    s = sr.before
    used: list[int] = []
    rule = RULES[sr.rule]
    for a in rule.args:
        if a.name not in sr.args or a.fresh:
            continue
        v = sr.args[a.name]
        if a.type.kind == "obj" and a.type.sort == "Token":
            used.append(int(v))
        elif a.type.kind == "obj" and a.type.sort == "Handle" and actor is not None:
            p = s.value("thread_proc", actor)
            if s.value("fd_open", (p, int(v))):
                used.append(s.value("fd_token", (p, int(v))))
    created = [c.obj for c in sr.changes if c.sort == "Token" and c.kind == "created"]
    if sr.rule in ("fork", "exec") and actor is not None:
        used.append(s.value("proc_primary", s.value("thread_proc", actor)))
    if sr.rule == "kacs_impersonate_peer" and actor is not None:
        sock = sr.args.get("socket")
        if sock is not None:
            used.append(s.value("sock_peer_token", int(sock)))
    return list(dict.fromkeys(used)), created


def sequence_dot(rep: Replay) -> str:
    world = rep.world
    assert world is not None, "the trace did not run"
    steps = rep.steps
    lanes: list[int] = []
    for sr in steps:
        a = _actor_id(rep, sr)
        if a is not None and a not in lanes:
            lanes.append(a)
        for c in sr.changes:
            if c.sort == "Thread" and c.kind == "created" and c.obj not in lanes:
                lanes.append(c.obj)
    L = ["digraph sequence {", "  rankdir=TB; newrank=true; node [fontname=\"Helvetica\", fontsize=10];",
         "  edge [fontname=\"Helvetica\", fontsize=9];",
         f"  labelloc=t; label={_q((rep.trace.description or 'trace')[:120] + ' [' + rep.target + ']')};"]
    s0 = steps[0].before if steps else rep.result.initial  # type: ignore[union-attr]
    for th in lanes:
        L.append(f"  lane{th}_h [shape=box, style=\"rounded,filled\", fillcolor=\"#dde8f5\", "
                 f"label={_q(thread_desc(world, s0, th) if th in s0.universe['Thread'] and s0.value('thread_alive', th) else world.name_of('Thread', th))}];")
    prev = {th: f"lane{th}_h" for th in lanes}
    vstep = rep.trace.violation.step if rep.trace.violation is not None else None
    for sr in steps:
        k = sr.index
        actor = _actor_id(rep, sr)
        row = []
        for th in lanes:
            nid = f"lane{th}_{k}"
            if th == actor:
                colour = "#f8d0d0" if k == vstep else "#fff6d5"
                L.append(f"  {nid} [shape=box, style=filled, fillcolor={_q(colour)}, "
                         f"label={_q(f'[{k}] {sr.rule} → {sr.errno_name}')}];")
            else:
                L.append(f"  {nid} [shape=point, width=0.05];")
            L.append(f"  {prev[th]} -> {nid} [arrowhead=none, style=dashed, color=gray];")
            prev[th] = nid
            row.append(nid)
        if actor is None:  # a kernel step: its own box
            nid = f"kernel_{k}"
            L.append(f"  {nid} [shape=box, style=filled, fillcolor=\"#e0e0e0\", "
                     f"label={_q(f'[{k}] kernel: {sr.rule} → {sr.errno_name}')}];")
            row.append(nid)
        used, created = _tokens_touched(rep, sr, actor)
        verb = VERB.get(sr.rule, sr.rule)
        src_node = f"lane{actor}_{k}" if actor is not None else f"kernel_{k}"
        for t in used:
            tn = f"tok{t}_{k}"
            L.append(f"  {tn} [shape=box, label={_q(token_desc(world, sr.before, t))}];")
            L.append(f"  {src_node} -> {tn} [label={_q(verb)}];")
            row.append(tn)
        for t in created:
            tn = f"new{t}_{k}"
            L.append(f"  {tn} [shape=box, style=\"filled,bold\", fillcolor=\"#e3f5dd\", "
                     f"label={_q('new ' + token_desc(world, sr.after if sr.after.value('token_alive', t) else sr.post, t))}];")
            if used and sr.rule in DERIVING:
                L.append(f"  tok{used[0]}_{k} -> {tn} [label={_q(verb)}, color=darkgreen];")
            else:
                L.append(f"  {src_node} -> {tn} [label={_q(verb)}, color=darkgreen];")
            row.append(tn)
        for c in sr.changes:
            if c.sort == "Thread" and c.kind == "created" and c.obj in lanes and c.obj != actor:
                L.append(f"  {src_node} -> lane{c.obj}_{k} [label={_q(verb)}, color=blue];")
        L.append("  { rank=same; " + "; ".join(row) + "; }")
    L.append("}")
    return "\n".join(L) + "\n"


def derivation_graph(rep: Replay) -> nx.DiGraph:
    """Token → token derivations across the trace, and thread/process → token uses at the end."""
    world = rep.world
    assert world is not None, "the trace did not run"
    g = nx.DiGraph()
    init = rep.steps[0].before if rep.steps else rep.result.initial  # type: ignore[union-attr]
    for t in init.alive("Token"):
        g.add_node(f"token:{t}", kind="token", label=token_desc(world, init, t))
    for sr in rep.steps:
        actor = _actor_id(rep, sr)
        used, created = _tokens_touched(rep, sr, actor)
        for t in created:
            st = sr.after if sr.after.value("token_alive", t) else sr.post
            g.add_node(f"token:{t}", kind="token", label=token_desc(world, st, t))
            srcs = used if sr.rule in DERIVING else []
            for u in srcs[:1]:
                g.add_node(f"token:{u}", kind="token", label=token_desc(world, sr.before, u))
                g.add_edge(f"token:{u}", f"token:{t}", label=f"[{sr.index}] {sr.rule}")
            if not srcs and actor is not None:
                g.add_node(f"thread:{actor}", kind="thread", label=f"thread {world.name_of('Thread', actor)}")
                g.add_edge(f"thread:{actor}", f"token:{t}", label=f"[{sr.index}] {sr.rule}")
    final = rep.steps[-1].after if rep.steps else init
    for th in final.alive("Thread"):
        real = final.value("thread_real", th)
        if f"token:{real}" in g:
            g.add_node(f"thread:{th}", kind="thread", label=f"thread {world.name_of('Thread', th)}")
            g.add_edge(f"thread:{th}", f"token:{real}", label="real")
        if final.value("thread_impersonating", th):
            imp = final.value("thread_imp_token", th)
            g.add_node(f"token:{imp}", kind="token", label=token_desc(world, final, imp))
            g.add_node(f"thread:{th}", kind="thread", label=f"thread {world.name_of('Thread', th)}")
            g.add_edge(f"thread:{th}", f"token:{imp}", label="impersonates")
    for p in final.alive("Process"):
        prim = final.value("proc_primary", p)
        if f"token:{prim}" in g:
            g.add_node(f"process:{p}", kind="process", label=f"process {world.name_of('Process', p)}")
            g.add_edge(f"process:{p}", f"token:{prim}", label="primary")
    return g


def graph_dot(g: nx.DiGraph, title: str = "") -> str:
    shape = {"token": "box", "thread": "ellipse", "process": "hexagon"}
    L = ["digraph derivation {", "  rankdir=LR; node [fontname=\"Helvetica\", fontsize=10];",
         "  edge [fontname=\"Helvetica\", fontsize=9];"]
    if title:
        L.append(f"  labelloc=t; label={_q(title[:120])};")
    ids = {n: f"n{i}" for i, n in enumerate(sorted(g.nodes))}
    for n in sorted(g.nodes):
        d = g.nodes[n]
        L.append(f"  {ids[n]} [shape={shape.get(d.get('kind'), 'box')}, label={_q(d.get('label', n))}];")
    for a, b in sorted(g.edges):
        L.append(f"  {ids[a]} -> {ids[b]} [label={_q(g.edges[a, b].get('label', ''))}];")
    L.append("}")
    return "\n".join(L) + "\n"


def write_sequence_svg(rep: Replay, path: str) -> None:
    render_svg(sequence_dot(rep), path)


def write_graph_svg(rep: Replay, path: str) -> None:
    render_svg(graph_dot(derivation_graph(rep), rep.trace.description), path)


__all__ = ["sequence_dot", "derivation_graph", "graph_dot", "write_sequence_svg", "write_graph_svg", "NoRenderer",
           "dot_available", "render_svg"]
