"""Concrete traces (standard world) for the seeded mutants of ``properties/contracts_lifecycle.py``:
mutant name -> (property id, steps); merged into ``test_mutants_concrete.MUTANT_TRACES``.

Standard world ids: threads init=1 sh1=2 sh2=3 bob1=4 srv1=5 srv2=6; processes init=1 shell=2
bobsh=3 server=4; tokens system=1 anonymous=2 alice=3 bob=4 svc=5; sessions system=1 anonymous=2
alice=3 bob=4 svc=5; sockets, fds (from 3) and new objects take the next free id.
"""

from model import domain as D
from tests.properties.trace_args import create_args

MAX = int(D.MAXIMUM_ALLOWED)
QUERY = int(D.TOKEN_QUERY)
NULL = D.SID_NULL

ERRNO = "fd-socket-and-self-process-open-calls-fail-with-the-first-unmet-requirement"
THREAD_ERRNO = "open-thread-token-fails-with-esrch-then-eacces-for-the-process-then-for-the-token"
OPEN = "a-successful-open-opens-a-close-on-exec-fd-on-the-named-token-with-the-requested-rights"
GRANTED = "opening-a-token-of-the-caller-or-of-a-process-caches-the-mask-access-check-granted"
FD = "close-closes-the-fd-and-fcntl-sets-its-close-on-exec-flag"
FORK = "fork-copies-the-fd-table-and-gives-the-child-token-the-next-id"
NPM = "exec-replaces-the-primary-only-to-lower-it-below-a-new-process-min-primary"
EXEC = "exec-ends-exactly-the-other-threads-and-the-close-on-exec-fds-of-the-caller"
EXIT = "exits-end-exactly-the-exiting-threads-and-drop-their-references"
SOCK = "sockets-start-unconnected-at-impersonation-and-connect-captures-the-effective-token"
PEER = "open-peer-token-opens-a-new-token-of-the-peer-at-the-captured-level-created-by-the-caller"
KERNEL = "the-kernel-frees-the-token-and-destroys-the-session-with-its-tokens"
USED = "every-live-tokens-logon-session-is-marked-as-having-had-a-token"
FD_GUARDS = "a-closed-fd-fails-with-ebadf-and-a-missing-handle-right-with-eacces"  # properties/guards.py


OPEN_QUERY = ("kacs_open_self_token", {"real": False, "access_mask": QUERY})
EXEC_MEDIUM = ("exec", {"file_labelled": False, "file_level": 0})  # unlabelled: Medium, no lowering for alice
EXEC_LOW = ("exec", {"file_labelled": True, "file_level": int(D.IL_LOW)})  # alice's shell: NEW_PROCESS_MIN lowers
# bob's shell connects to svc's server (socket 1, Impersonation level)
BOB_CONNECTS = [("bob1", "socket_create", {"server": 4, "capturing": True}), ("bob1", "socket_connect", {"socket": 1})]
SRV_IMPERSONATES_BOB = BOB_CONNECTS + [("srv1", "kacs_impersonate_peer", {"socket": 1})]
# init links two fresh SYSTEM tokens of a new LogonSession (6), then closes both fds: only the pair holds them
PAIR_IN_NEW_SESSION = [("init", "kacs_create_logon_session", {}),
                       ("init", "kacs_create_token", create_args(session=6)),
                       ("init", "kacs_create_token", create_args(session=6)),
                       ("init", "ioctl_link_tokens", {"elevated_fd": 3, "filtered_fd": 4, "session": 6}),
                       ("init", "close_handle", {"fd": 3}), ("init", "close_handle", {"fd": 4})]

