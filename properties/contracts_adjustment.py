"""Rule contracts (adjustment): the spec's guards and effects stated as transition properties,
so that a rule mutant that drops a guard, reorders its errnos or skips an effect
is refuted by the catalog (issue 6, docs/mutation-survivors.md).

Rules: the four adjustment ioctls (§4.5, Appendix A §2), kacs_privilege_check
(§7.1, Appendix A §1) and the three token-creating operations CreateToken,
DuplicateToken and FilterToken (§4.4, §4.8, Appendix A §1/§2).

Every statement is read off the spec text (the clause IDs are in each
``@prop``); the errno precedence is the validation order of §4.4 / Appendix A
with the errnos recorded in model/DECISIONS.md.  The 'closed fd gives EBADF'
and 'the fd must carry right X' guards belong to properties/guards.py and
properties/handles.py: the errno contracts here start where those end (the fd
is open and carries the right the ioctl needs).
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.access import access_check, handle_mask
from model.rules.common import default_token_sd, holds
from model.values import BV, and_, any_, bit_of, clear, eq, has_all, has_any, implies, ite, ne, not_, or_, \
    subset, ugt, ule, ult
from properties.base import prop
from properties.catalog_support import effective_of, fd_has, fd_token, first_failure, ok, real_of, \
    takes_next_token_id

NT_SAME = {"kacs": "proved", "nt": "proved"}


def _index_names(s: Any, tok: Any, index: Any, attrs: Any) -> Any:
    """Appendix A §4 (kacs_adjust_default_args): index 1..n names groups[n-1] of ``tok``; true when that
    slot holds a group whose bit is set in ``attrs``."""
    return any_(and_(eq(index, BV(i + 1, D.INDEX_W)), bit_of(s.token_groups[tok], i), bit_of(attrs, i))
                for i in range(D.GROUP_SLOTS))


# ====================================================================== kacs_privilege_check (§7.1)
@prop("privilege-check-succeeds-exactly-when-every-privilege-is-held",
      "kacs_privilege_check returns 0 when every listed privilege is present and enabled on the calling "
      "thread's effective token, and EPERM otherwise.",
      kind="transition", sections=("Appendix A §1", "§7.1"), clauses=("PRIV-02", "PRIV-05"), expect=NT_SAME,
      rules=("kacs_privilege_check",), mutants=("privilege-check-ignores-missing-privileges",))
def privilege_check_errno(pre, post, step):
    """Appendix A §1 kacs_privilege_check: "Returns 0 if all required privileges are present and enabled,
    -EPERM otherwise" with KACS_PRIVCHECK_ALL_REQUIRED, on "the calling thread's effective token"
    (PRIV-05: standalone gates need the privilege present and enabled)."""
    if step.rule != "kacs_privilege_check":
        return True
    tok = effective_of(pre, step.actor)
    return eq(step.errno, ite(holds(pre, tok, step.args["privileges"]), D.OK, D.EPERM))


@prop("privilege-check-marks-exactly-the-checked-privileges-used",
      "A successful kacs_privilege_check adds exactly the checked privileges to the used set of the caller's "
      "effective token; a failed one marks none.",
      kind="transition", sections=("Appendix A §1", "§7.1", "§4.2"), clauses=("PRIV-02", "TOK-33"),
      expect=NT_SAME, rules=("kacs_privilege_check",), mutants=("privilege-check-marks-nothing-used",))
def privilege_check_marks_used(pre, post, step):
    """Appendix A §1: "On success, each checked privilege is atomically marked as used on the token. On
    failure, no privileges are marked used."  §7.1 Lifecycle 4: an exercised privilege is recorded as
    used (PRIV-02)."""
    if step.rule != "kacs_privilege_check":
        return True
    tok = effective_of(pre, step.actor)
    before = pre.token_privs_used[tok]
    return eq(post.token_privs_used[tok], ite(ok(step), before | step.args["privileges"], before))


# ====================================================================== AdjustSessionID (§4.5)
@prop("adjust-scope-fails-with-eperm-exactly-without-tcb-on-the-real-token",
      "KACS_IOC_ADJUST_INTERACTIVITY_SCOPE on an open fd carrying TOKEN_ADJUST_INTERACTIVITY_SCOPE fails "
      "with EPERM when the caller's real token does not hold SeTcbPrivilege enabled, and succeeds otherwise.",
      kind="transition", sections=("§4.5", "Appendix A §2", "§7.1"), clauses=("ADJ-19", "IOCTL-27", "TOK-47"),
      expect=NT_SAME, rules=("ioctl_adjust_interactivity_scope",), mutants=("adjust-scope-skips-the-tcb-check",))
def adjust_scope_errno(pre, post, step):
    """§4.5 AdjustSessionID: "Requires TOKEN_ADJUST_SESSIONID on the token and SeTcbPrivilege on the
    caller's real token" (ADJ-19, IOCTL-27); a missing standalone privilege is EPERM (§7.1,
    DECISIONS.md)."""
    if step.rule != "ioctl_adjust_interactivity_scope":
        return True
    return implies(fd_has(pre, step, "fd", D.TOKEN_ADJUST_INTERACTIVITY_SCOPE),
                   eq(step.errno, ite(holds(pre, real_of(pre, step.actor), D.SE_TCB), D.OK, D.EPERM)))


@prop("adjust-scope-sets-the-scope-and-marks-tcb-used",
      "A successful KACS_IOC_ADJUST_INTERACTIVITY_SCOPE sets the token's interactivity scope to the requested "
      "value and marks SeTcbPrivilege used on the caller's real token.",
      kind="transition", sections=("§4.5", "Appendix A §2", "§7.1"), clauses=("IOCTL-27", "PRIV-02", "PRIV-03"),
      expect=NT_SAME, rules=("ioctl_adjust_interactivity_scope",),
      mutants=("adjust-scope-forgets-the-scope", "adjust-scope-forgets-to-mark-tcb-used"))
def adjust_scope_effects(pre, post, step):
    """Appendix A §2: "Changes the token's interactivity scope. Takes a u32 scope value" (IOCTL-27);
    §7.1 Lifecycle 4: the SeTcbPrivilege gate accepted, so the privilege was exercised and its used bit
    is recorded (PRIV-02/03)."""
    if step.rule != "ioctl_adjust_interactivity_scope":
        return True
    tok, real = fd_token(pre, step), real_of(pre, step.actor)
    return implies(ok(step), and_(eq(post.token_scope[tok], step.args["scope"]),
                                  has_all(post.token_privs_used[real], D.SE_TCB)))


# ====================================================================== frame of the four adjustments
# §4.5: "These are distinct operations with separate access rights and constraint models": each
# adjustment changes only its own kind of token state (plus modified_id and used bits).
ADJUSTABLE = ("token_privs_present", "token_privs_enabled", "token_privs_default", "token_g_enabled",
              "token_default_dacl", "token_owner_index", "token_group_index", "token_scope")
ADJUSTS: dict[str, tuple[str, ...]] = {
    "ioctl_adjust_privs": ("token_privs_present", "token_privs_enabled", "token_privs_default"),
    "ioctl_adjust_groups": ("token_g_enabled",),
    "ioctl_adjust_default": ("token_default_dacl", "token_owner_index", "token_group_index"),
    "ioctl_adjust_interactivity_scope": ("token_scope",),
}


@prop("adjustments-change-only-their-own-kind-of-token-state",
      "A KACS_IOC_ADJUST_PRIVS changes only the privilege sets of its token, an ADJUST_GROUPS only the "
      "enabled groups, an ADJUST_DEFAULT only the default DACL, owner and primary group, and an "
      "ADJUST_INTERACTIVITY_SCOPE only the interactivity scope (apart from modified_id and used bits).",
      kind="transition", sections=("§4.5", "Appendix A §2"), clauses=("ADJ-01", "ADJ-20", "ADJ-21"),
      expect=NT_SAME, rules=tuple(sorted(ADJUSTS)), mutants=("adjust-scope-drops-enabled-privileges",))
def adjustments_frame(pre, post, step):
    """§4.5: the adjustments are "distinct operations with separate access rights and constraint models";
    AdjustSessionID "changes only the token's interactive_session_id ... MUST NOT grant or remove
    privileges, groups, ... default owner, default primary group, default DACL" (ADJ-20); AdjustDefault
    has "three mutable fields" (ADJ-21)."""
    own = ADJUSTS.get(step.rule)
    if own is None:
        return True
    tok = fd_token(pre, step)
    return and_(*(eq(post.view(f)[tok], pre.view(f)[tok]) for f in ADJUSTABLE if f not in own))


# ====================================================================== AdjustDefault (§4.5)
def _default_owner_ok(pre, tok, index):
    """ADJ-22: the user SID (index 0) or a group with SE_GROUP_OWNER on the token."""
    return or_(eq(index, BV(0, D.INDEX_W)), _index_names(pre, tok, index, pre.token_g_owner[tok]))


def _default_group_ok(pre, tok, index):
    """ADJ-23: the user SID (index 0) or a group SID on the token."""
    return or_(eq(index, BV(0, D.INDEX_W)), _index_names(pre, tok, index, pre.token_groups[tok]))


@prop("adjust-default-fails-with-einval-exactly-on-an-invalid-index",
      "KACS_IOC_ADJUST_DEFAULT on an open fd carrying TOKEN_ADJUST_DEFAULT fails with EINVAL when a new "
      "owner index names neither the user SID nor an SE_GROUP_OWNER group of the token, or a new primary "
      "group index names neither the user SID nor a group of the token, and succeeds otherwise.",
      kind="transition", sections=("§4.5", "Appendix A §2", "Appendix A §4"),
      clauses=("ADJ-22", "ADJ-23", "IOCTL-28"),
      expect=NT_SAME, rules=("ioctl_adjust_default",),
      mutants=("adjust-default-accepts-any-owner", "adjust-default-accepts-any-primary-group"))
def adjust_default_errno(pre, post, step):
    """§4.5 AdjustDefault: the owner index "MUST reference the user SID or a group with SE_GROUP_OWNER on
    the token" (ADJ-22); the primary group index "MUST reference the user SID or a group SID on the
    token" (ADJ-23); Appendix A §4: owner_index/group_index 0xFFFF mean no change (IOCTL-28)."""
    if step.rule != "ioctl_adjust_default":
        return True
    a, tok = step.args, fd_token(pre, step)
    bad = or_(and_(a["set_owner"], not_(_default_owner_ok(pre, tok, a["owner_index"]))),
              and_(a["set_group"], not_(_default_group_ok(pre, tok, a["group_index"]))))
    return implies(fd_has(pre, step, "fd", D.TOKEN_ADJUST_DEFAULT), eq(step.errno, ite(bad, D.EINVAL, D.OK)))


