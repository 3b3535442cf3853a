"""The AccessCheck pipeline (§10.10), in the value layer.

One pipeline, ``access_check``, serves three purposes: the rules call it on
concrete and symbolic states, the relational proofs (tokenproof/relational.py)
call it on symbolic tokens and SDs with any number of ACEs, and
``explain_access`` re-runs it on concrete values with a tracing hook to say
which stage or which ACE decided each bit.

Stages (§10.10 step numbers):

0. LogonSession-dead gate (``session_dead_gate``);
1. Identification gate (``identification_gate``);
2. input validation: null SD, missing owner (``validate_sd``);
3. generic mapping with the caller's GenericMapping, MAXIMUM_ALLOWED (``map_generic``);
4. effective privileges: backup/restore only with the matching intent (``effective_privileges``);
5. privilege grants: ACCESS_SYSTEM_SECURITY, backup, restore (``privilege_grants``);
6. MIC from the first non-inherit-only label (``effective_label``, ``enforce_mic``);
7. virtual groups OWNER RIGHTS and PRINCIPAL_SELF (``enrich_token``);
9. owner implicit rights and the first-writer-wins DACL walk (``evaluate_dacl``);
10. SeTakeOwnershipPrivilege (``take_ownership``);
11. the restricted pass (``in_restricting_sids``, ``restricted_merge``);
12. the confinement pass (``in_confinement_sids``, ``confinement_merge``).

Out of model (DECISIONS.md §10): conditional ACEs, CAAP, object-type lists
(object ACEs, AccessCheckResultList), auditing and privilege-use marking, PIP,
restricted device groups.

Every stage is a module-level helper so that mutants (deliberately broken
pipelines, tokenproof/relational.py) are built by rebinding one helper in
``access_check``'s globals, never by copying the algorithm.

SDs: the state's stored SDs (``read_sd``/``sd_values``) have ``ACE_SLOTS``
entries; SDs built for an AccessCheck query may have any number of ACEs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from model import domain as D
from model.state import State
from model.values import and_, any_, bit_of, clear, eq, has_any, ite, not_, or_, uge

# Bits 21-23 and 26-27 are reserved: preserved in stored ACEs but ignored during
# evaluation (§3.3); MAXIMUM_ALLOWED must not appear in an ACE (§3.3), so an ACE
# carrying it is read without it.
RESERVED_BITS = D.mask(0x00E00000 | 0x0C000000)
IGNORED_ACE_BITS = RESERVED_BITS | D.MAXIMUM_ALLOWED
BACKUP_INTENT = 0x1
RESTORE_INTENT = 0x2

# A file-like GenericMapping (the Windows file object's), for examples and the CLI (§3.3).
FILE_READ_DATA, FILE_WRITE_DATA, FILE_APPEND_DATA = 0x0001, 0x0002, 0x0004
FILE_READ_EA, FILE_WRITE_EA, FILE_EXECUTE = 0x0008, 0x0010, 0x0020
FILE_DELETE_CHILD, FILE_READ_ATTRIBUTES, FILE_WRITE_ATTRIBUTES = 0x0040, 0x0080, 0x0100
FILE_MAPPING = D.GenericMapping(
    int(D.READ_CONTROL | D.SYNCHRONIZE) | FILE_READ_DATA | FILE_READ_ATTRIBUTES | FILE_READ_EA,
    int(D.READ_CONTROL | D.SYNCHRONIZE) | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | FILE_WRITE_EA
    | FILE_APPEND_DATA,
    int(D.READ_CONTROL | D.SYNCHRONIZE) | FILE_READ_ATTRIBUTES | FILE_EXECUTE,
    int(D.STANDARD_RIGHTS_REQUIRED | D.SYNCHRONIZE) | 0x1FF,
)
MAPPINGS: dict[str, D.GenericMapping] = {"token": D.TOKEN_MAPPING, "process": D.PROCESS_MAPPING,
                                         "file": FILE_MAPPING}
FILE_RIGHT_NAMES = {
    "FILE_READ_DATA": FILE_READ_DATA, "FILE_WRITE_DATA": FILE_WRITE_DATA,
    "FILE_APPEND_DATA": FILE_APPEND_DATA, "FILE_READ_EA": FILE_READ_EA, "FILE_WRITE_EA": FILE_WRITE_EA,
    "FILE_EXECUTE": FILE_EXECUTE, "FILE_DELETE_CHILD": FILE_DELETE_CHILD,
    "FILE_READ_ATTRIBUTES": FILE_READ_ATTRIBUTES, "FILE_WRITE_ATTRIBUTES": FILE_WRITE_ATTRIBUTES,
}


@dataclass
class ACE:
    """An ACCESS_ALLOWED or ACCESS_DENIED ACE (§3.4) of a DACL."""

    present: Any
    allow: Any
    inherit_only: Any
    sid: Any
    mask: Any


@dataclass
class Label:
    """A SYSTEM_MANDATORY_LABEL_ACE of the SACL (§3.4, §10.3)."""

    present: Any
    inherit_only: Any
    level: Any
    policy: Any


@dataclass
class SD:
    """A security descriptor as AccessCheck sees it (§3.1).

    ``valid`` false is a null SD; ``owner_present`` false an SD without owner
    (both rejected by input validation, §10.10 step 2).  The label is either
    the single ``has_label``/``label_level``/``label_policy`` triple (stored
    SDs) or, when ``labels`` is a list, the SACL's mandatory-label ACEs in
    order, of which the first non-inherit-only one applies (§10.3).
    """

    owner: Any
    dacl_present: Any
    aces: list[ACE]
    has_label: Any = False
    label_level: Any = D.IL_MEDIUM
    label_policy: Any = D.LABEL_NO_WRITE_UP
    valid: Any = True
    owner_present: Any = True
    labels: list[Label] | None = None


@dataclass
class Decision:
    """AccessCheck's answer: the granted mask and whether the request is satisfied.

    ``error`` is true when input validation rejected the SD (§10.10 step 2:
    ERROR_INVALID_PARAMETER / ERROR_INVALID_SECURITY_DESCR); the request is then
    not allowed and nothing is granted.  ``denied_by_gate`` is true when step 0
    or step 1 denied the request.
    """

    granted: Any
    allowed: Any
    mapped_desired: Any
    max_allowed: Any
    privilege_granted: Any = 0
    trace: dict[str, Any] = field(default_factory=dict)
    error: Any = False
    denied_by_gate: Any = False


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
    """MapGenericBits (§10.10 helper functions; §3.3 Generic mapping)."""
    for gbit, target in ((D.GENERIC_READ, mapping.read), (D.GENERIC_WRITE, mapping.write),
                         (D.GENERIC_EXECUTE, mapping.execute), (D.GENERIC_ALL, mapping.all)):
        m = ite(has_any(m, gbit), clear(m, gbit) | target, m)
    return m


def _emit(tracer: Callable[..., None] | None, event: str, **kw: Any) -> None:
    if tracer is not None:
        tracer(event, **kw)


# ------------------------------------------------------------------ steps 0-2: gates and validation
def session_dead_gate(s: State, tok: Any) -> Any:
    """Step 0 (§10.10): the token's LogonSession is marked dead."""
    return s.sess_dead[s.token_session[tok]]


