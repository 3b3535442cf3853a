"""Seeded mutants for the rule contracts in ``properties/contracts_lifecycle.py`` (registered with ``seed``).

Each breaks one spec contract of a lifecycle, fd, socket, token-opening or kernel-reclamation rule;
indices count the rule's own ``require`` / effect calls (``tokenproof.mutants.count_sites``); swaps
replace one helper by a real one or by a small wrapper around the real one (never a copy of a rule).
No seeded mutant here skips the one effect of a kernel reclamation rule: the executor runs those rules
until nothing is reclaimable, so a reclamation that reclaims nothing would never stop.
"""

from __future__ import annotations

from typing import Any

from model.rules import common as _common
from model.values import eq, ne, ule
from tokenproof.mutants import Mutant, seed


def _actor_alive_then_close_every_fd(st: Any) -> None:
    """``actor_alive`` followed by closing every token fd of the caller's process (also those whose
    FD_CLOEXEC was cleared)."""
    _common.actor_alive(st)
    s = st.pre
    st.set_row("fd_open", s.thread_proc[st.actor], lambda fd: (True, False))


# ------------------------------------------------------------------ errno tables
seed(Mutant("close-handle-skips-its-ebadf-check", "close_handle",
            "close() on a token fd applies its effect even when the fd is not open (no EBADF)", ignore_guards=True))
seed(Mutant("socket-connect-accepts-a-connected-socket", "socket_connect",
            "connect() without its EINVAL guard: a connected socket is connected again and re-captures",
            drop_guard=1))
seed(Mutant("open-process-token-skips-the-process-sd-check", "kacs_open_process_token",
            "kacs_open_process_token without PROCESS_QUERY_INFORMATION on the target's process SD (RIGHTS-02)",
            drop_guard=1))
seed(Mutant("open-peer-token-skips-the-snapshot-check", "kacs_open_peer_token",
            "kacs_open_peer_token on a socket without a captured KACS peer snapshot does not fail closed "
            "(no EACCES, IMP-32)", drop_guard=1))
seed(Mutant("open-thread-token-skips-the-process-sd-check", "kacs_open_thread_token",
            "kacs_open_thread_token without PROCESS_QUERY_INFORMATION on the target's process SD", drop_guard=1))
seed(Mutant("open-thread-token-ignores-the-thread-owner", "kacs_open_thread_token",
            "kacs_open_thread_token requires the thread to belong to another process than the target "
            "(eq read as ne)", swap=("eq", ne)))

# ------------------------------------------------------------------ token fds
seed(Mutant("open-self-token-leaves-the-fd-closed", "kacs_open_self_token",
            "kacs_open_self_token succeeds without opening the new fd", skip_effect=0))
seed(Mutant("open-self-token-caches-a-stale-mask", "kacs_open_self_token",
            "kacs_open_self_token does not cache the granted mask on the new fd (RIGHTS-16)", skip_effect=2))
seed(Mutant("open-thread-token-caches-a-stale-mask", "kacs_open_thread_token",
            "kacs_open_thread_token does not cache the granted mask on the new fd (RIGHTS-16)", skip_effect=2))
seed(Mutant("open-process-token-leaves-the-fd-closed", "kacs_open_process_token",
            "kacs_open_process_token succeeds without opening the new fd", skip_effect=0))
seed(Mutant("open-self-token-opens-the-effective-for-real", "kacs_open_self_token",
            "kacs_open_self_token with KACS_REAL_TOKEN opens the effective token of an impersonating caller",
            swap=("real_token", _common.effective_token)))
seed(Mutant("close-handle-leaves-the-fd-open", "close_handle",
            "close() on a token fd succeeds but the fd stays open", skip_effect=0))
seed(Mutant("set-cloexec-leaves-the-flag", "set_cloexec",
            "fcntl(F_SETFD) succeeds but does not change FD_CLOEXEC (IOCTL-02)", skip_effect=0))

# ------------------------------------------------------------------ fork / exec
seed(Mutant("fork-drops-the-fd-table", "fork",
            "fork does not copy which token fds are open into the child", skip_effect=5))
seed(Mutant("fork-leaves-the-fd-masks-unset", "fork",
            "fork does not copy the cached masks of the token fds into the child", skip_effect=7))
seed(Mutant("fork-forgets-the-cloexec-flags", "fork",
            "fork does not copy the FD_CLOEXEC flags of the token fds into the child", skip_effect=8))
seed(Mutant("fork-reuses-the-token-id", "fork",
            "fork does not advance the token id counter: the next new token gets the child token's id",
            skip_effect=1))
seed(Mutant("exec-lowers-at-an-equal-label", "exec",
            "NEW_PROCESS_MIN replaces the primary also when the file's label equals the token's level "
            "(ult read as ule, LIFE-15)", swap=("ult", ule)))
seed(Mutant("exec-forgets-the-lowered-primary", "exec",
            "NEW_PROCESS_MIN creates the lowered copy but the process keeps its old primary", skip_effect=6))