@prop("adjust-default-sets-exactly-the-requested-defaults",
      "A successful KACS_IOC_ADJUST_DEFAULT sets each requested field (default DACL, owner index, primary "
      "group index) of its token to the requested value and leaves the others unchanged.",
      kind="transition", sections=("§4.5", "Appendix A §2"), clauses=("ADJ-21", "IOCTL-28"), expect=NT_SAME,
      rules=("ioctl_adjust_default",),
      mutants=("adjust-default-forgets-the-dacl", "adjust-default-forgets-the-owner",
               "adjust-default-forgets-the-primary-group"))
def adjust_default_effects(pre, post, step):
    """§4.5 AdjustDefault: "replace the DACL applied to new objects", "change which SID is used as the
    default owner", "change the default primary group" (ADJ-21); Appendix A §2: "Each field is
    independently optional" (IOCTL-28)."""
    if step.rule != "ioctl_adjust_default":
        return True
    a, tok = step.args, fd_token(pre, step)

    def field(name, requested, value):
        return eq(post.view(name)[tok], ite(requested, value, pre.view(name)[tok]))

    return implies(ok(step), and_(field("token_default_dacl", a["set_dacl"], a["dacl"]),
                                  field("token_owner_index", a["set_owner"], a["owner_index"]),
                                  field("token_group_index", a["set_group"], a["group_index"])))