def identification_gate(s: State, tok: Any) -> Any:
    """Step 1 (§10.10, §9.1): an impersonation token at Identification level.
    Anonymous-level tokens proceed through the full pipeline."""
    return and_(not_(s.token_primary[tok]), eq(s.token_level[tok], D.IDENTIFICATION))


def validate_sd(sd: SD) -> Any:
    """Step 2 (§10.10): a null SD (ERROR_INVALID_PARAMETER) or an SD without
    owner (ERROR_INVALID_SECURITY_DESCR) is rejected.  Malformed label SIDs
    (MIC-14) are rejected when the SD is parsed (model/sddl.py)."""
    return or_(not_(sd.valid), not_(sd.owner_present))


# ------------------------------------------------------------------ steps 4-5: privileges
def effective_privileges(s: State, tok: Any, intent: Any) -> Any:
    """Step 4 (§10.10, §7.1 Intent-gated privileges, PRIV-08): the enabled
    privileges, without SeBackupPrivilege / SeRestorePrivilege unless the
    caller passed BACKUP_INTENT / RESTORE_INTENT."""
    privs = s.token_privs_enabled[tok]
    privs = ite(has_any(intent, BACKUP_INTENT), privs, clear(privs, D.SE_BACKUP))
    privs = ite(has_any(intent, RESTORE_INTENT), privs, clear(privs, D.SE_RESTORE))
    return privs