seed(Mutant("exec-reuses-the-token-id", "exec",
            "NEW_PROCESS_MIN's lowered copy does not advance the token id counter", skip_effect=4))
seed(Mutant("exec-keeps-the-old-real-token", "exec",
            "NEW_PROCESS_MIN installs the lowered copy on the process but not as the caller's real token",
            skip_effect=7))
seed(Mutant("exec-ends-the-caller-instead-of-its-siblings", "exec",
            "exec ends the calling thread and keeps its siblings (ne read as eq)", swap=("ne", eq)))
seed(Mutant("exec-keeps-sibling-threads", "exec",
            "exec does not end the other threads of the caller's process", skip_effect=0))
seed(Mutant("exec-closes-inheritable-fds", "exec",
            "exec closes every token fd of the process, also those whose FD_CLOEXEC was cleared (IOCTL-02)",
            swap=("actor_alive", _actor_alive_then_close_every_fd)))

# ------------------------------------------------------------------ exit
seed(Mutant("thread-exit-keeps-the-impersonation", "thread_exit",
            "an exiting thread keeps its impersonation token reference", skip_effect=1))
seed(Mutant("thread-exit-ends-the-last-thread", "thread_exit",
            "thread_exit may end the last thread of a live process (ne read as eq in its precondition)",
            swap=("ne", eq)))
seed(Mutant("process-exit-keeps-the-fds-open", "process_exit",
            "exit_group does not close the process's token fds", skip_effect=3))
seed(Mutant("process-exit-ends-other-processes-threads", "process_exit",
            "exit_group ends the threads of every other process instead of its own (eq read as ne)",
            swap=("eq", ne)))

# ------------------------------------------------------------------ sockets
seed(Mutant("socket-connect-swaps-anonymous-and-effective-snapshots", "socket_connect",
            "connect() captures the Anonymous token at every level but Anonymous, and the effective token at "
            "Anonymous (eq read as ne, IMP-20)", swap=("eq", ne)))
seed(Mutant("socket-connect-forgets-the-level", "socket_connect",
            "connect() does not tag the snapshot with the socket's level", skip_effect=3))
seed(Mutant("socket-create-is-a-no-op", "socket_create",
            "socket creation succeeds without creating the socket", skip_effect=0))
seed(Mutant("socket-close-keeps-the-socket", "socket_close",
            "closing a socket succeeds but the socket (and its snapshot reference) stays", skip_effect=0))

# ------------------------------------------------------------------ kacs_open_peer_token
seed(Mutant("open-peer-token-reuses-the-token-id", "kacs_open_peer_token",
            "kacs_open_peer_token does not advance the token id counter for its copy", skip_effect=1))
seed(Mutant("open-peer-token-leaves-the-fd-closed", "kacs_open_peer_token",
            "kacs_open_peer_token creates the copy but does not open the fd", skip_effect=3))
seed(Mutant("open-peer-token-owned-by-the-effective-user", "kacs_open_peer_token",
            "kacs_open_peer_token makes the caller's effective (impersonated) user the creator and owner of "
            "the copy's default SD instead of its primary user (RIGHTS-12)",
            swap=("real_token", _common.effective_token)))

# ------------------------------------------------------------------ kernel reclamation
seed(Mutant("kernel-destroy-keeps-the-pair-linked", "kernel_destroy_session",
            "the kernel destroys a LogonSession but leaves its linked pair registered (ELEV-14)", skip_effect=1))
seed(Mutant("kernel-destroy-frees-other-sessions-tokens", "kernel_destroy_session",
            "the kernel's session destruction frees the tokens of every other session instead of its own "
            "(eq read as ne)", swap=("eq", ne)))

# ------------------------------------------------------------------ LogonSession use
seed(Mutant("create-token-leaves-its-session-unmarked", "kacs_create_token",
            "kacs_create_token does not record that its LogonSession got a token (SESS-06)", skip_effect=3))

# ------------------------------------------------------------------ fd guards of every fd rule (properties/guards.py)
seed(Mutant("adjust-groups-checks-the-right-before-the-fd", "ioctl_adjust_groups",
            "KACS_IOC_ADJUST_GROUPS without its EBADF guard: a closed fd is reported as a missing right (EACCES)",
            drop_guard=0))
seed(Mutant("install-accepts-an-fd-without-assign-primary", "ioctl_install",
            "KACS_IOC_INSTALL without TOKEN_ASSIGN_PRIMARY on the fd (IOCTL-12): the privilege check answers "
            "instead", drop_guard=1))
seed(Mutant("link-tokens-checks-the-fds-before-tcb", "ioctl_link_tokens",
            "KACS_IOC_LINK_TOKENS without its SeTcbPrivilege guard: an unprivileged caller learns EBADF/EACCES "
            "about its fds instead of EPERM", drop_guard=0))