TRACES: dict = {
    # errno tables
    "close-handle-skips-its-ebadf-check": (ERRNO, [("sh1", "close_handle", {"fd": 3})]),
    "socket-connect-accepts-a-connected-socket": (ERRNO, BOB_CONNECTS + [("bob1", "socket_connect", {"socket": 1})]),
    "open-process-token-skips-the-process-sd-check": (
        ERRNO, [("sh1", "kacs_open_process_token", {"target": 3, "access_mask": 0})]),
    "open-peer-token-skips-the-snapshot-check": (
        ERRNO, [("bob1", "socket_create", {"server": 4, "capturing": False}), ("bob1", "socket_connect", {"socket": 1}),
                ("srv1", "kacs_open_peer_token", {"socket": 1})]),
    "open-thread-token-skips-the-process-sd-check": (
        THREAD_ERRNO, [("sh1", "kacs_open_thread_token", {"target": 3, "thread": 4, "access_mask": 0})]),
    "open-thread-token-ignores-the-thread-owner": (
        THREAD_ERRNO, [("sh1", "kacs_open_thread_token", {"target": 2, "thread": 3, "access_mask": QUERY})]),
    # token fds
    "open-self-token-leaves-the-fd-closed": (OPEN, [("sh1", *OPEN_QUERY)]),
    "open-self-token-caches-a-stale-mask": (GRANTED, [("sh1", *OPEN_QUERY)]),
    "open-thread-token-caches-a-stale-mask": (
        OPEN, [("sh1", "kacs_open_thread_token", {"target": 2, "thread": 3, "access_mask": QUERY})]),
    "open-process-token-leaves-the-fd-closed": (
        OPEN, [("sh1", "kacs_open_process_token", {"target": 2, "access_mask": QUERY})]),
    "open-self-token-opens-the-effective-for-real": (
        OPEN, SRV_IMPERSONATES_BOB + [("srv1", "kacs_open_self_token", {"real": True, "access_mask": QUERY})]),
    "close-handle-leaves-the-fd-open": (FD, [("sh1", *OPEN_QUERY), ("sh1", "close_handle", {"fd": 3})]),
    "set-cloexec-leaves-the-flag": (FD, [("sh1", *OPEN_QUERY), ("sh1", "set_cloexec", {"fd": 3, "cloexec": False})]),
    # fork / exec
    "fork-drops-the-fd-table": (FORK, [("sh1", *OPEN_QUERY), ("sh1", "fork", {})]),
    "fork-leaves-the-fd-masks-unset": (FORK, [("sh1", *OPEN_QUERY), ("sh1", "fork", {})]),
    "fork-forgets-the-cloexec-flags": (FORK, [("sh1", *OPEN_QUERY), ("sh1", "fork", {})]),
    "fork-reuses-the-token-id": (FORK, [("sh1", "fork", {})]),
    "exec-lowers-at-an-equal-label": (NPM, [("sh1", *EXEC_MEDIUM)]),
    "exec-forgets-the-lowered-primary": (NPM, [("sh1", *EXEC_LOW)]),
    "exec-reuses-the-token-id": (NPM, [("sh1", *EXEC_LOW)]),
    "exec-keeps-the-old-real-token": (NPM, [("sh1", *EXEC_LOW)]),
    "exec-ends-the-caller-instead-of-its-siblings": (EXEC, [("sh1", *EXEC_MEDIUM)]),
    "exec-keeps-sibling-threads": (EXEC, [("sh1", *EXEC_MEDIUM)]),
    "exec-closes-inheritable-fds": (EXEC, [("sh1", *OPEN_QUERY), ("sh1", "set_cloexec", {"fd": 3, "cloexec": False}),
                                           ("sh1", *EXEC_MEDIUM)]),
    # exit
    "thread-exit-keeps-the-impersonation": (EXIT, SRV_IMPERSONATES_BOB + [("srv1", "thread_exit", {})]),
    "thread-exit-ends-the-last-thread": (EXIT, [("bob1", "thread_exit", {})]),
    "process-exit-keeps-the-fds-open": (EXIT, [("sh1", *OPEN_QUERY), ("sh1", "process_exit", {})]),
    "process-exit-ends-other-processes-threads": (EXIT, [("bob1", "process_exit", {})]),
    # sockets
    "socket-connect-swaps-anonymous-and-effective-snapshots": (SOCK, BOB_CONNECTS),
    "socket-connect-forgets-the-level": (SOCK, BOB_CONNECTS),
    "socket-create-is-a-no-op": (SOCK, BOB_CONNECTS[:1]),
    "socket-close-keeps-the-socket": (SOCK, BOB_CONNECTS[:1] + [("bob1", "socket_close", {"socket": 1})]),
    # kacs_open_peer_token
    "open-peer-token-reuses-the-token-id": (PEER, BOB_CONNECTS + [("srv1", "kacs_open_peer_token", {"socket": 1})]),
    "open-peer-token-leaves-the-fd-closed": (PEER, BOB_CONNECTS + [("srv1", "kacs_open_peer_token", {"socket": 1})]),
    "open-peer-token-owned-by-the-effective-user": (
        PEER, SRV_IMPERSONATES_BOB + [("srv1", "kacs_open_peer_token", {"socket": 1})]),
    # kernel reclamation
    "kernel-destroy-keeps-the-pair-linked": (KERNEL, PAIR_IN_NEW_SESSION),
    "kernel-destroy-frees-other-sessions-tokens": (KERNEL, [("bob1", "process_exit", {})]),
    # LogonSession use
    "create-token-leaves-its-session-unmarked": (
        USED, [("init", "kacs_create_logon_session", {}), ("init", "kacs_create_token", create_args(session=6))]),
    # fd guards of every fd rule (properties/guards.py)
    "adjust-groups-checks-the-right-before-the-fd": (
        FD_GUARDS, [("sh1", "ioctl_adjust_groups", {"fd": 3, "enable": 0, "disable": 0, "reset": True,
                                                     "entries_ok": True})]),
    "install-accepts-an-fd-without-assign-primary": (
        FD_GUARDS, [("sh1", *OPEN_QUERY), ("sh1", "ioctl_install", {"fd": 3})]),
    "link-tokens-checks-the-fds-before-tcb": (
        FD_GUARDS, [("sh1", "ioctl_link_tokens", {"elevated_fd": 3, "filtered_fd": 4, "session": 3})]),
}