def privilege_grants(privs: Any, mapping: D.GenericMapping) -> tuple[Any, Any, dict[str, Any]]:
    """Step 5 (§10.10, §7.1, PRIV-06): ACCESS_SYSTEM_SECURITY is always decided,
    and granted with SeSecurityPrivilege; SeBackupPrivilege grants the
    read-mapped bits; SeRestorePrivilege the write-mapped bits plus WRITE_DAC,
    WRITE_OWNER, DELETE and ACCESS_SYSTEM_SECURITY.  Returns (decided,
    granted = privilege_granted, per-privilege provenance)."""
    zero = D.mask(0)
    sec = ite(has_any(privs, D.SE_SECURITY), D.ACCESS_SYSTEM_SECURITY, zero)
    backup = ite(has_any(privs, D.SE_BACKUP), mapping.read, zero)
    restore = ite(has_any(privs, D.SE_RESTORE),
                  mapping.write | D.WRITE_DAC | D.WRITE_OWNER | D.DELETE | D.ACCESS_SYSTEM_SECURITY, zero)
    granted = sec | backup | restore
    return D.ACCESS_SYSTEM_SECURITY | granted, granted, {
        "SeSecurityPrivilege": sec, "SeBackupPrivilege": backup, "SeRestorePrivilege": restore}


# ------------------------------------------------------------------ step 6: MIC
def effective_label(sd: SD) -> tuple[Any, Any, Any]:
    """The label MIC uses (§10.3 Multiple labels, MIC-12): the first present,
    non-inherit-only mandatory-label ACE; (has_label, level, policy)."""
    if sd.labels is None:
        return sd.has_label, sd.label_level, sd.label_policy
    has, level, policy = False, D.IL_MEDIUM, D.LABEL_NO_WRITE_UP
    for lab in reversed(sd.labels):
        use = and_(lab.present, not_(lab.inherit_only))
        has = or_(use, has)
        level = ite(use, lab.level, level)
        policy = ite(use, lab.policy, policy)
    return has, level, policy


def mic_applies(s: State, tok: Any, sd: SD) -> Any:
    """MIC constrains this caller (§10.3): the token's mandatory_policy has
    NO_WRITE_UP (MIC-09) and its integrity is below the label's level (or the
    default Medium label, MIC-05); a dominant caller is never constrained (MIC-11)."""
    has, level, _ = effective_label(sd)
    level = ite(has, level, D.IL_MEDIUM)
    return and_(has_any(s.token_policy[tok], D.POLICY_NO_WRITE_UP), not_(uge(s.token_integrity[tok], level)))


def enforce_mic(s: State, tok: Any, sd: SD, mapping: D.GenericMapping, decided: Any) -> tuple[Any, Any]:
    """EnforceMIC (§10.3, MIC-16..20): returns (decided, mandatory_decided).

    For a non-dominant caller, the allowed set is read | execute | READ_CONTROL
    | SYNCHRONIZE minus the categories the label's NO_READ_UP / NO_WRITE_UP /
    NO_EXECUTE_UP bits block (unknown bits ignored, MIC-19), plus WRITE_OWNER
    with SeRelabelPrivilege (MIC-08); every other bit of the mapping's
    GENERIC_ALL is decided (denied) before the DACL walk.  Without a label the
    default is Medium NO_WRITE_UP (MIC-05)."""
    has, _, policy = effective_label(sd)
    policy = ite(has, policy, D.LABEL_NO_WRITE_UP)
    applies = mic_applies(s, tok, sd)
    allowed = mapping.read | mapping.execute | D.READ_CONTROL | D.SYNCHRONIZE
    allowed = ite(has_any(policy, D.LABEL_NO_READ_UP), clear(allowed, mapping.read), allowed)
    allowed = ite(has_any(policy, D.LABEL_NO_WRITE_UP), clear(allowed, mapping.write), allowed)
    allowed = ite(has_any(policy, D.LABEL_NO_EXECUTE_UP), clear(allowed, mapping.execute), allowed)
    relabel = has_any(s.token_privs_enabled[tok], D.SE_RELABEL)
    allowed = ite(relabel, allowed | D.WRITE_OWNER, allowed)
    blocked = ite(applies, clear(mapping.all, allowed), D.mask(0))
    return decided | blocked, blocked


# ------------------------------------------------------------------ SID matching (§10.2, §10.10 helpers)
def user_matches(s: State, tok: Any, sid: Any, for_allow: Any) -> Any:
    """The user SID matches; with user_deny_only only deny ACEs (AC-07)."""
    hit = eq(sid, s.token_user[tok])
    # ``for_allow`` may be a model value (an ACE's type read from a state): no Python ``if``
    return ite(for_allow, and_(hit, not_(s.token_user_deny_only[tok])), hit)


