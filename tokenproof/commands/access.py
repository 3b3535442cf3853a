"""``tokenproof access TOKEN.json SD.json --desired RIGHTS``: one AccessCheck, explained."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

HELP = """Evaluate one AccessCheck (§10.10) of TOKEN against SD and explain each bit.

\b
TOKEN is a token spec (JSON, model/world.py token_from_spec: user, groups,
privileges, integrity, policy, type, level, session (default system),
restricted_sids, write_restricted, user_deny_only, confinement).  Names such
as alice, bob, Everyone, Administrators resolve to SIDs.
SD is a JSON file {"owner", "dacl": [{"type", "sid", "mask", "flags"}] | null,
"label": {"level", "policy"}}, a file holding an SDDL-like string, or the
SDDL string itself (O:SYD:(A;;GA;;;BA)(D;;WD;;;WD)S:(ML;;NW;;;LW)).

\b
For each decided bit the output names the stage or ACE that decided it
(privilege, MIC, owner implicit rights, ACE #k, SeTakeOwnershipPrivilege,
the restricted or confinement pass, a gate), then the final granted mask.

\b
Exit codes: 0 allowed; 1 denied; 2 bad input.
"""


def _fail(msg: str) -> None:
    click.echo(click.style("error: ", fg="red", bold=True) + msg, err=True)
    sys.exit(2)


def _load_json(path: str, what: str) -> Any:
    p = Path(path)
    if not p.exists():
        _fail(f"{what} file {path}: not found")
    text = p.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        return _NotJson(text, f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})")


class _NotJson:
    def __init__(self, text: str, why: str):
        self.text, self.why = text, why


def evaluate(token_path: str, sd_arg: str, desired: str, mapping_name: str, intent_names: str | None,
             self_sid: str | None) -> dict[str, Any]:
    """Parse the inputs and run ``explain_access``; raises SpecError on bad input."""
    from model import access as A
    from model import domain as D
    from model.scenarios import standard
    from model.sddl import parse_rights_text, sd_from_json, sd_from_sddl
    from model.world import SpecError

    w = standard()
    tok_doc = _load_json(token_path, "TOKEN")
    if isinstance(tok_doc, _NotJson):
        raise SpecError(f"TOKEN {tok_doc.why}")
    tok = w.add_token("subject", tok_doc, where=f"{token_path}")

    def resolve(v: Any, where: str) -> str:
        return w.resolve_sid(v, where)

    if Path(sd_arg).exists():
        sd_doc = _load_json(sd_arg, "SD")
        if isinstance(sd_doc, _NotJson):
            text = sd_doc.text.strip()
            if not text[:2] in ("O:", "D:", "S:", "G:"):
                raise SpecError(f"SD {sd_doc.why}; nor is it an SDDL string (O:..., D:...)")
            sd = sd_from_sddl(text, sd_arg, resolve)
        else:
            sd = sd_from_json(sd_doc, sd_arg, resolve)
    elif sd_arg.strip()[:2] in ("O:", "D:", "S:", "G:"):
        sd = sd_from_sddl(sd_arg, "SD (SDDL argument)", resolve)
    else:
        raise SpecError(f"SD {sd_arg}: not found (and not an SDDL string starting with O:, D: or S:)")

    mask = parse_rights_text(desired, "--desired")
    if mapping_name not in A.MAPPINGS:
        raise SpecError(f"--mapping: expected one of {', '.join(A.MAPPINGS)}, got {mapping_name!r}")
    mapping = A.MAPPINGS[mapping_name]
    intent = 0
    for n in (intent_names or "").split(","):
        n = n.strip().lower()
        if not n:
            continue
        if n not in ("backup", "restore"):
            raise SpecError(f"--intent: expected backup and/or restore (comma-separated), got {n!r}")
        intent |= A.BACKUP_INTENT if n == "backup" else A.RESTORE_INTENT
    ss = None if self_sid is None else resolve(self_sid, "--self-sid")
    dec, bits = A.explain_access(w.state, tok, sd, D.mask(mask), mapping, intent, ss, sid_label=w.sid_label)
    return {
        "desired": mask, "mapped_desired": int(dec.mapped_desired), "maximum_allowed": bool(dec.max_allowed),
        "granted": int(dec.granted), "allowed": bool(dec.allowed), "error": bool(dec.error),
        "mapping": mapping_name,
        "bits": [{"bit": b.bit, "name": b.name, "granted": b.granted, "by": b.by} for b in bits],
    }


@click.command("access", help=HELP)
@click.argument("token", metavar="TOKEN.json")
@click.argument("sd", metavar="SD.json|SDDL")
@click.option("--desired", required=True, help="Rights: names (A|B), SDDL letters (GRWD) or a number.")
@click.option("--mapping", "mapping_name", default="token", show_default=True,
              help="GenericMapping: token, process or file.")
@click.option("--intent", default=None, help="Privilege intent: backup, restore or backup,restore.")
@click.option("--self-sid", default=None, help="The object's principal SID for PRINCIPAL_SELF (S-1-5-10).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(token, sd, desired, mapping_name, intent, self_sid, fmt):
    from model.world import SpecError

    try:
        r = evaluate(token, sd, desired, mapping_name, intent, self_sid)
    except SpecError as e:
        _fail(str(e))
        return
    if fmt == "json":
        click.echo(json.dumps(r, indent=2))
    else:
        head = f"desired {r['desired']:#010x} -> mapped {r['mapped_desired']:#010x} ({r['mapping']} mapping)"
        if r["maximum_allowed"]:
            head += " + MAXIMUM_ALLOWED"
        click.echo(head)
        for b in r["bits"]:
            mark = click.style("granted", fg="green") if b["granted"] else click.style("denied ", fg="red")
            click.echo(f"  {b['name']:<28} {mark}  {b['by']}")
        verdict = click.style("ALLOWED", fg="green", bold=True) if r["allowed"] else \
            click.style("DENIED", fg="red", bold=True)
        click.echo(f"granted {r['granted']:#010x}  {verdict}" + ("  (invalid SD)" if r["error"] else ""))
    sys.exit(0 if r["allowed"] else 1)
