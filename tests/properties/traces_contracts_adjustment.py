"""Concrete traces (standard world) for the seeded mutants of ``properties/contracts_adjustment.py``:
mutant name -> (property id, steps); merged into ``test_mutants_concrete.MUTANT_TRACES``.

Standard world ids: processes init=1 shell=2 bobsh=3 server=4; tokens system=1 anonymous=2 alice=3
bob=4 svc=5; sessions system=1 .. svc=5; new fds from 3, new sessions from 6.  SYSTEM's token has
groups in slots 0-3 (slot 0 with SE_GROUP_OWNER, all mandatory), every privilege enabled; alice's has
SeChangeNotifyPrivilege enabled.  The arg builders are copied from test_mutants_concrete (importing it
here would be an import cycle)."""

from __future__ import annotations

from model import domain as D
from tests.properties.trace_args import adjust_default, adjust_groups, adjust_privs, create_args, restrict_args

MAX = int(D.MAXIMUM_ALLOWED)
NULL = D.SID_NULL
IMP = int(D.IMPERSONATION)


OPEN_MAX = ("kacs_open_self_token", {"real": False, "access_mask": MAX})
INIT_OPENS = [("init", *OPEN_MAX)]
SH1_OPENS = [("sh1", *OPEN_MAX)]
# init (SYSTEM) opens its own token (fd 3), then impersonates alice through a socket alice's shell connects
INIT_OPENS_THEN_IMPERSONATES_ALICE = INIT_OPENS + [("sh1", "socket_create", {"server": 1, "capturing": True}),
                                                   ("sh1", "socket_connect", {"socket": 1}),
                                                   ("init", "kacs_impersonate_peer", {"socket": 1})]
# init mints a token with one caller group (Users, not mandatory, disabled): fd 3 on it
INIT_MINTS_ONE_GROUP = [("init", "kacs_create_token", create_args(g0=D.SID_USERS, group_count=1))]