# ====================================================================== AdjustGroups (§4.5)
@prop("adjust-groups-fails-with-einval-exactly-on-an-invalid-request",
      "KACS_IOC_ADJUST_GROUPS on an open fd carrying TOKEN_ADJUST_GROUPS fails with EINVAL when the entries "
      "are malformed, name a group twice, mix the reset sentinel with entries or are empty, name an index "
      "that is not a group of the token, target a mandatory, deny-only or logon-SID group, or disable a "
      "group carrying the user SID; otherwise it succeeds.",
      kind="transition", sections=("§4.5", "Appendix A §2", "Appendix A §4"),
      clauses=("ADJ-12", "ADJ-13", "ADJ-14", "ADJ-15", "ADJ-17", "IOCTL-24", "IOCTL-25", "IOCTL-26"),
      expect=NT_SAME, rules=("ioctl_adjust_groups",),
      mutants=("adjust-groups-accepts-an-empty-request", "adjust-groups-accepts-foreign-indices",
               "adjust-groups-accepts-malformed-entries", "adjust-groups-accepts-overlapping-entries",
               "adjust-groups-lets-the-user-sid-be-disabled"))
def adjust_groups_errno(pre, post, step):
    """§4.5 AdjustGroups constraints (ADJ-12..15) and Appendix A §2: "count = 0 is invalid", "if any entry
    targets a mandatory, deny-only, or logon SID group, or if any group index appears more than once in
    the same request, the entire operation fails", the reset sentinel "MUST be the only entry"
    (IOCTL-24..26); ADJ-17: indices are zero-based into the token's groups."""
    if step.rule != "ioctl_adjust_groups":
        return True
    a, tok = step.args, fd_token(pre, step)
    enable, disable, reset = a["enable"], a["disable"], a["reset"]
    targets = enable | disable
    protected = pre.token_g_mandatory[tok] | pre.token_g_deny_only[tok] | pre.token_g_logon[tok]
    user = pre.token_user[tok]
    disables_user = any_(and_(bit_of(disable, i), eq(pre.group_sid(tok, i), user)) for i in range(D.GROUP_SLOTS))
    bad = or_(not_(a["entries_ok"]), ne(enable & disable, 0), and_(reset, ne(targets, 0)),
              and_(not_(reset), eq(targets, 0)), not_(subset(targets, pre.token_groups[tok])),
              has_any(targets, protected), disables_user)
    return implies(fd_has(pre, step, "fd", D.TOKEN_ADJUST_GROUPS), eq(step.errno, ite(bad, D.EINVAL, D.OK)))


@prop("adjust-groups-enables-exactly-the-requested-groups",
      "After a successful KACS_IOC_ADJUST_GROUPS the token's enabled groups are the previously enabled ones "
      "plus those enabled minus those disabled, or on a reset its enabled-by-default groups that are not "
      "deny-only.",
      kind="transition", sections=("§4.5", "Appendix A §2"), clauses=("ADJ-16", "IOCTL-24", "IOCTL-26"),
      expect=NT_SAME, rules=("ioctl_adjust_groups",), mutants=("adjust-groups-forgets-the-enabled-mask",))
def adjust_groups_effects(pre, post, step):
    """§4.5 AdjustGroups: enable/disable "flip SE_GROUP_ENABLED on individual groups"; reset "restore all
    groups to their creation-time enabled/disabled state" but "does NOT clear SE_GROUP_USE_FOR_DENY_ONLY"
    (ADJ-16, IOCTL-26)."""
    if step.rule != "ioctl_adjust_groups":
        return True
    a, tok = step.args, fd_token(pre, step)
    reset_to = clear(pre.token_g_default[tok] & pre.token_groups[tok], pre.token_g_deny_only[tok])
    adjusted = clear(pre.token_g_enabled[tok] | a["enable"], a["disable"])
    return implies(ok(step), eq(post.token_g_enabled[tok], ite(a["reset"], reset_to, adjusted)))


# ====================================================================== AdjustPrivileges (§4.5)
@prop("adjust-privs-rejects-malformed-requests-and-absent-enables",
      "KACS_IOC_ADJUST_PRIVS on an open fd carrying TOKEN_ADJUST_PRIVILEGES fails with EINVAL when the entries "
      "are malformed, name a privilege twice, mix the reset sentinel with entries or are empty; a well-formed "
      "request that enables a privilege which is not present fails; a well-formed request naming only present "
      "privileges succeeds.",
      kind="transition", sections=("§4.5", "Appendix A §2", "Appendix A §4"),
      clauses=("ADJ-04", "ADJ-09", "IOCTL-22", "IOCTL-23"), expect=NT_SAME, rules=("ioctl_adjust_privs",),
      mutants=("adjust-privs-accepts-malformed-entries", "adjust-privs-accepts-overlapping-entries",
               "adjust-privs-rejects-a-lone-reset"),
      note="Stated so that it holds on NT too: NtAdjustPrivilegesToken answers STATUS_NOT_ALL_ASSIGNED (not "
           "EINVAL) for an absent privilege and also for disabling or removing one (nt-reference.md §7.2), "
           "where KACS rejects an absent enable with EINVAL (ADJ-04) and treats the others as no-ops (ADJ-05; "
           "the effect is stated by adjust-privs-applies-exactly-the-requested-changes).")