def group_matches(s: State, tok: Any, sid: Any, for_allow: Any) -> Any:
    """SidMatchesToken's group part (§10.2): enabled groups, deny-only only for
    deny ACEs (AC-04, AC-05); a group neither enabled nor deny-only matches
    nothing (AC-06)."""
    return token_matcher(s, tok, user=False)(sid, for_allow)


def token_matcher(s: State, tok: Any, user: bool = True) -> Callable[[Any, Any], Any]:
    """SidMatchesToken (§10.10 helper functions) for one token, as a function of
    (sid, for_allow).  The per-group usability (enabled and not deny-only for
    allow ACEs; enabled or deny-only for deny ACEs) is computed once per token,
    not once per ACE."""
    slots = []
    for i in range(D.GROUP_SLOTS):
        present = bit_of(s.token_groups[tok], i)
        enabled = bit_of(s.token_g_enabled[tok], i)
        deny_only = bit_of(s.token_g_deny_only[tok], i)
        slots.append((and_(present, enabled, not_(deny_only)), and_(present, or_(enabled, deny_only)),
                      s.group_sid(tok, i)))
    u_sid, u_allow = s.token_user[tok], not_(s.token_user_deny_only[tok])

    def matches(sid: Any, for_allow: Any) -> Any:
        hits = [and_(ite(for_allow, a, d), eq(sid, g)) for a, d, g in slots]
        if user:
            hits.append(and_(eq(sid, u_sid), ite(for_allow, u_allow, True)))
        return any_(hits)

    return matches


def sid_matches_token(s: State, tok: Any, sid: Any, for_allow: Any) -> Any:
    """SidMatchesToken (§10.10 helper functions)."""
    return token_matcher(s, tok)(sid, for_allow)


def in_restricting_sids(s: State, tok: Any, sid: Any) -> Any:
    """SidInRestrictingSids (§10.4, RESTR-03): presence-based."""
    return restricting_matcher(s, tok)(sid, True)


def restricting_matcher(s: State, tok: Any) -> Callable[[Any, Any], Any]:
    """SidInRestrictingSids as a function of (sid, for_allow): presence-based, so
    the ACE type does not matter (§10.4, RESTR-03)."""
    slots = [(bit_of(s.token_rsids[tok], i), s.rsid(tok, i)) for i in range(D.RSID_SLOTS)]
    return lambda sid, for_allow: any_(and_(p, eq(sid, r)) for p, r in slots)


def in_confinement_sids(s: State, tok: Any, sid: Any) -> Any:
    """SidInConfinementSids (§10.6): the confinement SID and capabilities, presence-based."""
    return confinement_matcher(s, tok)(sid, True)


def confinement_matcher(s: State, tok: Any) -> Callable[[Any, Any], Any]:
    """SidInConfinementSids as a function of (sid, for_allow): confinement_sid
    and the present capabilities, attributes ignored (§10.6)."""
    conf = s.token_conf_sid[tok]
    caps = [(bit_of(s.token_caps[tok], i), s.cap(tok, i)) for i in range(D.CAP_SLOTS)]
    return lambda sid, for_allow: or_(eq(sid, conf), *[and_(p, eq(sid, c)) for p, c in caps])


@dataclass
class Enriched:
    """The virtual groups a pass injects (§10.10 step 7, EnrichToken): OWNER
    RIGHTS when the caller is the owner; PRINCIPAL_SELF (enabled or deny-only)
    when ``self_sid`` matches the caller."""

    owner: Any = False
    self_allow: Any = False
    self_deny: Any = False


def enrich_token(matches: Callable[[Any, Any], Any], owner: Any, self_sid: Any) -> Enriched:
    """EnrichToken (§10.10): S-1-3-4 if the owner matches for allow; S-1-5-10 if
    ``self_sid`` matches for allow, or as deny-only if it matches for deny only.
    For the restricted and confinement passes ``matches`` is the pass's
    presence-based matcher (RESTR-08, §10.6), so deny-only never arises there."""
    if self_sid is None:
        return Enriched(matches(owner, True))
    allow = matches(self_sid, True)
    return Enriched(matches(owner, True), allow, and_(not_(allow), matches(self_sid, False)))


