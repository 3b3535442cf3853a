"""Readable security descriptors for AccessCheck queries (§3): JSON and an SDDL-like string.

JSON::

    {"owner": "S-1-5-18",
     "dacl": [{"type": "allow" | "deny", "sid": SID, "mask": RIGHTS, "flags": ["INHERIT_ONLY"]}] | null,
     "label": {"level": "Medium", "policy": ["NO_WRITE_UP"]},          # optional
     "labels": [{"level": ..., "policy": [...], "flags": [...]}]}      # optional, SACL order

``null`` (the whole document) is a null SD; a missing or null owner is an SD
without owner (both rejected by AccessCheck, §10.10 step 2).  ``"dacl": null``
is a NULL DACL (no SE_DACL_PRESENT); ``[]`` an empty DACL.

SDDL-like::

    O:S-1-5-18D:(A;;GA;;;S-1-5-32-544)(D;;WD;;;WD)S:(ML;;NW;;;LW)

``O:`` owner, ``D:`` DACL (``D:NO_ACCESS_CONTROL`` is a NULL DACL), ``S:``
mandatory labels.  ACE: ``(type;flags;rights;;;sid)`` with type ``A``/``D``
(``ML`` in ``S:``), flags ``IO`` (INHERIT_ONLY; other inheritance flags are
accepted and ignored), rights as alias letters (``GA GR GW GX RC SD WD WO``),
right names joined by ``|``, or a hex number; SIDs as ``S-1-...`` or an alias
(``SY BA BU WD AU AN OW PS IU``, ``LW ME HI SI`` and the world's names).
Label policy: ``NR`` / ``NW`` / ``NX`` (NO_READ_UP / NO_WRITE_UP / NO_EXECUTE_UP).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from model import domain as D
from model.access import ACE, FILE_RIGHT_NAMES, SD, Label
from model.world import SpecError, parse_integrity, valid_sid

SDDL_SIDS = {
    "SY": D.SID_SYSTEM, "BA": D.SID_ADMINISTRATORS, "BU": D.SID_USERS, "WD": D.SID_EVERYONE,
    "AU": D.SID_AUTHENTICATED_USERS, "AN": D.SID_ANONYMOUS, "OW": D.SID_OWNER_RIGHTS,
    "PS": D.SID_PRINCIPAL_SELF, "IU": D.SID_INTERACTIVE, "RC": D.SID_RESTRICTED_CODE,
    "LS": D.SID_LOCAL_SERVICE, "NS": D.SID_NETWORK_SERVICE, "AC": D.SID_ALL_APP_PACKAGES,
}
LABEL_SIDS = {"UT": 0, "LW": 4096, "ME": 8192, "MI": 8192, "HI": 12288, "SI": 16384}
SDDL_RIGHTS = {
    "GA": int(D.GENERIC_ALL), "GR": int(D.GENERIC_READ), "GW": int(D.GENERIC_WRITE), "GX": int(D.GENERIC_EXECUTE),
    "RC": int(D.READ_CONTROL), "SD": int(D.DELETE), "WD": int(D.WRITE_DAC), "WO": int(D.WRITE_OWNER),
    "AS": int(D.ACCESS_SYSTEM_SECURITY), "MA": int(D.MAXIMUM_ALLOWED),
}
LABEL_POLICY = {"NR": 0x1, "NW": 0x2, "NX": 0x4}
POLICY_NAMES = {"NO_READ_UP": 0x1, "NO_WRITE_UP": 0x2, "NO_EXECUTE_UP": 0x4}
INHERIT_FLAGS = {"OI", "CI", "NP", "ID", "SA", "FA"}


def parse_rights_text(v: Any, where: str) -> int:
    """Rights: a number, a hex string, a name (``A|B``), a list of names, or SDDL letters (``GAWD``)."""
    if isinstance(v, bool):
        raise SpecError(f"{where}: expected access rights, got {v!r}")
    if isinstance(v, int):
        if 0 <= v < 2**32:
            return v
        raise SpecError(f"{where}: access mask {v} is out of range (0..0xFFFFFFFF)")
    if isinstance(v, str) and re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", v.strip()):
        return parse_rights_text(int(v.strip(), 0), where)
    names = v if isinstance(v, list) else v.split("|") if isinstance(v, str) else None
    if names is None:
        raise SpecError(f"{where}: expected a right name, a list of names or a number, got {v!r}")
    out = 0
    for n in names:
        n = n.strip() if isinstance(n, str) else n
        if not isinstance(n, str) or not n:
            raise SpecError(f"{where}: empty or non-text right {n!r}")
        if n in D.RIGHT_NAMES:
            out |= int(D.RIGHT_NAMES[n])
        elif n in FILE_RIGHT_NAMES:
            out |= FILE_RIGHT_NAMES[n]
        elif len(n) % 2 == 0 and all(n[i:i + 2] in SDDL_RIGHTS for i in range(0, len(n), 2)):
            for i in range(0, len(n), 2):
                out |= SDDL_RIGHTS[n[i:i + 2]]
        else:
            raise SpecError(f"{where}: unknown access right {n!r} (a right name such as READ_CONTROL, "
                            f"SDDL letters {'/'.join(SDDL_RIGHTS)} or a number)")
    return out


def _resolve(resolve_sid: Callable[[Any, str], str] | None, v: Any, where: str) -> str:
    if isinstance(v, str) and v in SDDL_SIDS:
        return SDDL_SIDS[v]
    if resolve_sid is not None:
        return resolve_sid(v, where)
    if isinstance(v, str) and (valid_sid(v) or v in D.SID_ALIASES):
        return D.SID_ALIASES.get(v, v)
    raise SpecError(f"{where}: expected a SID (S-1-...) or an alias ({', '.join(SDDL_SIDS)}), got {v!r}")


def _label_from_json(v: Any, where: str) -> Label:
    if not isinstance(v, dict) or "level" not in v:
        raise SpecError(f"{where}: expected {{\"level\": ..., \"policy\": [...], \"flags\": [...]}}")
    unknown = set(v) - {"level", "policy", "flags"}
    if unknown:
        raise SpecError(f"{where}: unknown keys {sorted(unknown)} (known: level, policy, flags)")
    level = parse_integrity(v["level"], f"{where}.level")
    pol = v.get("policy", ["NO_WRITE_UP"])
    if not isinstance(pol, list) or any(p not in POLICY_NAMES for p in pol):
        raise SpecError(f"{where}.policy: expected a list of {', '.join(POLICY_NAMES)}, got {pol!r}")
    policy = sum(POLICY_NAMES[p] for p in set(pol))
    return Label(True, _inherit_only(v.get("flags", []), f"{where}.flags"), D.BV(level, D.IL_W), D.BV(policy, 3))


def _inherit_only(flags: Any, where: str) -> bool:
    if not isinstance(flags, list) or any(f not in ("INHERIT_ONLY", "OBJECT_INHERIT", "CONTAINER_INHERIT",
                                                    "NO_PROPAGATE_INHERIT", "INHERITED") for f in flags):
        raise SpecError(f"{where}: expected a list of ACE flags (INHERIT_ONLY, OBJECT_INHERIT, CONTAINER_INHERIT, "
                        f"NO_PROPAGATE_INHERIT, INHERITED), got {flags!r}")
    return "INHERIT_ONLY" in flags


def sd_from_json(doc: Any, where: str = "sd", resolve_sid: Callable[[Any, str], str] | None = None) -> SD:
    """An SD from its JSON form (see the module docstring)."""
    if doc is None:
        return SD(D.SID_NULL, False, [], valid=False)
    if isinstance(doc, str):
        return sd_from_sddl(doc, where, resolve_sid)
    if not isinstance(doc, dict):
        raise SpecError(f"{where}: an SD is an object {{owner, dacl, label}}, an SDDL string or null, "
                        f"got {type(doc).__name__}")
    unknown = set(doc) - {"owner", "dacl", "label", "labels", "group", "description"}
    if unknown:
        raise SpecError(f"{where}: unknown SD keys {sorted(unknown)} (known: owner, dacl, label, labels)")
    owner = doc.get("owner")
    owner_sid = D.SID_NULL if owner is None else _resolve(resolve_sid, owner, f"{where}.owner")
    dacl = doc.get("dacl", None) if "dacl" in doc else []
    aces: list[ACE] = []
    if dacl is not None:
        if not isinstance(dacl, list):
            raise SpecError(f"{where}.dacl: expected a list of ACEs or null (a NULL DACL), got {dacl!r}")
        for i, a in enumerate(dacl):
            w = f"{where}.dacl[{i}]"
            if not isinstance(a, dict):
                raise SpecError(f"{w}: expected {{\"type\": \"allow\"|\"deny\", \"sid\": ..., \"mask\": ...}}")
            unknown = set(a) - {"type", "sid", "mask", "flags"}
            if unknown:
                raise SpecError(f"{w}: unknown keys {sorted(unknown)} (known: type, sid, mask, flags)")
            if a.get("type") not in ("allow", "deny"):
                raise SpecError(f"{w}.type: expected \"allow\" or \"deny\", got {a.get('type')!r}")
            for k in ("sid", "mask"):
                if k not in a:
                    raise SpecError(f"{w}: missing \"{k}\"")
            aces.append(ACE(True, a["type"] == "allow", _inherit_only(a.get("flags", []), f"{w}.flags"),
                            _resolve(resolve_sid, a["sid"], f"{w}.sid"),
                            D.mask(parse_rights_text(a["mask"], f"{w}.mask"))))
    labels = []
    if "label" in doc and doc["label"] is not None:
        labels.append(_label_from_json(doc["label"], f"{where}.label"))
    for i, lab in enumerate(doc.get("labels") or []):
        labels.append(_label_from_json(lab, f"{where}.labels[{i}]"))
    return SD(owner_sid, dacl is not None, aces, owner_present=owner is not None, labels=labels)


_SECTION = re.compile(r"([ODGS]):")


def sd_from_sddl(text: str, where: str = "sd", resolve_sid: Callable[[Any, str], str] | None = None) -> SD:
    """An SD from an SDDL-like string (see the module docstring); errors name the offending part."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{where}: empty SDDL string")
    s = text.strip()
    cuts, depth = [], 0
    for i, ch in enumerate(s):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and _SECTION.match(s, i):
            cuts.append(i)
    if not cuts or cuts[0] != 0:
        raise SpecError(f"{where}: SDDL must start with O:, G:, D: or S:, got {s!r}")
    parts: dict[str, str] = {}
    for a, b in zip(cuts, cuts[1:] + [len(s)]):
        key = s[a]
        if key in parts:
            raise SpecError(f"{where}: SDDL: section {key}: appears twice")
        parts[key] = s[a + 2:b]
    owner_txt = parts.get("O")
    owner = D.SID_NULL if owner_txt is None else _resolve(resolve_sid, owner_txt, f"{where}: SDDL owner O:")
    aces: list[ACE] = []
    dacl_present = True
    d = parts.get("D", "")
    if d.startswith("NO_ACCESS_CONTROL"):
        dacl_present = False
        d = d[len("NO_ACCESS_CONTROL"):]
    for i, body in enumerate(_aces(d, f"{where}: SDDL D:")):
        w = f"{where}: SDDL D: ACE #{i} ({body})"
        typ, flags, rights, sid = _fields(body, w)
        if typ not in ("A", "D"):
            raise SpecError(f"{w}: ACE type must be A (allow) or D (deny), got {typ!r}")
        aces.append(ACE(True, typ == "A", _sddl_flags(flags, w), _resolve(resolve_sid, sid, f"{w} SID"),
                        D.mask(parse_rights_text(rights, f"{w} rights"))))
    labels = []
    for i, body in enumerate(_aces(parts.get("S", ""), f"{where}: SDDL S:")):
        w = f"{where}: SDDL S: ACE #{i} ({body})"
        typ, flags, rights, sid = _fields(body, w)
        if typ != "ML":
            raise SpecError(f"{w}: only mandatory-label ACEs (ML) are modelled in S:, got {typ!r}")
        policy = 0
        for j in range(0, len(rights), 2):
            tok = rights[j:j + 2]
            if tok not in LABEL_POLICY:
                raise SpecError(f"{w}: label policy must be NR, NW and/or NX, got {rights!r}")
            policy |= LABEL_POLICY[tok]
        if sid in LABEL_SIDS:
            level = LABEL_SIDS[sid]
        else:
            m = re.fullmatch(r"S-1-16-(\d+)", sid)
            if not m or int(m.group(1)) >= 2**32:
                raise SpecError(f"{w}: a label SID must be S-1-16-X with one sub-authority or one of "
                                f"{', '.join(LABEL_SIDS)} (§10.3, MIC-13/14), got {sid!r}")
            level = int(m.group(1))
        labels.append(Label(True, _sddl_flags(flags, w), D.BV(level, D.IL_W), D.BV(policy, 3)))
    return SD(owner, dacl_present, aces, owner_present=owner_txt is not None, labels=labels)