def adjust_privs_errno(pre, post, step):
    """§4.5 AdjustPrivileges: "Privileges that are not present MUST NOT be enabled" (ADJ-04); "duplicate
    privilege indices in one request" are invalid and "if any entry is invalid, the entire operation
    fails" (ADJ-09); Appendix A §2: "Any other use of KACS_PRIV_RESET_ALL_DEFAULTS is invalid. Unknown
    attributes bits are invalid ... Enabling a privilege that is absent from privileges_present is
    invalid" (IOCTL-22/23)."""
    if step.rule != "ioctl_adjust_privs":
        return True
    a, tok = step.args, fd_token(pre, step)
    enable, disable, remove, reset = a["enable"], a["disable"], a["remove"], a["reset"]
    named = or_(ne(enable, 0), ne(disable, 0), ne(remove, 0))
    malformed = or_(not_(a["entries_ok"]), ne(enable & disable, 0), ne(enable & remove, 0),
                    ne(disable & remove, 0), and_(reset, named), and_(not_(reset), not_(named)))
    present = pre.token_privs_present[tok]
    return implies(fd_has(pre, step, "fd", D.TOKEN_ADJUST_PRIVILEGES), and_(
        implies(malformed, eq(step.errno, D.EINVAL)),
        implies(not_(subset(enable, present)), ne(step.errno, D.OK)),
        implies(and_(not_(malformed), subset(enable | disable | remove, present)), eq(step.errno, D.OK))))


@prop("adjust-privs-applies-exactly-the-requested-changes",
      "After a successful KACS_IOC_ADJUST_PRIVS the removed privileges are gone from the present, enabled "
      "and enabled-by-default sets, the enabled set is the previous one plus those enabled minus those "
      "disabled or removed (on a reset: the enabled-by-default privileges still present), and nothing else "
      "of the privilege sets changed.",
      kind="transition", sections=("§4.5", "Appendix A §2"), clauses=("ADJ-05", "ADJ-06", "ADJ-07", "ADJ-08",
                                                                      "IOCTL-22"),
      expect=NT_SAME, rules=("ioctl_adjust_privs",), mutants=("adjust-privs-remove-keeps-present",))
def adjust_privs_effects(pre, post, step):
    """§4.5 AdjustPrivileges: enable/disable "flip individual bits in privileges_enabled"; reset "restore
    privileges_enabled to match privileges_enabled_by_default" and "does NOT restore privileges
    previously removed" (ADJ-06/07); remove "Clears the bit in privileges_present, privileges_enabled,
    and privileges_enabled_by_default" (ADJ-08); absent ones are a no-op (ADJ-05)."""
    if step.rule != "ioctl_adjust_privs":
        return True
    a, tok = step.args, fd_token(pre, step)
    present, enabled, default = (pre.token_privs_present[tok], pre.token_privs_enabled[tok],
                                 pre.token_privs_default[tok])
    new_enabled = ite(a["reset"], default & present, clear(enabled | a["enable"], a["disable"] | a["remove"]))
    return implies(ok(step), and_(eq(post.token_privs_present[tok], clear(present, a["remove"])),
                                  eq(post.token_privs_default[tok], clear(default, a["remove"])),
                                  eq(post.token_privs_enabled[tok], new_enabled)))


# ====================================================================== CreateToken (§4.4)
CALLER_GROUPS = D.GROUP_SLOTS - 1  # the request's group slots (the last token slot is for the logon SID)


def _create_checks(pre, step) -> list[tuple[Any, Any]]:
    """§4.4 CreateToken's validations 1-10 in the spec's order, with their errnos (DECISIONS.md)."""
    a, s = step.args, pre
    n = a["group_count"]
    groups = [a[f"g{i}"] for i in range(CALLER_GROUPS)]
    listed = [ult(BV(i, D.INDEX_W), n) for i in range(CALLER_GROUPS)]
    bad = s.sid(D.MALFORMED_SID)
    sids_ok = and_(ne(a["user"], bad),
                   *(implies(listed[i], ne(g, bad)) for i, g in enumerate(groups)),
                   *(implies(and_(a["restricted"], bit_of(a["r_mask"], i)), ne(a[f"r{i}"], bad))
                     for i in range(D.RSID_SLOTS)),
                   implies(a["confined"], ne(a["conf_sid"], bad)),
                   *(implies(bit_of(a["c_mask"], i), ne(a[f"c{i}"], bad)) for i in range(D.CAP_SLOTS)))
    owner = a["owner_index"]
    owner_ok = or_(eq(owner, BV(0, D.INDEX_W)),
                   *(and_(eq(owner, BV(i + 1, D.INDEX_W)), listed[i], bit_of(a["g_owner"], i))
                     for i in range(CALLER_GROUPS)))
    session = a["session"]
    logon = s.sess_logon_sid[session]
    return [
        (holds(s, effective_of(s, step.actor), D.SE_CREATE_TOKEN), D.EPERM),  # 1
        (sids_ok, D.EINVAL),  # 2
        (owner_ok, D.EINVAL),  # 3
        (ule(a["group_index"], n), D.EINVAL),  # 4
        (s.sess_alive[session], D.ENOENT),  # 5: an existing LogonSession ...
        (not_(s.sess_dead[session]), D.EINVAL),  # ... that is not dead (Appendix A §1)
        (not_(or_(*(and_(listed[i], eq(g, logon)) for i, g in enumerate(groups)))), D.EINVAL),  # CREATE-06
        (implies(a["primary"], eq(a["level"], D.ANONYMOUS)), D.EINVAL),  # 6
        (implies(a["write_restricted"], a["user_deny_only"]), D.EINVAL),  # 7
        (implies(a["isolation"], a["confined"]), D.EINVAL),  # 8
        (eq(a["elevation_field"], 0), D.EINVAL),  # 9
        (ule(n, D.SPEC_MAX_GROUPS - 1), D.EINVAL),  # 10
    ]