# ------------------------------------------------------------------ step 9: the DACL walk
def evaluate_dacl(s: State, sd: SD, matches: Callable[[Any, bool], Any], owner_is_member: Any,
                  mapping: D.GenericMapping, decided: Any, granted: Any,
                  skip_owner_implicit: bool, *, enriched: Enriched | None = None, max_mode: Any = False,
                  first_writer_wins: Any = True, owner_implicit_first: bool = True,
                  tracer: Callable[..., None] | None = None, pass_name: str = "normal") -> tuple[Any, Any]:
    """EvaluateDACL (§10.2): owner implicit rights, then first-writer-wins over the ACEs.

    * NULL DACL (AC-10): every undecided bit of MapGenericBits(GENERIC_ALL) is granted and decided.
    * Owner implicit rights (AC-14..16): READ_CONTROL | WRITE_DAC for the owner
      before the walk, unless a present non-inherit-only ACE names OWNER RIGHTS
      (pre-scan ``owner_rights_present``) or ``skip_owner_implicit`` (the
      confinement pass).
    * The walk (AC-01..03, AC-08, AC-09, AC-17) is ``fold_aces`` of
      ``ace_step``: inherit-only ACEs are skipped; each ACE's mask is mapped on
      a local copy; a matching allow ACE grants its undecided bits, a matching
      deny ACE decides them ungranted.  S-1-3-4 matches the owner and S-1-5-10
      the principal-self (virtual groups).
    * No short-circuit (AC-12 permits one, AC-13 forbids it for MAXIMUM_ALLOWED;
      the walk always runs to the end, so ``max_mode`` changes nothing here).

    ``first_writer_wins`` and ``owner_implicit_first`` exist for mutants only.
    """
    en = enriched or Enriched(owner_is_member)
    valid = mapping.all
    null_bits = clear(valid, decided)
    null_granted, null_decided = granted | null_bits, decided | valid

    suppressed = owner_rights_present(s, sd)
    implicit = and_(owner_is_member, not_(suppressed))
    implicit_bits = D.READ_CONTROL | D.WRITE_DAC

    def owner_implicit(decided: Any, granted: Any) -> tuple[Any, Any]:
        bits = clear(implicit_bits, decided)
        _emit(tracer, "owner_implicit", pass_name=pass_name, bits=ite(implicit, bits, D.mask(0)),
              suppressed=suppressed, owner=owner_is_member)
        return ite(implicit, decided | bits, decided), ite(implicit, granted | bits, granted)

    if not skip_owner_implicit and owner_implicit_first:
        decided, granted = owner_implicit(decided, granted)

    def step(decided: Any, granted: Any, i: int, a: ACE) -> tuple[Any, Any]:
        new_d, new_g, active = ace_step(s, a, matches, en, mapping, decided, granted, first_writer_wins)
        _emit(tracer, "ace", pass_name=pass_name, index=i, ace=a, active=active, decided_before=decided,
              granted_before=granted, decided=new_d, granted=new_g)
        return new_d, new_g

    decided, granted = fold_aces(step, decided, granted, sd.aces)
    if not skip_owner_implicit and not owner_implicit_first:
        decided, granted = owner_implicit(decided, granted)
    _emit(tracer, "null_dacl", pass_name=pass_name, null=not_(sd.dacl_present),
          bits=ite(sd.dacl_present, D.mask(0), null_bits))
    return ite(sd.dacl_present, decided, null_decided), ite(sd.dacl_present, granted, null_granted)


def owner_rights_present(s: State, sd: SD) -> Any:
    """The pre-scan of EvaluateDACL (§10.2, AC-16): a present, non-inherit-only
    ACE names OWNER RIGHTS (S-1-3-4), which suppresses owner implicit rights."""
    owner_rights = s.sid(D.SID_OWNER_RIGHTS)
    return any_(and_(a.present, not_(a.inherit_only), eq(a.sid, owner_rights)) for a in sd.aces)


def ace_step(s: State, a: ACE, matches: Callable[[Any, Any], Any], en: Enriched, mapping: D.GenericMapping,
             decided: Any, granted: Any, first_writer_wins: Any = True) -> tuple[Any, Any, Any]:
    """One step of the DACL walk (§10.2, AC-01..03, AC-08, AC-09, AC-17): the
    (decided, granted) masks after ACE ``a``, and whether ``a`` was active.

    An inherit-only or absent ACE is skipped; the mask is mapped on a local
    copy (reserved bits and MAXIMUM_ALLOWED ignored, §3.3); S-1-3-4 matches the
    owner and S-1-5-10 the principal-self (virtual groups, ``en``); a matching
    allow ACE grants its undecided bits, a matching deny ACE decides them
    ungranted.  Every bit of the result depends only on the same bit of
    ``decided``/``granted`` (the walk is bitwise), which the per-bit
    compositional proofs of tokenproof/relational.py rely on."""
    owner_rights = s.sid(D.SID_OWNER_RIGHTS)
    principal_self = s.sid(D.SID_PRINCIPAL_SELF)
    virtual = or_(and_(eq(a.sid, owner_rights), en.owner),
                  and_(eq(a.sid, principal_self), ite(a.allow, en.self_allow, or_(en.self_allow, en.self_deny))))
    sid_hit = or_(matches(a.sid, a.allow), virtual)
    active = and_(a.present, not_(a.inherit_only), sid_hit)
    mapped = clear(map_generic(a.mask, mapping), IGNORED_ACE_BITS)
    bits = ite(first_writer_wins, clear(mapped, decided), mapped)
    new_g = ite(active, ite(a.allow, granted | bits, clear(granted, bits)), granted)
    new_d = ite(active, decided | bits, decided)
    return new_d, new_g, active


