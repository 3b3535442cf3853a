"""Concrete traces (standard world) for the seeded mutants of ``properties/contracts_authority.py``:
mutant name -> (property id, steps); merged into ``test_mutants_concrete.MUTANT_TRACES``.

Standard world ids (model/scenarios.py): processes init=1 shell=2 bobsh=3 server=4; tokens system=1
anonymous=2 alice=3 bob=4 svc=5; sessions system=1 anonymous=2 alice=3 bob=4 svc=5; new fds from 3,
new sockets from 1, new sessions from 6, a forked process from 5.
"""

from model import domain as D
from model.scenarios import ALICE, BOB
from tests.properties.trace_args import create_args, restrict_args

MAX = int(D.MAXIMUM_ALLOWED)
IMP, IDENT = int(D.IMPERSONATION), int(D.IDENTIFICATION)
NULL = D.SID_NULL
ASSIGN = int(D.SE_ASSIGN_PRIMARY)


OPEN_MAX = ("kacs_open_self_token", {"real": False, "access_mask": MAX})
DUP_PRIMARY = ("ioctl_duplicate", {"fd": 3, "primary": True, "level": 0, "access_mask": MAX})
DUP_IMP = ("ioctl_duplicate", {"fd": 3, "primary": False, "level": IMP, "access_mask": MAX})
# svc's server (srv1, SeImpersonatePrivilege) impersonates bob at Impersonation: a copy is made
SRV_IMPERSONATES_BOB = [("bob1", "socket_create", {"server": 4, "capturing": True}),
                        ("bob1", "socket_connect", {"socket": 1}),
                        ("srv1", "kacs_impersonate_peer", {"socket": 1})]
# SYSTEM's init impersonates bob (no SeTcbPrivilege on the effective token), socket 1
INIT_IMPERSONATES_BOB = [("bob1", "socket_create", {"server": 1, "capturing": True}),
                         ("bob1", "socket_connect", {"socket": 1}),
                         ("init", "kacs_impersonate_peer", {"socket": 1})]
INIT_DUP_PRIMARY = [("init", *OPEN_MAX), ("init", *DUP_PRIMARY)]
# fds 3 (SYSTEM), 4 and 5 (primary copies), pair (4, 5) registered on SYSTEM's session
INIT_LINKED_PAIR = [("init", *OPEN_MAX), ("init", *DUP_PRIMARY), ("init", *DUP_PRIMARY),
                    ("init", "ioctl_link_tokens", {"elevated_fd": 4, "filtered_fd": 5, "session": 1})]
# init's child (thread 7, process 5) runs alice's identity with only SeAssignPrimaryTokenPrivilege
# (no SeTcbPrivilege); it inherits init's fds 3 (SYSTEM) and 4 (that alice token)
CHILD_ASSIGNER = [("init", *OPEN_MAX),
                  ("init", "kacs_create_token", create_args(user=ALICE, session=1, privs_present=ASSIGN,
                                                            privs_enabled=ASSIGN)),
                  ("init", "fork", {"child_thread": 7}),
                  (7, "ioctl_install", {"fd": 4})]