@prop("create-token-validates-the-request-in-the-spec-order",
      "kacs_create_token fails with the errno of the first of its validations that fails, in the order of "
      "§4.4 (EPERM without SeCreateTokenPrivilege on the caller's effective token; EINVAL for a malformed "
      "SID, a bad owner or primary-group index; ENOENT for a missing LogonSession, EINVAL for a dead one or "
      "a caller group equal to its logon SID; EINVAL for validations 6 to 10), and succeeds when all hold.",
      kind="transition", sections=("§4.4", "Appendix A §1", "§7.1"),
      clauses=("CREATE-01", "CREATE-02", "CREATE-06", "CREATE-08", "CREATE-09", "CREATE-10", "CREATE-11",
               "CREATE-12", "CREATE-13", "CREATE-14", "SESS-15"),
      expect=NT_SAME, rules=("kacs_create_token",),
      mutants=("create-token-accepts-malformed-sids", "create-token-accepts-any-owner-index",
               "create-token-accepts-a-missing-session", "create-token-accepts-any-primary-group-index",
               "create-token-accepts-the-logon-sid-among-groups", "create-token-accepts-isolation-without-confinement"))
def create_token_errno(pre, post, step):
    """§4.4 CreateToken: "The kernel validates: 1. The caller holds SeCreateTokenPrivilege. 2. All SIDs
    are structurally well-formed. 3. The owner SID ... 4. The primary group SID ... 5. The auth_id
    references an existing LogonSession object. 6. ... 10." (CREATE-01..14); Appendix A §1: "auth_id
    references an existing LogonSession that is not dead"; callers "MUST NOT include the logon SID"
    (CREATE-06).  Errnos: DECISIONS.md "kacs_create_token guard order"."""
    if step.rule != "kacs_create_token":
        return True
    return eq(step.errno, first_failure(_create_checks(pre, step)))


@prop("create-token-marks-se-create-token-used-once-its-gate-accepts",
      "When the caller's live effective token holds SeCreateTokenPrivilege enabled, kacs_create_token marks "
      "it used on that token, even if a later validation fails.",
      kind="transition", sections=("§7.1", "§4.4"), clauses=("PRIV-02", "PRIV-03", "CREATE-01"), expect=NT_SAME,
      rules=("kacs_create_token",), mutants=("create-token-forgets-to-mark-its-privilege-used",))
def create_token_marks_used(pre, post, step):
    """§7.1 Lifecycle 4: for a standalone gate, "exercised" means the gate accepted the present-and-enabled
    bit; "If a later, independent gate denies ... the privilege was still exercised and its used bit
    SHOULD be recorded" (PRIV-03)."""
    if step.rule != "kacs_create_token":
        return True
    tok = effective_of(pre, step.actor)
    return implies(and_(pre.token_alive[tok], holds(pre, tok, D.SE_CREATE_TOKEN)),
                   has_all(post.token_privs_used[tok], D.SE_CREATE_TOKEN))


@prop("create-token-builds-the-token-from-the-request",
      "A token made by kacs_create_token has the requested user, type, level and LogonSession, exactly the "
      "requested caller groups followed by the session's logon SID (mandatory, enabled, enabled-by-default, "
      "logon), the requested privileges with enabled-by-default equal to enabled and none used, "
      "modified_id 0 and elevation type Default.",
      kind="transition", sections=("§4.4", "§4.2"), clauses=("CREATE-03", "CREATE-04", "CREATE-05", "CREATE-07"),
      expect=NT_SAME, rules=("kacs_create_token",), mutants=("create-token-lists-one-group-too-many",))
def create_token_contents(pre, post, step):
    """§4.4 CreateToken: caller-supplied fields are taken as given; "The kernel injects the logon SID into
    the groups array with SE_GROUP_MANDATORY | SE_GROUP_ENABLED_BY_DEFAULT | SE_GROUP_ENABLED |
    SE_GROUP_LOGON_ID ... appended after the caller's groups" (CREATE-05); "The kernel does NOT inject
    these" other groups (CREATE-03); kernel-generated modified_id 0 and elevation_type Default
    (CREATE-04)."""
    if step.rule != "kacs_create_token":
        return True
    a, new = step.args, step.args["new_token"]
    n = a["group_count"]
    listed = BV(0, D.GROUP_W)
    logon_slot = BV(0, D.GROUP_W)
    for i in range(D.GROUP_SLOTS):
        listed = ite(ult(BV(i, D.INDEX_W), n), listed | BV(1 << i, D.GROUP_W), listed)
        logon_slot = ite(eq(n, BV(i, D.INDEX_W)), BV(1 << i, D.GROUP_W), logon_slot)
    present = a["privs_present"]
    logon = pre.sess_logon_sid[a["session"]]
    return implies(ok(step), and_(
        eq(post.token_user[new], a["user"]),
        eq(post.token_primary[new], a["primary"]), eq(post.token_level[new], a["level"]),
        eq(post.token_session[new], a["session"]),
        eq(post.token_groups[new], listed | logon_slot),
        eq(post.token_g_logon[new], logon_slot),
        subset(logon_slot, post.token_g_mandatory[new] & post.token_g_enabled[new] & post.token_g_default[new]),
        *(implies(eq(n, BV(i, D.INDEX_W)), eq(post.group_sid(new, i), logon)) for i in range(D.GROUP_SLOTS)),
        *(implies(ult(BV(i, D.INDEX_W), n), eq(post.group_sid(new, i), a[f"g{i}"])) for i in range(CALLER_GROUPS)),
        eq(post.token_privs_present[new], present),
        eq(post.token_privs_enabled[new], a["privs_enabled"] & present),
        eq(post.token_privs_default[new], post.token_privs_enabled[new]),
        eq(post.token_privs_used[new], 0),
        eq(post.token_modified_id[new], 0), eq(post.token_elevation[new], D.ELEV_DEFAULT)))