def fold_aces(step: Callable[[Any, Any, int, ACE], tuple[Any, Any]], decided: Any, granted: Any,
              aces: list[ACE]) -> tuple[Any, Any]:
    """The DACL walk is a left fold of ``step`` over the ACEs, in order.

    Kept as its own function so that the compositional proofs
    (tokenproof/relational.py, ``walk_induction``) can replace this fold, and
    only this fold, by an abstract one: a proof about ``step`` for one
    arbitrary ACE then covers every DACL of any length."""
    for i, a in enumerate(aces):
        decided, granted = step(decided, granted, i, a)
    return decided, granted


# ------------------------------------------------------------------ steps 10-12
def take_ownership(privs: Any, desired: Any, max_mode: Any, mandatory: Any, granted: Any) -> Any:
    """Step 10 (§10.10, §3.7): SeTakeOwnershipPrivilege grants WRITE_OWNER when
    it was requested (or MAXIMUM_ALLOWED), the DACL did not grant it and no
    mandatory mechanism (MIC) decided it.  DACL denials do not stop it."""
    return and_(or_(has_any(desired, D.WRITE_OWNER), max_mode), has_any(privs, D.SE_TAKE_OWNERSHIP),
                not_(has_any(mandatory, D.WRITE_OWNER)), not_(has_any(granted, D.WRITE_OWNER)))


def restricted_applies(s: State, tok: Any) -> Any:
    """Step 11 runs when the token's restricted_sids list is non-null and not empty (§10.10)."""
    return and_(s.token_restricted[tok], any_(bit_of(s.token_rsids[tok], i) for i in range(D.RSID_SLOTS)))


def restricted_merge(granted: Any, r_granted: Any, privilege_granted: Any, write_restricted: Any,
                     mapping: D.GenericMapping) -> Any:
    """The restricted merge (§10.4, RESTR-04..06): intersection (write-mapped
    bits only for a write-restricted token), then privilege-granted bits restored."""
    write_bits = mapping.write
    merged = ite(write_restricted, clear(granted, write_bits) | (granted & r_granted & write_bits),
                 granted & r_granted)
    return merged | privilege_granted


def confinement_applies(s: State, tok: Any) -> Any:
    """Step 12 runs for a confined token (confinement_sid set) that is not exempt (§10.6)."""
    return and_(s.token_confined[tok], not_(s.token_conf_exempt[tok]))


def confinement_merge(granted: Any, c_granted: Any, privilege_granted: Any) -> Any:
    """The confinement merge (§10.6): an absolute intersection, no privilege bypass."""
    return granted & c_granted