def _aces(text: str, where: str) -> list[str]:
    t = text.strip()
    # leading control flags like P, AI, AR are accepted and ignored
    t = re.sub(r"^(P|AI|AR)+", "", t)
    out, pos = [], 0
    while pos < len(t):
        if t[pos] != "(":
            raise SpecError(f"{where}: expected '(' at {t[pos:]!r}")
        end = t.find(")", pos)
        if end < 0:
            raise SpecError(f"{where}: unterminated ACE {t[pos:]!r} (missing ')')")
        out.append(t[pos + 1:end])
        pos = end + 1
    return out


def _fields(body: str, where: str) -> tuple[str, str, str, str]:
    f = body.split(";")
    if len(f) != 6:
        raise SpecError(f"{where}: an ACE has 6 fields type;flags;rights;object;inherit-object;sid, got {len(f)}")
    if f[3] or f[4]:
        raise SpecError(f"{where}: object ACEs (object-type GUIDs) are out of model")
    return f[0].strip(), f[1].strip(), f[2].strip(), f[5].strip()


def _sddl_flags(flags: str, where: str) -> bool:
    toks = [flags[i:i + 2] for i in range(0, len(flags), 2)]
    bad = [t for t in toks if t != "IO" and t not in INHERIT_FLAGS]
    if bad or len(flags) % 2:
        raise SpecError(f"{where}: unknown ACE flags {flags!r} (IO, OI, CI, NP, ID)")
    return "IO" in toks