TRACES: dict = {
    # ------------------------------------------------------------ impersonation
    "impersonate-peer-serves-foreign-sockets": (
        "impersonate-peer-fails-with-ebadf-then-eacces-and-eperm-only-for-the-hard-deny",
        SRV_IMPERSONATES_BOB[:2] + [("sh1", "kacs_impersonate_peer", {"socket": 1})]),
    "impersonate-peer-without-a-snapshot": (
        "impersonate-peer-fails-with-ebadf-then-eacces-and-eperm-only-for-the-hard-deny",
        [("bob1", "socket_create", {"server": 4, "capturing": False}), ("bob1", "socket_connect", {"socket": 1}),
         ("srv1", "kacs_impersonate_peer", {"socket": 1})]),
    "impersonate-peer-skips-the-hard-deny": (
        "impersonation-outcome-is-decided-by-the-two-gates-on-the-primary",
        [("init", *OPEN_MAX), ("init", "ioctl_restrict", restrict_args(3, r0=D.SID_SYSTEM, r_mask=1)),
         ("init", "fork", {"child_thread": 7}), (7, "ioctl_install", {"fd": 4}),
         ("init", "socket_create", {"server": 5, "capturing": True}), ("init", "socket_connect", {"socket": 1}),
         (7, "kacs_impersonate_peer", {"socket": 1})]),
    "impersonate-peer-reuses-the-token-id": (
        "new-tokens-of-impersonation-and-linked-queries-take-the-next-token-id", SRV_IMPERSONATES_BOB),
    "impersonate-peer-forgets-to-impersonate": (
        "successful-impersonation-installs-the-client-identity-at-a-permitted-level", SRV_IMPERSONATES_BOB),
    "impersonate-peer-forgets-se-impersonate-used": (
        "se-impersonate-is-marked-used-when-it-lets-a-server-act-as-another-identity", SRV_IMPERSONATES_BOB),
    "ioctl-impersonate-accepts-primary-tokens": (
        "ioctl-impersonate-refuses-primary-tokens-with-einval-and-eperm-only-for-the-hard-deny",
        [("init", *OPEN_MAX), ("init", "ioctl_impersonate", {"fd": 3})]),
    "ioctl-impersonate-keeps-the-old-token": (
        "successful-impersonation-installs-the-client-identity-at-a-permitted-level",
        [("init", *OPEN_MAX), ("init", *DUP_IMP), ("init", "ioctl_impersonate", {"fd": 4})]),
    "ioctl-impersonate-gates-on-the-effective-token": (
        "impersonation-outcome-is-decided-by-the-two-gates-on-the-primary",
        [("init", "kacs_open_process_token", {"target": 2, "access_mask": MAX}), ("init", *DUP_IMP)]
        + INIT_IMPERSONATES_BOB + [("init", "ioctl_impersonate", {"fd": 4})]),
    "ioctl-impersonate-forgets-se-impersonate-used": (
        "se-impersonate-is-marked-used-when-it-lets-a-server-act-as-another-identity",
        [("init", "kacs_open_process_token", {"target": 2, "access_mask": MAX}), ("init", *DUP_IMP),
         ("init", "ioctl_impersonate", {"fd": 4})]),
    "set-impersonation-level-after-connect": (
        "set-impersonation-level-applies-only-to-unconnected-sockets",
        [("sh2", "socket_create", {"server": 4, "capturing": True}), ("sh2", "socket_connect", {"socket": 1}),
         ("sh2", "kacs_set_impersonation_level", {"socket": 1, "level": IDENT})]),
    "set-impersonation-level-is-ignored": (
        "set-impersonation-level-applies-only-to-unconnected-sockets",
        [("sh2", "socket_create", {"server": 4, "capturing": True}),
         ("sh2", "kacs_set_impersonation_level", {"socket": 1, "level": IDENT})]),
    "revert-keeps-impersonating": (
        "revert-always-succeeds-and-leaves-the-thread-on-its-primary",
        SRV_IMPERSONATES_BOB + [("srv1", "kacs_revert", {})]),
    # ------------------------------------------------------------ primary replacement
    "install-ignores-the-user-check": (
        "install-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
        CHILD_ASSIGNER + [(7, "ioctl_install", {"fd": 3})]),
    "install-ignores-the-session-check": (
        "install-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
        [("init", "kacs_create_token", create_args(user=ALICE, session=1, privs_present=ASSIGN,
                                                   privs_enabled=ASSIGN)),
         ("init", "kacs_create_token", create_args(user=ALICE, session=3)),
         ("init", "fork", {"child_thread": 7}), (7, "ioctl_install", {"fd": 3}), (7, "ioctl_install", {"fd": 4})]),
    "install-judges-on-the-effective-token": (
        "install-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
        INIT_DUP_PRIMARY + INIT_IMPERSONATES_BOB + [("init", "ioctl_install", {"fd": 4})]),
    "install-forgets-tcb-used": (
        "install-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
        [("init", "kacs_open_process_token", {"target": 2, "access_mask": MAX}),
         ("init", "ioctl_install", {"fd": 3})]),
    "install-keeps-the-old-real-token": (
        "install-commits-the-token-for-the-whole-process", INIT_DUP_PRIMARY + [("init", "ioctl_install", {"fd": 4})]),
    "install-keeps-the-process-sd": (
        "install-commits-the-token-for-the-whole-process",
        [("init", "kacs_open_process_token", {"target": 2, "access_mask": MAX}),
         ("init", "ioctl_install", {"fd": 3})]),
    "install-work-stays-pending": (
        "install-work-lands-the-committed-primary-and-is-done",
        [("init", "clone_thread", {"new_thread": 7})] + INIT_DUP_PRIMARY
        + [("init", "ioctl_install", {"fd": 4}), (7, "install_converge", {})]),
    "external-replace-ignores-the-session-check": (
        "external-replacement-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
        [("init", "kacs_create_token", create_args(user=ALICE, session=3, privs_present=ASSIGN,
                                                   privs_enabled=ASSIGN)),
         ("init", "kacs_create_token", create_args(user=ALICE, session=1)),
         ("init", "fork", {"child_thread": 7}), (7, "ioctl_install", {"fd": 3}),
         (7, "external_replace_primary", {"target": 2, "fd": 4})]),
    "external-replace-judges-on-the-effective-token": (
        "external-replacement-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
        [("init", *OPEN_MAX)] + INIT_IMPERSONATES_BOB
        + [("init", "external_replace_primary", {"target": 3, "fd": 3})]),
    "external-replace-reaches-dead-processes": (
        "external-replacement-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
        [("init", *OPEN_MAX), ("init", "fork", {"child_thread": 7}), (7, "process_exit", {}),
         ("init", "external_replace_primary", {"target": 5, "fd": 3})]),
    "external-replace-ignores-the-user-check": (
        "external-replacement-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
        [("init", "kacs_create_token", create_args(user=ALICE, session=3, privs_present=ASSIGN,
                                                   privs_enabled=ASSIGN)),
         ("init", "kacs_create_token", create_args(user=BOB, session=3)),
         ("init", "fork", {"child_thread": 7}), (7, "ioctl_install", {"fd": 3}),
         (7, "external_replace_primary", {"target": 2, "fd": 4})]),
    "external-replace-forgets-assign-primary-used": (
        "external-replacement-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
        [("init", *OPEN_MAX), ("init", "fork", {"child_thread": 7}), (7, "process_exit", {}),
         ("init", "external_replace_primary", {"target": 5, "fd": 3})]),
    "external-replace-queues-no-work": (
        "external-replacement-commits-the-primary-and-queues-every-target-thread",
        [("init", *OPEN_MAX), ("init", "external_replace_primary", {"target": 2, "fd": 3})]),
    # ------------------------------------------------------------ LogonSessions
    "create-logon-session-without-tcb": (
        "logon-session-calls-fail-with-eperm-then-enoent-then-ebusy", [("sh1", "kacs_create_logon_session", {})]),
    "create-logon-session-reuses-the-luid": (
        "logon-session-calls-have-the-spec-effects", [("init", "kacs_create_logon_session", {})]),
    "invalidate-unknown-session": (
        "logon-session-calls-fail-with-eperm-then-enoent-then-ebusy",
        [("init", "kacs_create_logon_session", {}), ("init", "kacs_destroy_empty_logon_session", {"session": 6}),
         ("init", "kacs_invalidate_logon_session", {"session": 6})]),
    "invalidate-does-not-mark-dead": (
        "logon-session-calls-have-the-spec-effects", [("init", "kacs_invalidate_logon_session", {"session": 3})]),
    "invalidate-forgets-tcb-used": (
        "tcb-is-marked-used-when-a-session-or-link-gate-accepts",
        [("init", "kacs_invalidate_logon_session", {"session": 3})]),
    "destroy-session-with-live-tokens": (
        "logon-session-calls-fail-with-eperm-then-enoent-then-ebusy",
        [("init", "kacs_destroy_empty_logon_session", {"session": 4})]),
    "destroy-unknown-session": (
        "logon-session-calls-fail-with-eperm-then-enoent-then-ebusy",
        [("init", "kacs_create_logon_session", {}), ("init", "kacs_destroy_empty_logon_session", {"session": 6}),
         ("init", "kacs_destroy_empty_logon_session", {"session": 6})]),
    "destroy-session-keeps-it": (
        "logon-session-calls-have-the-spec-effects",
        [("init", "kacs_create_logon_session", {}), ("init", "kacs_destroy_empty_logon_session", {"session": 6})]),
    # ------------------------------------------------------------ linked tokens
    "link-tokens-without-tcb": (
        "link-tokens-fails-with-eperm-then-einval-for-bad-pairs-and-registers-full-and-limited",
        [("sh1", "ioctl_link_tokens", {"elevated_fd": 3, "filtered_fd": 4, "session": 3})]),
    "link-tokens-links-a-token-to-itself": (
        "link-tokens-fails-with-eperm-then-einval-for-bad-pairs-and-registers-full-and-limited",
        INIT_DUP_PRIMARY + [("init", "ioctl_link_tokens", {"elevated_fd": 4, "filtered_fd": 4, "session": 1})]),
    "link-tokens-forgets-the-pair": (
        "link-tokens-fails-with-eperm-then-einval-for-bad-pairs-and-registers-full-and-limited", INIT_LINKED_PAIR),
    "get-linked-token-ignores-the-pair": (
        "get-linked-token-returns-the-partner-to-tcb-and-a-query-only-identification-clone-to-others",
        [("init", *OPEN_MAX), ("init", "ioctl_get_linked_token", {"fd": 3})]),
    "linked-clone-reuses-the-token-id": (
        "new-tokens-of-impersonation-and-linked-queries-take-the-next-token-id",
        INIT_LINKED_PAIR + INIT_IMPERSONATES_BOB + [("init", "ioctl_get_linked_token", {"fd": 4})]),
    "get-linked-token-never-creates-the-clone": (
        "get-linked-token-returns-the-partner-to-tcb-and-a-query-only-identification-clone-to-others",
        INIT_LINKED_PAIR + INIT_IMPERSONATES_BOB + [("init", "ioctl_get_linked_token", {"fd": 4})]),
    "get-linked-token-forgets-tcb-used": (
        "tcb-is-marked-used-when-a-session-or-link-gate-accepts",
        [("init", *OPEN_MAX), ("init", *DUP_IMP), ("init", *DUP_PRIMARY), ("init", *DUP_PRIMARY),
         ("init", "ioctl_link_tokens", {"elevated_fd": 5, "filtered_fd": 6, "session": 1}),
         ("init", "ioctl_impersonate", {"fd": 4}), ("init", "ioctl_get_linked_token", {"fd": 5})]),
    "get-linked-token-gives-everyone-the-partner": (
        "get-linked-token-returns-the-partner-to-tcb-and-a-query-only-identification-clone-to-others",
        INIT_LINKED_PAIR + INIT_IMPERSONATES_BOB + [("init", "ioctl_get_linked_token", {"fd": 4})]),
    "get-linked-token-clone-owned-by-the-effective-user": (
        "get-linked-token-returns-the-partner-to-tcb-and-a-query-only-identification-clone-to-others",
        INIT_LINKED_PAIR + INIT_IMPERSONATES_BOB + [("init", "ioctl_get_linked_token", {"fd": 4})]),
    # ------------------------------------------------------------ handle rights of the linked-token ioctls
    "link-tokens-accepts-fds-without-token-duplicate": (
        "a-closed-fd-fails-with-ebadf-and-a-missing-handle-right-with-eacces",
        [("init", "kacs_open_self_token", {"real": False, "access_mask": int(D.TOKEN_QUERY)}),
         ("init", "kacs_open_self_token", {"real": False, "access_mask": int(D.TOKEN_QUERY)}),
         ("init", "ioctl_link_tokens", {"elevated_fd": 3, "filtered_fd": 4, "session": 1})]),
    "get-linked-token-accepts-an-fd-without-token-query": (
        "a-closed-fd-fails-with-ebadf-and-a-missing-handle-right-with-eacces",
        [("init", "kacs_open_self_token", {"real": False, "access_mask": int(D.TOKEN_DUPLICATE)}),
         ("init", "ioctl_get_linked_token", {"fd": 3})]),
}
