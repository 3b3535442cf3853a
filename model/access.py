"""The AccessCheck pipeline (§10.10), in the value layer.

Implemented stages: LogonSession-dead gate (step 0), Identification gate
(step 1), generic mapping and MAXIMUM_ALLOWED (step 3), privilege grants for
ACCESS_SYSTEM_SECURITY / backup / restore with intent (steps 4-5), MIC from the
SD's label or the Medium NO_WRITE_UP default (step 6, §10.3), the OWNER RIGHTS
virtual group (step 7), the DACL walk with owner implicit rights and OWNER
RIGHTS suppression (step 9, §10.2), SeTakeOwnershipPrivilege (step 10), the
restricted pass (step 11, §10.4) and the confinement pass (step 12, §10.6).
Out of model (DECISIONS.md): conditional ACEs, CAAP, object-type lists,
auditing, PIP, PRINCIPAL_SELF.

SDs are fixed-shape values (``SD``): an owner, a DACL of ``ACE_SLOTS`` entries
(each may be absent), and an optional mandatory label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from model import domain as D
from model.state import State
from model.values import and_, any_, bit_of, clear, eq, has_any, ite, not_, or_, uge


@dataclass
class ACE:
    present: Any
    allow: Any
    inherit_only: Any
    sid: Any
    mask: Any


@dataclass
class SD:
    owner: Any
    dacl_present: Any
    aces: list[ACE]
    has_label: Any = False
    label_level: Any = D.IL_MEDIUM
    label_policy: Any = D.LABEL_NO_WRITE_UP


@dataclass
class Decision:
    """AccessCheck's answer: the granted mask and whether the request is satisfied."""

    granted: Any
    allowed: Any
    mapped_desired: Any
    max_allowed: Any
    privilege_granted: Any = 0
    trace: dict[str, Any] = field(default_factory=dict)


def absent_ace(s: State) -> ACE:
    return ACE(False, True, False, s.sid(D.SID_NULL), D.mask(0))


def read_sd(s: State, prefix: str, obj: Any) -> SD:
    """The SD stored in fields ``{prefix}_*`` of ``obj`` (``proc_sd`` or ``token_sd``)."""
    v = lambda name: s.view(f"{prefix}_{name}")[obj]  # noqa: E731
    aces = [ACE(v(f"ace{i}_present"), v(f"ace{i}_allow"), v(f"ace{i}_inherit_only"),
                v(f"ace{i}_sid"), v(f"ace{i}_mask")) for i in range(D.ACE_SLOTS)]
    return SD(v("owner"), v("dacl_present"), aces, v("has_label"), v("label_level"), v("label_policy"))


def sd_values(prefix: str, sd: SD) -> dict[str, Any]:
    """Field values that store ``sd`` under ``prefix`` (for ``Step.set_many``)."""
    out = {f"{prefix}_owner": sd.owner, f"{prefix}_dacl_present": sd.dacl_present,
           f"{prefix}_has_label": sd.has_label, f"{prefix}_label_level": sd.label_level,
           f"{prefix}_label_policy": sd.label_policy}
    assert len(sd.aces) == D.ACE_SLOTS
    for i, a in enumerate(sd.aces):
        out.update({f"{prefix}_ace{i}_present": a.present, f"{prefix}_ace{i}_allow": a.allow,
                    f"{prefix}_ace{i}_inherit_only": a.inherit_only, f"{prefix}_ace{i}_sid": a.sid,
                    f"{prefix}_ace{i}_mask": a.mask})
    return out


def map_generic(m: Any, mapping: D.GenericMapping) -> Any:
    """MapGenericBits (§10.10)."""
    for gbit, target in ((D.GENERIC_READ, mapping.read), (D.GENERIC_WRITE, mapping.write),
                         (D.GENERIC_EXECUTE, mapping.execute), (D.GENERIC_ALL, mapping.all)):
        m = ite(has_any(m, gbit), clear(m, gbit) | target, m)
    return m


# ------------------------------------------------------------------ SID matching
def user_matches(s: State, tok: Any, sid: Any, for_allow: bool) -> Any:
    hit = eq(sid, s.token_user[tok])
    # ``for_allow`` may be a model value (an ACE's type read from a state): no Python ``if``
    return ite(for_allow, and_(hit, not_(s.token_user_deny_only[tok])), hit)