# ====================================================================== the three creations (§4.4)
def _duplicate_decision(pre, step):
    """KACS_IOC_DUPLICATE's AccessCheck (IOCTL-20): the caller's effective token against the new token's
    fresh default SD (§4.8: owner and creator ACE = the calling process's user; self ACE = the new token's
    user: the source's, or S-1-5-7 for an Impersonation target at Anonymous level, IOCTL-19) for the
    desired mask."""
    a, src, th = step.args, fd_token(pre, step), step.actor
    anonymous = and_(not_(a["primary"]), eq(a["level"], D.ANONYMOUS))
    user = ite(anonymous, pre.sid(D.SID_ANONYMOUS), pre.token_user[src])
    sd = default_token_sd(pre, pre.token_user[real_of(pre, th)], user)
    return access_check(pre, effective_of(pre, th), sd, a["access_mask"], D.TOKEN_MAPPING)



CREATIONS: dict[str, str] = {"kacs_create_token": "fd", "ioctl_duplicate": "new_fd", "ioctl_restrict": "new_fd"}


@prop("new-tokens-take-the-next-token-id",
      "A token made by kacs_create_token, KACS_IOC_DUPLICATE or KACS_IOC_RESTRICT is a new live object whose "
      "id is the token-id counter's value, and the counter advances by one.",
      kind="transition", sections=("§4.4", "§4.2"), clauses=("CREATE-04", "CREATE-22", "CREATE-32"),
      expect=NT_SAME, rules=tuple(sorted(CREATIONS)),
      mutants=("duplicate-forgets-to-advance-the-token-id", "create-token-forgets-to-advance-the-token-id"))
def new_token_ids(pre, post, step):
    """§4.4: every creation generates a new token_guid ("new UUIDv4": CREATE-04, CREATE-22, CREATE-32);
    the model draws it from a counter, so ids are never reused."""
    if step.rule not in CREATIONS:
        return True
    new = step.args["new_token"]
    return implies(ok(step), and_(not_(pre.token_alive[new]), post.token_alive[new],
                                  takes_next_token_id(pre, post, new)))


@prop("new-tokens-mark-their-logon-session-as-used",
      "After a successful kacs_create_token, KACS_IOC_DUPLICATE or KACS_IOC_RESTRICT, the new token's "
      "LogonSession is marked as having had a token.",
      kind="transition", sections=("§4.7", "§4.4"), clauses=("SESS-03",), expect=NT_SAME,
      rules=tuple(sorted(CREATIONS)), mutants=("create-token-forgets-the-session-had-a-token",))
def new_tokens_mark_session(pre, post, step):
    """§4.7: a LogonSession is destroyed "when the last token referencing a LogonSession is freed"
    (SESS-03), while one that no token ever referenced is only removed by
    kacs_destroy_empty_logon_session: the kernel must remember that a token became live for it."""
    if step.rule not in CREATIONS:
        return True
    new = step.args["new_token"]
    return implies(ok(step), post.sess_had_token[post.token_session[new]])


def _new_fd_mask(pre, post, step):
    """The mask the spec gives the new fd: TOKEN_ALL_ACCESS (CreateToken, CREATE-16), the source fd's mask
    (FilterToken, IOCTL-31), or what AccessCheck of the caller's effective token against the new token's
    SD granted for the desired mask (DuplicateToken, IOCTL-20)."""
    if step.rule == "kacs_create_token":
        return D.TOKEN_ALL_ACCESS
    p = pre.thread_proc[step.actor]
    if step.rule == "ioctl_restrict":
        return pre.fd_mask[p, step.args["fd"]]
    # the new token's fresh default SD (§4.8): creator = the calling process's user, self = the new token's user
    th, new = step.actor, step.args["new_token"]
    sd = default_token_sd(pre, pre.token_user[real_of(pre, th)], post.token_user[new])
    return handle_mask(access_check(pre, effective_of(pre, th), sd, step.args["access_mask"], D.TOKEN_MAPPING))


@prop("new-token-fds-are-open-on-the-new-token-with-the-specified-mask",
      "The fd returned by a successful kacs_create_token, KACS_IOC_DUPLICATE or KACS_IOC_RESTRICT is open "
      "on the new token and caches TOKEN_ALL_ACCESS (CreateToken), the source fd's mask (FilterToken) or "
      "the access AccessCheck granted the caller on the new token's default SD (DuplicateToken).",
      kind="transition", sections=("§4.4", "§4.8", "Appendix A §1", "Appendix A §2"),
      clauses=("CREATE-16", "IOCTL-20", "IOCTL-31", "RIGHTS-16"), expect=NT_SAME, rules=tuple(sorted(CREATIONS)),
      mutants=("create-token-caches-a-stale-mask", "restrict-caches-a-stale-mask", "duplicate-leaves-its-fd-closed"))