# ------------------------------------------------------------------ the pipeline
def access_check(s: State, tok: Any, sd: SD, desired: Any, mapping: D.GenericMapping,
                 intent: Any = 0, self_sid: Any = None, tracer: Callable[..., None] | None = None) -> Decision:
    """AccessCheck (§10.10) of token ``tok`` against ``sd`` for ``desired``.

    ``intent`` carries BACKUP_INTENT (0x1) / RESTORE_INTENT (0x2); ``self_sid``
    is the object's principal SID for PRINCIPAL_SELF (None = null).  ``tracer``
    (concrete evaluation only) receives one event per stage and per ACE; see
    ``explain_access``.
    """
    zero = D.mask(0)
    dead = session_dead_gate(s, tok)
    identification = identification_gate(s, tok)
    error = validate_sd(sd)

    requested = desired
    desired = map_generic(desired, mapping)
    max_mode = has_any(desired, D.MAXIMUM_ALLOWED)
    desired = clear(desired, D.MAXIMUM_ALLOWED)
    _emit(tracer, "map", requested=requested, desired=desired, max_mode=max_mode)

    privs = effective_privileges(s, tok, intent)
    decided, granted, provenance = privilege_grants(privs, mapping)
    priv_granted = granted
    _emit(tracer, "privileges", decided=decided, granted=granted, provenance=provenance)

    before = decided
    decided, mandatory = enforce_mic(s, tok, sd, mapping, decided)
    _emit(tracer, "mic", decided_before=before, decided=decided, blocked=mandatory, label=effective_label(sd))

    normal = token_matcher(s, tok)
    en = enrich_token(normal, sd.owner, self_sid)
    decided, granted = evaluate_dacl(s, sd, normal, en.owner, mapping, decided, granted, False,
                                     enriched=en, max_mode=max_mode, tracer=tracer, pass_name="normal")

    take = take_ownership(privs, desired, max_mode, mandatory, granted)
    granted = ite(take, granted | D.WRITE_OWNER, granted)
    priv_granted = ite(take, priv_granted | D.WRITE_OWNER, priv_granted)
    _emit(tracer, "take_ownership", fired=take)

    restricted = restricted_applies(s, tok)
    r_match = restricting_matcher(s, tok)
    r_en = enrich_token(r_match, sd.owner, self_sid)
    _, r_granted = evaluate_dacl(s, sd, r_match, r_en.owner, mapping, zero, zero, False,
                                 enriched=r_en, max_mode=max_mode, tracer=tracer, pass_name="restricted")
    before = granted
    granted = ite(restricted, restricted_merge(granted, r_granted, priv_granted,
                                               s.token_write_restricted[tok], mapping), granted)
    _emit(tracer, "restricted", applies=restricted, before=before, pass_granted=r_granted, granted=granted,
          write_restricted=s.token_write_restricted[tok], privilege_granted=priv_granted)

    confined = confinement_applies(s, tok)
    c_match = confinement_matcher(s, tok)
    c_en = enrich_token(c_match, sd.owner, self_sid)
    _, c_granted = evaluate_dacl(s, sd, c_match, c_en.owner, mapping, zero, zero, True,
                                 enriched=c_en, max_mode=max_mode, tracer=tracer, pass_name="confinement")
    before = granted
    granted = ite(confined, confinement_merge(granted, c_granted, priv_granted), granted)
    _emit(tracer, "confinement", applies=confined, before=before, pass_granted=c_granted, granted=granted)

    gate = or_(dead, identification)
    stop = or_(gate, error)
    granted = ite(stop, zero, granted)
    priv_granted = ite(stop, zero, priv_granted)
    allowed = and_(not_(stop), eq(granted & desired, desired))
    _emit(tracer, "result", dead=dead, identification=identification, error=error, granted=granted,
          allowed=allowed, desired=desired)
    return Decision(granted, allowed, desired, max_mode, priv_granted,
                    {"dead_session": dead, "identification": identification, "mandatory": mandatory,
                     "restricted_granted": r_granted, "confinement_granted": c_granted},
                    error=and_(not_(gate), error), denied_by_gate=gate)


def handle_mask(decision: Decision) -> Any:
    """The mask cached on a handle opened with this decision (DECISIONS.md §4.8)."""
    return ite(decision.max_allowed, decision.granted, decision.mapped_desired)


# ------------------------------------------------------------------ explain (concrete only)
@dataclass
class BitDecision:
    """Why one bit of the result came out as it did."""

    bit: int
    name: str
    granted: bool
    by: str


def right_name(bit: int, mapping: D.GenericMapping | None = None) -> str:
    v = 1 << bit
    prefer = "TOKEN_" if mapping is D.TOKEN_MAPPING else "PROCESS_" if mapping is D.PROCESS_MAPPING else \
        "FILE_" if mapping is FILE_MAPPING else ""
    names = [n for n, m in D.RIGHT_NAMES.items() if int(m) == v]
    names += [n for n, m in FILE_RIGHT_NAMES.items() if m == v]
    for n in names:
        if prefer and n.startswith(prefer):
            return n
    generic = [n for n in names if not n.startswith(("TOKEN_", "PROCESS_", "FILE_"))]
    if generic:
        return generic[0]
    return f"bit{bit}"


def _ace_text(a: ACE, index: int, sid_label: Callable[[str], str]) -> str:
    kind = "allow" if a.allow else "deny"
    return f"ACE #{index} ({kind} {sid_label(a.sid)} {int(a.mask):#x})"