def group_matches(s: State, tok: Any, sid: Any, for_allow: bool) -> Any:
    """SidMatchesToken's group part (§10.2): enabled groups, deny-only only for deny ACEs."""
    hits = []
    for i in range(D.GROUP_SLOTS):
        present = bit_of(s.token_groups[tok], i)
        enabled = bit_of(s.token_g_enabled[tok], i)
        deny_only = bit_of(s.token_g_deny_only[tok], i)
        usable = ite(for_allow, and_(enabled, not_(deny_only)), or_(enabled, deny_only))
        hits.append(and_(present, usable, eq(sid, s.group_sid(tok, i))))
    return any_(hits)


def sid_matches_token(s: State, tok: Any, sid: Any, for_allow: bool) -> Any:
    """SidMatchesToken (§10.10 helper functions)."""
    return or_(user_matches(s, tok, sid, for_allow), group_matches(s, tok, sid, for_allow))


def in_restricting_sids(s: State, tok: Any, sid: Any) -> Any:
    """SidInRestrictingSids (§10.4): presence-based."""
    return any_(and_(bit_of(s.token_rsids[tok], i), eq(sid, s.rsid(tok, i))) for i in range(D.RSID_SLOTS))


def in_confinement_sids(s: State, tok: Any, sid: Any) -> Any:
    """SidInConfinementSids (§10.6): the confinement SID and capabilities, presence-based."""
    caps = [and_(bit_of(s.token_caps[tok], i), eq(sid, s.cap(tok, i))) for i in range(D.CAP_SLOTS)]
    return or_(eq(sid, s.token_conf_sid[tok]), *caps)


# ------------------------------------------------------------------ DACL walk
def evaluate_dacl(s: State, sd: SD, matches: Callable[[Any, bool], Any], owner_is_member: Any,
                  mapping: D.GenericMapping, decided: Any, granted: Any,
                  skip_owner_implicit: bool) -> tuple[Any, Any]:
    """EvaluateDACL (§10.2): owner implicit rights, then first-writer-wins over the ACEs."""
    owner_rights = s.sid(D.SID_OWNER_RIGHTS)
    valid = mapping.all
    null_bits = clear(valid, decided)
    null_granted, null_decided = granted | null_bits, decided | valid

    suppressed = any_(and_(a.present, not_(a.inherit_only), eq(a.sid, owner_rights)) for a in sd.aces)
    if not skip_owner_implicit:
        implicit = and_(owner_is_member, not_(suppressed))
        bits = clear(D.READ_CONTROL | D.WRITE_DAC, decided)
        granted = ite(implicit, granted | bits, granted)
        decided = ite(implicit, decided | bits, decided)
    for a in sd.aces:
        sid_hit = or_(matches(a.sid, a.allow), and_(eq(a.sid, owner_rights), owner_is_member))
        active = and_(a.present, not_(a.inherit_only), sid_hit)
        bits = clear(map_generic(a.mask, mapping), decided)
        granted = ite(and_(active, a.allow), granted | bits, granted)
        decided = ite(active, decided | bits, decided)
    return ite(sd.dacl_present, decided, null_decided), ite(sd.dacl_present, granted, null_granted)


def enforce_mic(s: State, tok: Any, sd: SD, mapping: D.GenericMapping, decided: Any) -> tuple[Any, Any]:
    """EnforceMIC (§10.3): returns (decided, mandatory_decided)."""
    level = ite(sd.has_label, sd.label_level, D.IL_MEDIUM)
    policy = ite(sd.has_label, sd.label_policy, D.LABEL_NO_WRITE_UP)
    applies = and_(has_any(s.token_policy[tok], D.POLICY_NO_WRITE_UP), not_(uge(s.token_integrity[tok], level)))
    allowed = mapping.read | mapping.execute | D.READ_CONTROL | D.SYNCHRONIZE
    allowed = ite(has_any(policy, D.LABEL_NO_READ_UP), clear(allowed, mapping.read), allowed)
    allowed = ite(has_any(policy, D.LABEL_NO_WRITE_UP), clear(allowed, mapping.write), allowed)
    allowed = ite(has_any(policy, D.LABEL_NO_EXECUTE_UP), clear(allowed, mapping.execute), allowed)
    relabel = has_any(s.token_privs_enabled[tok], D.SE_RELABEL)
    allowed = ite(relabel, allowed | D.WRITE_OWNER, allowed)
    blocked = ite(applies, clear(mapping.all, allowed), D.mask(0))
    return decided | blocked, blocked