TRACES: dict = {
    # kacs_privilege_check
    "privilege-check-ignores-missing-privileges": (
        "privilege-check-succeeds-exactly-when-every-privilege-is-held",
        [("sh1", "kacs_privilege_check", {"privileges": int(D.SE_TCB)})]),
    "privilege-check-marks-nothing-used": (
        "privilege-check-marks-exactly-the-checked-privileges-used",
        [("sh1", "kacs_privilege_check", {"privileges": int(D.SE_CHANGE_NOTIFY)})]),
    # AdjustSessionID
    "adjust-scope-skips-the-tcb-check": (
        "adjust-scope-fails-with-eperm-exactly-without-tcb-on-the-real-token",
        # init removes SeTcbPrivilege from its own (real) token, then adjusts a duplicate's scope
        INIT_OPENS + [("init", "ioctl_duplicate", {"fd": 3, "primary": True, "level": 0, "access_mask": MAX}),
                      ("init", "ioctl_adjust_privs", adjust_privs(3, remove=int(D.SE_TCB))),
                      ("init", "ioctl_adjust_interactivity_scope", {"fd": 4, "scope": 1})]),
    "adjust-scope-forgets-to-mark-tcb-used": (
        "adjust-scope-sets-the-scope-and-marks-tcb-used",
        INIT_OPENS + [("init", "ioctl_adjust_interactivity_scope", {"fd": 3, "scope": 1})]),
    "adjust-scope-forgets-the-scope": (
        "adjust-scope-sets-the-scope-and-marks-tcb-used",
        INIT_OPENS + [("init", "ioctl_adjust_interactivity_scope", {"fd": 3, "scope": 1})]),
    "adjust-scope-drops-enabled-privileges": (
        "adjustments-change-only-their-own-kind-of-token-state",
        INIT_OPENS + [("init", "ioctl_adjust_interactivity_scope", {"fd": 3, "scope": 1})]),
    # AdjustDefault
    "adjust-default-accepts-any-owner": (
        "adjust-default-fails-with-einval-exactly-on-an-invalid-index",
        INIT_OPENS + [("init", "ioctl_adjust_default", adjust_default(3, set_owner=True, owner_index=2))]),
    "adjust-default-accepts-any-primary-group": (
        "adjust-default-fails-with-einval-exactly-on-an-invalid-index",
        INIT_OPENS + [("init", "ioctl_adjust_default", adjust_default(3, set_group=True, group_index=8))]),
    "adjust-default-forgets-the-dacl": (
        "adjust-default-sets-exactly-the-requested-defaults",
        INIT_OPENS + [("init", "ioctl_adjust_default", adjust_default(3, set_dacl=True, dacl=5))]),
    "adjust-default-forgets-the-owner": (
        "adjust-default-sets-exactly-the-requested-defaults",
        INIT_OPENS + [("init", "ioctl_adjust_default", adjust_default(3, set_owner=True, owner_index=1))]),
    "adjust-default-forgets-the-primary-group": (
        "adjust-default-sets-exactly-the-requested-defaults",
        INIT_OPENS + [("init", "ioctl_adjust_default", adjust_default(3, set_group=True, group_index=2))]),
    # AdjustGroups
    "adjust-groups-accepts-an-empty-request": (
        "adjust-groups-fails-with-einval-exactly-on-an-invalid-request",
        SH1_OPENS + [("sh1", "ioctl_adjust_groups", adjust_groups(3))]),
    "adjust-groups-accepts-foreign-indices": (
        "adjust-groups-fails-with-einval-exactly-on-an-invalid-request",
        INIT_MINTS_ONE_GROUP + [("init", "ioctl_adjust_groups", adjust_groups(3, enable=0b100))]),
    "adjust-groups-forgets-the-enabled-mask": (
        "adjust-groups-enables-exactly-the-requested-groups",
        INIT_MINTS_ONE_GROUP + [("init", "ioctl_adjust_groups", adjust_groups(3, enable=0b1))]),
    # AdjustPrivileges
    "adjust-privs-accepts-malformed-entries": (
        "adjust-privs-rejects-malformed-requests-and-absent-enables",
        SH1_OPENS + [("sh1", "ioctl_adjust_privs", adjust_privs(3, disable=int(D.SE_CHANGE_NOTIFY),
                                                                entries_ok=False))]),
    "adjust-privs-accepts-overlapping-entries": (
        "adjust-privs-rejects-malformed-requests-and-absent-enables",
        SH1_OPENS + [("sh1", "ioctl_adjust_privs", adjust_privs(3, disable=int(D.SE_CHANGE_NOTIFY),
                                                                remove=int(D.SE_CHANGE_NOTIFY)))]),
    "adjust-privs-remove-keeps-present": (
        "adjust-privs-applies-exactly-the-requested-changes",
        SH1_OPENS + [("sh1", "ioctl_adjust_privs", adjust_privs(3, remove=int(D.SE_CHANGE_NOTIFY)))]),
    # CreateToken
    "create-token-accepts-malformed-sids": (
        "create-token-validates-the-request-in-the-spec-order",
        [("init", "kacs_create_token", create_args(user=D.MALFORMED_SID))]),
    "create-token-accepts-any-owner-index": (
        "create-token-validates-the-request-in-the-spec-order",
        [("init", "kacs_create_token", create_args(g0=D.SID_USERS, group_count=1, owner_index=1))]),
    "create-token-accepts-a-missing-session": (
        "create-token-validates-the-request-in-the-spec-order",
        [("init", "kacs_create_token", create_args(session=7))]),
    "create-token-forgets-to-mark-its-privilege-used": (
        "create-token-marks-se-create-token-used-once-its-gate-accepts",
        [("init", "kacs_create_token", create_args())]),
    "create-token-lists-one-group-too-many": (
        "create-token-builds-the-token-from-the-request", INIT_MINTS_ONE_GROUP),
    "create-token-forgets-to-advance-the-token-id": (
        "new-tokens-take-the-next-token-id", [("init", "kacs_create_token", create_args())]),
    "create-token-forgets-the-session-had-a-token": (
        "new-tokens-mark-their-logon-session-as-used",
        [("init", "kacs_create_logon_session", {}), ("init", "kacs_create_token", create_args(session=6))]),
    "create-token-caches-a-stale-mask": (
        "new-token-fds-are-open-on-the-new-token-with-the-specified-mask",
        [("init", "kacs_create_token", create_args())]),
    # DuplicateToken
    "duplicate-skips-the-desired-access-check": (
        "duplicate-refuses-raised-levels-and-denied-access",
        INIT_OPENS_THEN_IMPERSONATES_ALICE + [("init", "ioctl_duplicate", {"fd": 3, "primary": True, "level": 0,
                                                                           "access_mask": int(D.TOKEN_QUERY)})]),
    "duplicate-forgets-to-advance-the-token-id": (
        "new-tokens-take-the-next-token-id",
        INIT_OPENS + [("init", "ioctl_duplicate", {"fd": 3, "primary": True, "level": 0, "access_mask": MAX})]),
    "duplicate-leaves-its-fd-closed": (
        "new-token-fds-are-open-on-the-new-token-with-the-specified-mask",
        INIT_OPENS + [("init", "ioctl_duplicate", {"fd": 3, "primary": True, "level": 0, "access_mask": MAX})]),
    # FilterToken
    "restrict-accepts-foreign-deny-indices": (
        "restrict-fails-with-einval-exactly-on-an-invalid-request",
        INIT_OPENS + [("init", "ioctl_restrict", restrict_args(3, deny_mask=0b10000000))]),
    "restrict-caches-a-stale-mask": (
        "new-token-fds-are-open-on-the-new-token-with-the-specified-mask",
        INIT_OPENS + [("init", "ioctl_restrict", restrict_args(3))]),
    "restrict-names-the-effective-user-as-creator": (
        "new-token-sds-are-owned-by-the-caller-process-user",
        INIT_OPENS_THEN_IMPERSONATES_ALICE + [("init", "ioctl_restrict", restrict_args(3))]),
    "restrict-reads-ne-as-eq": (
        "restrict-builds-the-filtered-token-from-its-source",
        INIT_OPENS + [("init", "ioctl_restrict", restrict_args(3))]),
}