def new_token_fds(pre, post, step):
    """§4.4 CreateToken: "the returned handle always carries the fixed cached access mask
    TOKEN_ALL_ACCESS" (CREATE-16); Appendix A §2 KACS_IOC_RESTRICT: "Returns a new token fd with the same
    per-handle access mask as the source token fd" (IOCTL-31); KACS_IOC_DUPLICATE: "The desired access
    mask for the new handle is checked against the new token's SD ... The caller's effective token is
    the subject" (IOCTL-20); §4.8: the handle caches the granted mask (RIGHTS-16)."""
    arg = CREATIONS.get(step.rule)
    if arg is None:
        return True
    p, h = pre.thread_proc[step.actor], step.args[arg]
    return implies(ok(step), and_(post.fd_open[p, h], eq(post.fd_token[p, h], step.args["new_token"]),
                                  eq(post.fd_mask[p, h], _new_fd_mask(pre, post, step))))


@prop("new-token-sds-are-owned-by-the-caller-process-user",
      "The SD of a token made by kacs_create_token, KACS_IOC_DUPLICATE or KACS_IOC_RESTRICT is owned by the "
      "user of the caller's real (process) token, also while the caller impersonates.",
      kind="transition", sections=("§4.8", "§4.4"), clauses=("CREATE-04", "CREATE-22", "CREATE-32"),
      expect=NT_SAME, rules=tuple(sorted(CREATIONS)),
      mutants=("restrict-names-the-effective-user-as-creator", "duplicate-names-the-effective-user-as-creator"))
def new_token_sd_owner(pre, post, step):
    """§4.8 Default token SD: "Owner: the creating process's user SID"; every creation gets a new default
    SD (CREATE-04, CREATE-22, CREATE-32)."""
    if step.rule not in CREATIONS:
        return True
    return implies(ok(step), eq(post.token_sd_owner[step.args["new_token"]],
                                pre.token_user[real_of(pre, step.actor)]))


# ====================================================================== DuplicateToken (§4.4)
@prop("duplicate-refuses-raised-levels-and-denied-access",
      "KACS_IOC_DUPLICATE on an open fd carrying TOKEN_DUPLICATE fails when an Impersonation token would be "
      "duplicated to a higher Impersonation level; otherwise, for a target that is neither an Impersonation "
      "token at Anonymous level nor a Primary duplicate of an Impersonation token, it fails with EACCES when "
      "AccessCheck of the caller's effective token against the new token's default SD denies the desired "
      "access, and succeeds when it allows it.",
      kind="transition", sections=("§4.4", "§4.8", "Appendix A §2"), clauses=("CREATE-20", "IOCTL-17", "IOCTL-20"),
      expect=NT_SAME, rules=("ioctl_duplicate",),
      mutants=("duplicate-skips-the-desired-access-check", "duplicate-refuses-same-level-copies"),
      note="The two excluded targets are where NT differs (nt-reference.md §4): NtDuplicateToken keeps the "
           "source identity at SecurityAnonymous (so the SD names another user; KACS strips it, IOCTL-19, see "
           "anonymous-duplicates-carry-the-anonymous-identity) and refuses a Primary duplicate of an "
           "impersonation token below Impersonation; it also answers STATUS_BAD_IMPERSONATION_LEVEL where "
           "KACS answers EINVAL for a raised level (DECISIONS.md), hence 'fails'.")
def duplicate_errno(pre, post, step):
    """§4.4 DuplicateToken: "when the source token is an impersonation token and the duplicate target type
    is also Impersonation, the new level MUST be equal to or lower than the source token's level"
    (CREATE-20, IOCTL-17); Appendix A §2: "The desired access mask for the new handle is checked against
    the new token's SD (which is a freshly generated default SD). The caller's effective token is the
    subject" (IOCTL-20); §4.8: the default SD's owner/creator is the calling process's user."""
    if step.rule != "ioctl_duplicate":
        return True
    a, src = step.args, fd_token(pre, step)
    imp_src = not_(pre.token_primary[src])
    raises = and_(not_(a["primary"]), imp_src, ugt(a["level"], pre.token_level[src]))
    excluded = or_(and_(not_(a["primary"]), eq(a["level"], D.ANONYMOUS)), and_(a["primary"], imp_src))
    allowed = _duplicate_decision(pre, step).allowed
    return implies(fd_has(pre, step, "fd", D.TOKEN_DUPLICATE), and_(
        implies(raises, ne(step.errno, D.OK)),
        implies(and_(not_(raises), not_(excluded)), eq(step.errno, ite(allowed, D.OK, D.EACCES)))))


# ====================================================================== FilterToken (§4.4)
def _kept_rsids(pre, src, a):
    """CREATE-33: the provided restricting SID slots, intersected with the source's list when the source
    was restricted."""
    kept = BV(0, D.RSID_W)
    for i in range(D.RSID_SLOTS):
        in_source = or_(*(and_(bit_of(pre.token_rsids[src], j), eq(a[f"r{i}"], pre.rsid(src, j)))
                          for j in range(D.RSID_SLOTS)))
        keep = and_(bit_of(a["r_mask"], i), implies(pre.token_restricted[src], in_source))
        kept = ite(keep, kept | BV(1 << i, D.RSID_W), kept)
    return kept