def explain_access(s: State, tok: Any, sd: SD, desired: Any, mapping: D.GenericMapping, intent: Any = 0,
                   self_sid: Any = None, sid_label: Callable[[str], str] | None = None
                   ) -> tuple[Decision, list[BitDecision]]:
    """Run ``access_check`` on concrete values with a tracing hook and say, for
    each bit of the mapped request (every bit of the result or of GENERIC_ALL
    under MAXIMUM_ALLOWED), which stage or ACE decided it and what later
    stages did to it."""
    events: list[tuple[str, dict[str, Any]]] = []
    dec = access_check(s, tok, sd, desired, mapping, intent, self_sid,
                       tracer=lambda ev, **kw: events.append((ev, kw)))
    label = sid_label or (lambda x: str(x))
    ev = {}
    for name, kw in events:
        ev.setdefault(name, []).append(kw)
    result = ev["result"][0]
    bits_mask = int(dec.mapped_desired) | int(dec.granted)
    if dec.max_allowed:
        bits_mask |= int(mapping.all)
    out: list[BitDecision] = []
    for b in range(32):
        m = 1 << b
        if not bits_mask & m:
            continue
        granted = bool(int(dec.granted) & m)
        out.append(BitDecision(b, right_name(b, mapping), granted, _why(b, m, ev, result, label)))
    return dec, out


def _why(b: int, m: int, ev: dict[str, list[dict[str, Any]]], result: dict[str, Any],
         label: Callable[[str], str]) -> str:
    if result["dead"]:
        return "LogonSession-dead gate (§10.10 step 0): everything denied"
    if result["identification"]:
        return "Identification-level gate (§10.10 step 1): everything denied"
    if result["error"]:
        return "input validation (§10.10 step 2): null SD or SD without owner"
    story: list[str] = []
    priv = ev["privileges"][0]
    if int(priv["decided"]) & m:
        who = [n for n, bits in priv["provenance"].items() if int(bits) & m]
        if who:
            story.append(f"granted by {who[0]} (§10.10 step 5)")
        else:
            story.append("denied: ACCESS_SYSTEM_SECURITY is decided by privilege only (§10.10 step 5, "
                         "no SeSecurityPrivilege)")
    else:
        mic = ev["mic"][0]
        if int(mic["blocked"]) & m:
            has, level, policy = mic["label"]
            lab = (f"label {D.INTEGRITY_NAMES.get(int(level), int(level))} policy {int(policy):#x}" if has
                   else "default label Medium NO_WRITE_UP")
            story.append(f"denied by MIC (§10.3, {lab}): caller's integrity is below the label")
        else:
            story.append(_dacl_story(m, ev, "normal", label))
    take = ev["take_ownership"][0]
    if take["fired"] and m == int(D.WRITE_OWNER):
        story.append("granted by SeTakeOwnershipPrivilege (§10.10 step 10)")
    r = ev["restricted"][0]
    if r["applies"]:
        if int(r["before"]) & m and not int(r["granted"]) & m:
            story.append(f"revoked by the restricted pass (§10.4): {_dacl_story(m, ev, 'restricted', label)}")
        elif int(r["privilege_granted"]) & m and not int(r["pass_granted"]) & m:
            story.append("kept through the restricted pass: privilege-granted bits are restored (§10.4)")
    c = ev["confinement"][0]
    if c["applies"] and int(c["before"]) & m and not int(c["granted"]) & m:
        story.append(f"revoked by the confinement pass (§10.6): {_dacl_story(m, ev, 'confinement', label)}")
    return "; ".join(story)


def _dacl_story(m: int, ev: dict[str, list[dict[str, Any]]], pass_name: str,
                label: Callable[[str], str]) -> str:
    for kw in ev.get("owner_implicit", []):
        if kw["pass_name"] == pass_name and int(kw["bits"]) & m:
            return "granted by owner implicit rights (§10.2, §3.7)"
    for kw in ev["ace"]:
        if kw["pass_name"] != pass_name or not kw["active"]:
            continue
        if int(kw["decided"]) & m and not int(kw["decided_before"]) & m:
            verb = "granted" if int(kw["granted"]) & m else "denied"
            return f"{verb} by {_ace_text(kw['ace'], kw['index'], label)}"
    for kw in ev["null_dacl"]:
        if kw["pass_name"] == pass_name and kw["null"]:
            return "granted by the NULL DACL (§10.2)" if int(kw["bits"]) & m else \
                "not granted: outside the mapping's GENERIC_ALL under a NULL DACL (§10.2)"
    return "not granted: no ACE decided it" + ("" if pass_name == "normal" else f" in the {pass_name} pass")