# init restricts its token to SYSTEM: fd 4 names a restricted token
INIT_RESTRICTS_TO_SYSTEM = INIT_OPENS + [("init", "ioctl_restrict", restrict_args(3, r0=D.SID_SYSTEM, r_mask=1))]
ADJ_GROUPS_ERRNO = "adjust-groups-fails-with-einval-exactly-on-an-invalid-request"
RESTRICT_ERRNO = "restrict-fails-with-einval-exactly-on-an-invalid-request"
CREATE_ERRNO = "create-token-validates-the-request-in-the-spec-order"
# the generated mutants no kill-matrix oracle reaches (SURVIVORS_ADJUSTMENT): same operator, a trace that reaches them
TRACES.update({
    "adjust-groups-accepts-malformed-entries": (
        ADJ_GROUPS_ERRNO, INIT_MINTS_ONE_GROUP + [("init", "ioctl_adjust_groups",
                                                   adjust_groups(3, enable=1, entries_ok=False))]),
    "adjust-groups-accepts-overlapping-entries": (
        ADJ_GROUPS_ERRNO, INIT_MINTS_ONE_GROUP + [("init", "ioctl_adjust_groups",
                                                   adjust_groups(3, enable=1, disable=1))]),
    "adjust-groups-lets-the-user-sid-be-disabled": (
        ADJ_GROUPS_ERRNO, [("init", "kacs_create_token", create_args(g0=D.SID_SYSTEM, group_count=1, g_enabled=1)),
                           ("init", "ioctl_adjust_groups", adjust_groups(3, disable=1))]),
    "adjust-privs-rejects-a-lone-reset": (
        "adjust-privs-rejects-malformed-requests-and-absent-enables",
        SH1_OPENS + [("sh1", "ioctl_adjust_privs", adjust_privs(3, reset=True))]),
    "duplicate-refuses-same-level-copies": (
        "duplicate-refuses-raised-levels-and-denied-access",
        INIT_OPENS + [("init", "ioctl_duplicate", {"fd": 3, "primary": False, "level": IMP, "access_mask": MAX}),
                      ("init", "ioctl_duplicate", {"fd": 4, "primary": False, "level": IMP, "access_mask": MAX})]),
    "duplicate-names-the-effective-user-as-creator": (
        "new-token-sds-are-owned-by-the-caller-process-user",
        INIT_OPENS_THEN_IMPERSONATES_ALICE + [("init", "ioctl_duplicate", {"fd": 3, "primary": True, "level": 0,
                                                                           "access_mask": MAX})]),
    "restrict-matches-restricting-sids-with-ne": (
        RESTRICT_ERRNO, INIT_RESTRICTS_TO_SYSTEM + [("init", "ioctl_restrict",
                                                     restrict_args(4, r0=D.SID_SYSTEM, r_mask=1))]),
    "restrict-accepts-malformed-restricting-sids": (
        RESTRICT_ERRNO, INIT_OPENS + [("init", "ioctl_restrict", restrict_args(3, r0=D.MALFORMED_SID, r_mask=1))]),
    "restrict-skips-the-intersection-check": (
        RESTRICT_ERRNO, INIT_RESTRICTS_TO_SYSTEM + [("init", "ioctl_restrict",
                                                     restrict_args(4, r0=D.SID_EVERYONE, r_mask=1))]),
    "create-token-accepts-any-primary-group-index": (
        CREATE_ERRNO, [("init", "kacs_create_token", create_args(group_index=1))]),
    "create-token-accepts-the-logon-sid-among-groups": (
        CREATE_ERRNO, [("init", "kacs_create_token", create_args(g0="S-1-5-5-0-999", group_count=1))]),
    "create-token-accepts-isolation-without-confinement": (
        CREATE_ERRNO, [("init", "kacs_create_token", create_args(isolation=True))]),
})