@prop("restrict-fails-with-einval-exactly-on-an-invalid-request",
      "KACS_IOC_RESTRICT on an open fd carrying TOKEN_DUPLICATE fails with EINVAL when the payload does not "
      "parse exactly, a deny-only index is not a group of the source, a provided restricting SID is "
      "malformed, or the source is restricted and shares no restricting SID with the provided list; "
      "otherwise it succeeds.",
      kind="transition", sections=("§4.4", "Appendix A §2"), clauses=("CREATE-29", "CREATE-30", "CREATE-31",
                                                                      "IOCTL-30"),
      expect=NT_SAME, rules=("ioctl_restrict",),
      mutants=("restrict-accepts-foreign-deny-indices", "restrict-matches-restricting-sids-with-ne",
               "restrict-accepts-malformed-restricting-sids", "restrict-skips-the-intersection-check"))
def restrict_errno(pre, post, step):
    """§4.4 FilterToken: "input validation is all-or-nothing ... duplicate or out-of-range indices are
    invalid. The restricting SID blob MUST parse exactly ... If any entry is malformed, no token is
    created" (CREATE-29/30); "If the source token is already restricted and the intersection ... is
    empty, the request is invalid" (CREATE-31); Appendix A §2 (IOCTL-30)."""
    if step.rule != "ioctl_restrict":
        return True
    a, src = step.args, fd_token(pre, step)
    bad_sid = pre.sid(D.MALFORMED_SID)
    bad = or_(not_(a["payload_ok"]), not_(subset(a["deny_mask"], pre.token_groups[src])),
              *(and_(bit_of(a["r_mask"], i), eq(a[f"r{i}"], bad_sid)) for i in range(D.RSID_SLOTS)),
              and_(pre.token_restricted[src], eq(_kept_rsids(pre, src, a), 0)))
    return implies(fd_has(pre, step, "fd", D.TOKEN_DUPLICATE), eq(step.errno, ite(bad, D.EINVAL, D.OK)))


@prop("restrict-builds-the-filtered-token-from-its-source",
      "A token made by KACS_IOC_RESTRICT has its source's groups with the listed ones made deny-only and "
      "disabled, its source's privileges minus the deleted ones with none used, the provided restricting "
      "SIDs (intersected with the source's when it was restricted), write_restricted if requested or "
      "already set, and user_deny_only if write-restricted or already set.",
      kind="transition", sections=("§4.4", "Appendix A §2"), clauses=("CREATE-25", "CREATE-26", "CREATE-28",
                                                                      "CREATE-32", "CREATE-33", "CREATE-34"),
      expect=NT_SAME, rules=("ioctl_restrict",), mutants=("restrict-reads-ne-as-eq",))
def restrict_contents(pre, post, step):
    """§4.4 FilterToken fields on the new token: groups "Per-group attributes modified per the deny-only
    list"; privileges "modified per the removal list. used reset to 0" (CREATE-32); restricted_sids "set
    from the provided restricting SID list. If the source was already restricted, the new list is the
    intersection" (CREATE-33); write_restricted "set if requested, OR sticky from source"; user_deny_only
    "set to true when write_restricted is enabled. Otherwise, copied from source" (CREATE-28/34)."""
    if step.rule != "ioctl_restrict":
        return True
    a, src, new = step.args, fd_token(pre, step), step.args["new_token"]
    deny, gone = a["deny_mask"], a["remove_privs"]
    wr = or_(a["write_restricted"], pre.token_write_restricted[src])
    return implies(ok(step), and_(
        eq(post.token_groups[new], pre.token_groups[src]),
        eq(post.token_g_deny_only[new], pre.token_g_deny_only[src] | deny),
        eq(post.token_g_enabled[new], clear(pre.token_g_enabled[src], deny)),
        eq(post.token_privs_present[new], clear(pre.token_privs_present[src], gone)),
        eq(post.token_privs_enabled[new], clear(pre.token_privs_enabled[src], gone)),
        eq(post.token_privs_default[new], clear(pre.token_privs_default[src], gone)),
        eq(post.token_privs_used[new], 0),
        eq(post.token_restricted[new], or_(pre.token_restricted[src], ne(a["r_mask"], 0))),
        eq(post.token_rsids[new], _kept_rsids(pre, src, a)),
        eq(post.token_write_restricted[new], wr),
        eq(post.token_user_deny_only[new], or_(wr, pre.token_user_deny_only[src]))))


# ====================================================================== reviewed survivors
# "rule/operator-i" -> ("equivalent" | "gap", why); merged by the lead into tokenproof.killmatrix.SURVIVORS.
SURVIVORS_ADJUSTMENT: dict[str, tuple[str, str]] = {
    # ---------------------------------------------------------------- equivalent
    "kacs_create_token/drop-guard-11": (
        "equivalent", "validation 10 (groups_count + 1 <= 64) can never fail in the model: the rule assumes the "
        "model bound groups_count <= 7 (DECISIONS.md slots), and ule(n, 7) and not ule(n, 63) is unsat for an "
        "8-bit n (z3)."),
    "ioctl_duplicate/skip-effect-2": (
        "equivalent", "the skipped write marks the new token's LogonSession as having had a token; it is always "
        "marked already: the new token shares the session of its live source (or is in the ANONYMOUS session, "
        "which holds the live Anonymous token) and every-live-tokens-logon-session-is-marked-as-having-had-a-token is "
        "proved; the transition statement 'a successful duplicate or restrict finds pre.sess_had_token[new "
        "token's session] already set' proves with the InductionProver from that lemma and TOKEN_SOURCE_LEMMAS "
        "(a one-off check, 2026-12-05), so the write never changes the state."),
    "ioctl_restrict/skip-effect-2": (
        "equivalent", "as ioctl_duplicate/skip-effect-2: a filtered token is in its live source's LogonSession, "
        "which is already marked (every-live-tokens-logon-session-is-marked-as-having-had-a-token; the no-op was proved "
        "by the same one-off induction)."),
}


__all__ = ["ADJUSTS", "CREATIONS", "SURVIVORS_ADJUSTMENT"]
