"""A self-contained HTML page for a ``tokenproof review`` report: inline CSS,
and for each counterexample an inline SVG sequence diagram drawn here (one
lifeline per actor, one arrow per step to the kernel, its result)."""

from __future__ import annotations

from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;margin:1em 0;width:100%}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.9em}
th{background:#f3f3f3}.proved{color:#17803d;font-weight:bold}.refuted{color:#c0262d;font-weight:bold}
.unknown{color:#a86b00;font-weight:bold}code{font-size:.85em;word-break:break-all}
.cex{margin:1em 0;padding:.5em 1em;border:1px solid #ddd;border-radius:6px;background:#fafafa}
svg{max-width:100%;height:auto}
"""


def _v(v: str) -> str:
    cls = v if v in ("proved", "refuted", "unknown") else ""
    return f'<span class="{cls}">{escape(v)}</span>'


def sequence_svg(steps: list[dict[str, Any]], title: str = "") -> str:
    """A sequence diagram: actors on the left, the kernel on the right; each
    step an arrow (the call) and a dashed return arrow (its result)."""
    actors: list[str] = []
    for s in steps:
        if s["actor"] not in actors:
            actors.append(s["actor"])
    lanes = actors + ["kernel"]
    col = 170
    width = max(600, col * len(lanes) + 60)
    top, row = 60, 58
    height = top + row * len(steps) + 40
    x = {a: 80 + i * col for i, a in enumerate(lanes)}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="sequence" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>',
           '<defs><marker id="arrow" markerWidth="10" markerHeight="7" refX="9" refY="3.5" orient="auto">'
           '<polygon points="0 0, 10 3.5, 0 7" fill="#333"/></marker></defs>']
    for a in lanes:
        out.append(f'<rect x="{x[a] - 60}" y="10" width="120" height="28" rx="4" fill="#e8eef9" stroke="#557"/>'
                   f'<text x="{x[a]}" y="29" text-anchor="middle" font-size="13">{escape(a)}</text>'
                   f'<line x1="{x[a]}" y1="38" x2="{x[a]}" y2="{height - 10}" stroke="#999" stroke-dasharray="4 3"/>')
    for i, s in enumerate(steps):
        y = top + i * row
        a, k = x[s["actor"]], x["kernel"]
        call = s.get("rule") or s["call"].split("(")[0]
        ok = s["errno"] == "OK"
        out.append(f'<line x1="{a}" y1="{y}" x2="{k - 4}" y2="{y}" stroke="#333" marker-end="url(#arrow)"/>'
                   f'<text x="{(a + k) / 2}" y="{y - 5}" text-anchor="middle" font-size="12">{i + 1}. {escape(call)}</text>'
                   f'<line x1="{k}" y1="{y + 22}" x2="{a + 4}" y2="{y + 22}" stroke="{"#17803d" if ok else "#c0262d"}" '
                   f'stroke-dasharray="5 3" marker-end="url(#arrow)"/>'
                   f'<text x="{(a + k) / 2}" y="{y + 18}" text-anchor="middle" font-size="11" '
                   f'fill="{"#17803d" if ok else "#c0262d"}">{escape(s["errno"])}</text>')
    out.append("</svg>")
    return "".join(out)


def render(rep: Any) -> str:
    h = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>tokenproof review: "
         f"{escape(rep.title)}</title><style>{CSS}</style></head><body>",
         f"<h1>tokenproof review: {escape(rep.title)}</h1><p>{escape(rep.description)}</p>",
         f"<p>Proposal <code>{escape(rep.proposal)}</code>; baseline {escape(rep.base)}; changed rules: "
         + (", ".join(f"<code>{escape(r)}</code>" for r in rep.changed) or "none") + "</p>",
         f"<p>Properties: {escape(rep.selection)}</p>",
         '<h2>Verdict changes</h2><table id="diff"><thead><tr><th>property</th><th>baseline</th><th>proposal</th>'
         "<th>detail</th></tr></thead><tbody>"]
    for c in rep.changes:
        h.append(f"<tr><td><code>{escape(c.prop)}</code></td><td>{_v(c.before)}</td><td>{_v(c.after)}</td>"
                 f"<td>{escape(c.detail)}</td></tr>")
    if not rep.changes:
        h.append('<tr><td colspan="4">no verdict changed</td></tr>')
    h.append("</tbody></table>")
    for c in rep.changes:
        if c.cex is None:
            continue
        h.append(f'<div class="cex"><h3>Counterexample to <code>{escape(c.prop)}</code></h3>'
                 f"<p><em>{escape(c.statement)}</em></p><p>{c.cex.depth} step(s) from the {escape(c.cex.scenario)} "
                 f"world, replayed on the concrete executor"
                 + (f"; trace <code>{escape(c.cex.file)}</code>" if c.cex.file else "") + "</p>")
        h.append(sequence_svg(c.cex.steps, f"counterexample to {c.prop}"))
        h.append("<ol>" + "".join(f"<li><b>{escape(s['actor'])}</b>: <code>{escape(s['call'])}</code> → "
                                  f"{escape(s['errno'])}" + ("<br><small>" + escape("; ".join(s["changes"][:6]))
                                                              + "</small>" if s["changes"] else "") + "</li>"
                                  for s in c.cex.steps) + "</ol></div>")
    h.append('<h2>New behaviours</h2><table id="behaviours"><thead><tr><th>rule</th><th>status</th><th>step</th>'
             "<th>baseline</th><th>proposal</th><th>differences</th></tr></thead><tbody>")
    for b in rep.behaviours:
        h.append(f"<tr><td><code>{escape(b.rule)}</code></td><td>{escape(b.status)}</td>"
                 f"<td>{('<code>' + escape(b.call) + '</code> by ' + escape(b.actor)) if b.call else escape(b.detail)}"
                 f"</td><td>{escape(b.base_errno)}</td><td>{escape(b.proposal_errno)}</td>"
                 f"<td>{'<br>'.join(escape(d) for d in b.differences[:8])}</td></tr>")
    h.append("</tbody></table><h2>Timing</h2><ul>"
             + "".join(f"<li>{escape(k)}: {v:.1f}s</li>" for k, v in rep.timing.items()) + "</ul>")
    for n in rep.notes:
        h.append(f"<p><small>{escape(n)}</small></p>")
    h.append("</body></html>")
    return "\n".join(h)


__all__ = ["render", "sequence_svg"]