def access_check(s: State, tok: Any, sd: SD, desired: Any, mapping: D.GenericMapping,
                 intent: Any = 0) -> Decision:
    """AccessCheck (§10.10) of token ``tok`` against ``sd`` for ``desired``."""
    zero = D.mask(0)
    sess = s.token_session[tok]
    dead = s.sess_dead[sess]
    identification = and_(not_(s.token_primary[tok]), eq(s.token_level[tok], D.IDENTIFICATION))

    desired = map_generic(desired, mapping)
    max_mode = has_any(desired, D.MAXIMUM_ALLOWED)
    desired = clear(desired, D.MAXIMUM_ALLOWED)

    privs = s.token_privs_enabled[tok]
    privs = ite(has_any(intent, 0x1), privs, clear(privs, D.SE_BACKUP))
    privs = ite(has_any(intent, 0x2), privs, clear(privs, D.SE_RESTORE))
    sec = ite(has_any(privs, D.SE_SECURITY), D.ACCESS_SYSTEM_SECURITY, zero)
    backup = ite(has_any(privs, D.SE_BACKUP), mapping.read, zero)
    restore = ite(has_any(privs, D.SE_RESTORE),
                  mapping.write | D.WRITE_DAC | D.WRITE_OWNER | D.DELETE | D.ACCESS_SYSTEM_SECURITY, zero)
    decided = D.ACCESS_SYSTEM_SECURITY | backup | restore
    granted = sec | backup | restore
    priv_granted = granted

    decided, mandatory = enforce_mic(s, tok, sd, mapping, decided)

    owner_member = sid_matches_token(s, tok, sd.owner, True)
    decided, granted = evaluate_dacl(s, sd, lambda sid, allow: sid_matches_token(s, tok, sid, allow),
                                     owner_member, mapping, decided, granted, False)

    take = and_(or_(has_any(desired, D.WRITE_OWNER), max_mode), has_any(privs, D.SE_TAKE_OWNERSHIP),
                not_(has_any(mandatory, D.WRITE_OWNER)), not_(has_any(granted, D.WRITE_OWNER)))
    granted = ite(take, granted | D.WRITE_OWNER, granted)
    priv_granted = ite(take, priv_granted | D.WRITE_OWNER, priv_granted)

    restricted = s.token_restricted[tok]
    r_owner = in_restricting_sids(s, tok, sd.owner)
    _, r_granted = evaluate_dacl(s, sd, lambda sid, allow: in_restricting_sids(s, tok, sid), r_owner,
                                 mapping, zero, zero, False)
    write_bits = mapping.write
    merged = ite(s.token_write_restricted[tok],
                 clear(granted, write_bits) | (granted & r_granted & write_bits),
                 granted & r_granted)
    granted = ite(restricted, merged | priv_granted, granted)

    confined = and_(s.token_confined[tok], not_(s.token_conf_exempt[tok]))
    c_owner = in_confinement_sids(s, tok, sd.owner)
    _, c_granted = evaluate_dacl(s, sd, lambda sid, allow: in_confinement_sids(s, tok, sid), c_owner,
                                 mapping, zero, zero, True)
    granted = ite(confined, granted & c_granted, granted)

    gate = or_(dead, identification)
    granted = ite(gate, zero, granted)
    allowed = and_(not_(gate), eq(granted & desired, desired))
    return Decision(granted, allowed, desired, max_mode, priv_granted,
                    {"dead_session": dead, "identification": identification})


def handle_mask(decision: Decision) -> Any:
    """The mask cached on a handle opened with this decision (DECISIONS.md §4.8)."""
    return ite(decision.max_allowed, decision.granted, decision.mapped_desired)
