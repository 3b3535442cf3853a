"""Rule contracts (lifecycle): the spec's guards and effects stated as transition properties,
so that a rule mutant that drops a guard, reorders its errnos or skips an effect
is refuted by the catalog (issue 6, docs/mutation-survivors.md).

Rules covered: process and thread lifecycle (§4.3 fork, clone(CLONE_THREAD), exec, exit), token fd
close and fcntl(F_SETFD) (§4.8, Appendix A §2), the kernel's reclamation of tokens and LogonSessions
(§4.2 refcount, §4.6 Lifecycle, §4.7), Unix sockets and their peer snapshot (§9.1, §9.3), and the four
token-opening syscalls (§4.8, Appendix A §13.1).

Each property restates the spec text (syscall tables, "MUST" sentences, the effect sentences) or,
where the spec leaves the errno or the Linux mechanics open, the choice written in model/DECISIONS.md;
none calls a rule.  Spec notions the model already names are reused: a thread's real (primary) and
effective token (model.rules.common), AccessCheck of a subject against a token's or a process's own
SD (``token_sd_check``/``process_sd_check``) and the mask a handle caches from a decision
(``model.access.handle_mask``).
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.access import handle_mask, map_generic
from model.rules.common import effective_token, process_sd_check, real_token, token_sd_check
from model.values import and_, clear, eq, has_any, iff, implies, ite, ne, not_, or_, ult
from properties.base import prop
from properties.catalog_support import acting_process, first_failure, ok, takes_next_token_id

# ------------------------------------------------------------------ shared vocabulary


def _opened_token(pre: Any, step: Any) -> Any:
    """The token a token-opening syscall names (Appendix A §13.1): kacs_open_self_token the caller's
    effective token, or its primary with KACS_REAL_TOKEN; kacs_open_process_token the target's
    (committed) primary token; kacs_open_thread_token the target thread's effective token (its
    impersonation token if it impersonates, else the primary)."""
    a = step.args
    if step.rule == "kacs_open_self_token":
        return ite(a["real"], real_token(pre, step.actor), effective_token(pre, step.actor))
    if step.rule == "kacs_open_process_token":
        return pre.proc_primary[a["target"]]
    return effective_token(pre, a["thread"])


def _open_rows(pre: Any, step: Any) -> list[tuple[Any, Any]]:
    """The requirements of a token-opening syscall in the order of Appendix A §13.1, each with its
    errno (DECISIONS.md "Opening token handles"); the subject of every AccessCheck is the caller's
    effective token (§4.1, TOK-05)."""
    a, subject = step.args, effective_token(pre, step.actor)
    token_sd = (token_sd_check(pre, subject, _opened_token(pre, step), a["access_mask"]).allowed, D.EACCES)
    if step.rule == "kacs_open_self_token":
        return [token_sd]
    target = a["target"]
    alive = pre.proc_alive[target]
    if step.rule == "kacs_open_thread_token":
        th = a["thread"]
        alive = and_(alive, pre.thread_alive[th], eq(pre.thread_proc[th], target))
    query = process_sd_check(pre, subject, target, D.PROCESS_QUERY_INFORMATION).allowed
    return [(alive, D.ESRCH), (query, D.EACCES), token_sd]


# rule -> its requirements, in the order of its syscall table, each with the errno it fails with
def _fd_rows(pre: Any, step: Any) -> list[tuple[Any, Any]]:
    return [(pre.fd_open[acting_process(pre, step), step.args["fd"]], D.EBADF)]


def _socket_rows(pre: Any, step: Any) -> list[tuple[Any, Any]]:
    a = step.args
    if step.rule == "socket_create":
        return [(pre.proc_alive[a["server"]], D.ESRCH)]
    k = a["socket"]
    if step.rule == "socket_close":
        return [(pre.sock_alive[k], D.EBADF)]
    if step.rule == "socket_connect":
        return [(pre.sock_alive[k], D.EBADF), (not_(pre.sock_connected[k]), D.EINVAL)]
    # kacs_open_peer_token
    return [(and_(pre.sock_alive[k], eq(pre.sock_server[k], acting_process(pre, step))), D.EBADF),
            (pre.sock_has_peer[k], D.EACCES)]


ERRNO_TABLES = {
    "close_handle": _fd_rows, "set_cloexec": _fd_rows,
    "socket_create": _socket_rows, "socket_connect": _socket_rows, "socket_close": _socket_rows,
    "kacs_open_peer_token": _socket_rows,
    "kacs_open_self_token": _open_rows, "kacs_open_process_token": _open_rows,
}


# ------------------------------------------------------------------ errno tables (guard contracts)
@prop("fd-socket-and-self-process-open-calls-fail-with-the-first-unmet-requirement",
      "close and fcntl(F_SETFD) fail with EBADF exactly when the fd is not open in the caller's process; "
      "socket creation fails with ESRCH when the server process does not exist; connect fails with EBADF "
      "for a socket that does not exist, then EINVAL once connected; closing a socket that does not exist "
      "fails with EBADF; kacs_open_peer_token fails with EBADF unless the caller's process serves a live "
      "socket, then EACCES without a captured peer snapshot; kacs_open_self_token fails with EACCES exactly "
      "when AccessCheck of the caller's effective token against the token's own SD denies the desired "
      "mask; kacs_open_process_token fails with ESRCH for a dead target, then EACCES without "
      "PROCESS_QUERY_INFORMATION on the target's process SD, then EACCES when the token's own SD denies the "
      "desired mask; every other call of these succeeds.",
      kind="transition", sections=("Appendix A §13.1", "Appendix A §2", "§4.8", "§9.3"),
      clauses=("RIGHTS-01", "RIGHTS-02", "RIGHTS-05", "IMP-20", "IMP-32", "IOCTL-01"),
      expect={"kacs": "proved", "nt": "proved"}, rules=tuple(sorted(ERRNO_TABLES)),
      mutants=("close-handle-skips-its-ebadf-check", "socket-connect-accepts-a-connected-socket",
               "open-process-token-skips-the-process-sd-check", "open-peer-token-skips-the-snapshot-check"))
def lifecycle_errno_tables(pre, post, step):
    """Appendix A §13.1: kacs_open_self_token: "The access mask is checked against the token's own SD";
    kacs_open_process_token: "Three checks: (1) PROCESS_QUERY_INFORMATION on the target process's SD,
    (2) PIP dominance [out of model], (3) the requested access_mask on the token's own SD" (RIGHTS-02);
    kacs_open_peer_token: "Calling this syscall on a socket without a captured KACS peer token fails closed
    with -EACCES" (IMP-32).  Appendix A §2: an fd is the handle every token operation goes through
    (IOCTL-01).  §9.3 step 1: the client connects once.  The errnos the spec leaves open (EBADF for a
    closed fd or a socket that does not exist, ESRCH for a dead process, EINVAL for a second connect) are
    DECISIONS.md's ("Sockets", "Opening token handles")."""
    table = ERRNO_TABLES.get(step.rule)
    if table is None:
        return True
    return eq(step.errno, first_failure(table(pre, step)))


@prop("open-thread-token-fails-with-esrch-then-eacces-for-the-process-then-for-the-token",
      "kacs_open_thread_token fails with ESRCH unless the target process is alive with the named thread "
      "alive in it, then with EACCES without PROCESS_QUERY_INFORMATION on the target's process SD, then "
      "with EACCES when the thread's effective token's own SD denies the desired mask to the caller's "
      "effective token; otherwise it succeeds.",
      kind="transition", sections=("Appendix A §13.1", "§4.8", "§5.3"), clauses=("RIGHTS-01", "RIGHTS-02"),
      expect={"kacs": "proved", "nt": "refuted"}, rules=("kacs_open_thread_token",),
      mutants=("open-thread-token-skips-the-process-sd-check", "open-thread-token-ignores-the-thread-owner"),
      note="Refuted on the nt profile in one step: NtOpenThreadToken on a thread that does not impersonate "
           "fails with STATUS_NO_TOKEN (nt-reference.md §1.3), where kacs_open_thread_token opens the "
           "thread's primary token.")
def open_thread_token_errno_table(pre, post, step):
    """Appendix A §13.1 kacs_open_thread_token: "Access checks: PROCESS_QUERY_INFORMATION on the target
    process's SD, PIP dominance [out of model], and the requested access_mask on the token's own SD";
    "If the thread is impersonating, returns the impersonation token.  Otherwise returns the process's
    primary token" (RIGHTS-01, RIGHTS-02).  ESRCH for a target that does not exist: DECISIONS.md."""
    if step.rule != "kacs_open_thread_token":
        return True
    return eq(step.errno, first_failure(_open_rows(pre, step)))


# ------------------------------------------------------------------ token fds (effects)
OPEN_RULES = ("kacs_open_self_token", "kacs_open_process_token", "kacs_open_thread_token")


@prop("a-successful-open-opens-a-close-on-exec-fd-on-the-named-token-with-the-requested-rights",
      "After a successful kacs_open_self_token, kacs_open_process_token or kacs_open_thread_token the new fd "
      "is open in the caller's process, close-on-exec, refers to the token the call names (the caller's "
      "effective token, or its primary with KACS_REAL_TOKEN; the target's primary; the target thread's "
      "effective token) and, for a request without MAXIMUM_ALLOWED, caches exactly the desired rights with "
      "generic rights mapped through the token GenericMapping.",
      kind="transition", sections=("§4.8", "Appendix A §13.1", "Appendix A §2", "§10.10"),
      clauses=("RIGHTS-01", "RIGHTS-02", "RIGHTS-10", "RIGHTS-16", "IOCTL-02"),
      expect={"kacs": "proved", "nt": "proved"}, rules=OPEN_RULES,
      mutants=("open-self-token-leaves-the-fd-closed", "open-self-token-caches-a-stale-mask",
               "open-process-token-leaves-the-fd-closed", "open-self-token-opens-the-effective-for-real",
               "open-thread-token-caches-a-stale-mask"),
      note="On the nt profile NtOpenThreadToken opens only an impersonation token (STATUS_NO_TOKEN "
           "otherwise), which is then the thread's effective token, so the statement holds there too.")
def open_effects(pre, post, step):
    """§4.8 Obtaining a token file descriptor: the kernel "returns a token fd with the granted access mask
    cached on it"; Access check model: "the granted access mask is cached on the fd" (RIGHTS-16): a request
    AccessCheck allowed is granted exactly its (generic-mapped, §4.8 Generic mapping, RIGHTS-10; §10.10
    MapGenericBits) rights.  Appendix A §13.1 names the token of each call (RIGHTS-01, RIGHTS-02); Appendix
    A §2: "All token fds are created with O_CLOEXEC set" (IOCTL-02)."""
    if step.rule not in OPEN_RULES:
        return True
    p, h = acting_process(pre, step), step.args["fd"]
    desired = map_generic(step.args["access_mask"], D.TOKEN_MAPPING)
    rights = implies(not_(has_any(desired, D.MAXIMUM_ALLOWED)),
                     eq(post.fd_mask[p, h], clear(desired, D.MAXIMUM_ALLOWED)))
    return implies(ok(step), and_(post.fd_open[p, h], post.fd_cloexec[p, h],
                                  eq(post.fd_token[p, h], _opened_token(pre, step)), rights))


@prop("opening-a-token-of-the-caller-or-of-a-process-caches-the-mask-access-check-granted",
      "After a successful kacs_open_self_token or kacs_open_process_token the new fd caches the mask "
      "AccessCheck of the caller's effective token against the opened token's own SD granted (under "
      "MAXIMUM_ALLOWED: every right it grants).",
      kind="transition", sections=("§4.8", "Appendix A §13.1", "§10.10"),
      clauses=("RIGHTS-02", "RIGHTS-05", "RIGHTS-16", "TOK-05"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("kacs_open_self_token", "kacs_open_process_token"),
      mutants=("open-self-token-caches-a-stale-mask",),
      note="kacs_open_thread_token is left out on purpose: its MAXIMUM_ALLOWED mask is the same statement, "
           "but on the nt profile (NtOpenThreadToken opens the impersonation token behind a STATUS_NO_TOKEN "
           "guard, where KACS checks the thread's effective token) z3 times out comparing the two "
           "AccessCheck terms; its other requests are covered by "
           "a-successful-open-opens-a-close-on-exec-fd-on-the-named-token-with-the-requested-rights.")
def open_caches_granted_mask(pre, post, step):
    """§4.8 Obtaining a token file descriptor: "The kernel finds the target process's primary token,
    evaluates the caller's token against the target token's SD, and returns a token fd with the granted
    access mask cached on it" (RIGHTS-02); Implicit access: "The AccessCheck still runs" (RIGHTS-05);
    Access check model (RIGHTS-16).  §4.1: every access decision evaluates the caller's effective token
    (TOK-05)."""
    if step.rule not in ("kacs_open_self_token", "kacs_open_process_token"):
        return True
    p, h = acting_process(pre, step), step.args["fd"]
    dec = token_sd_check(pre, effective_token(pre, step.actor), _opened_token(pre, step), step.args["access_mask"])
    return implies(ok(step), eq(post.fd_mask[p, h], handle_mask(dec)))


@prop("close-closes-the-fd-and-fcntl-sets-its-close-on-exec-flag",
      "After a successful close the fd is no longer open in the caller's process; after a successful "
      "fcntl(F_SETFD) its FD_CLOEXEC flag is the requested value; neither touches another fd.",
      kind="transition", sections=("§4.8", "Appendix A §2"), clauses=("IOCTL-02", "RIGHTS-16"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("close_handle", "set_cloexec"),
      mutants=("close-handle-leaves-the-fd-open", "set-cloexec-leaves-the-flag"))
def fd_call_effects(pre, post, step):
    """Appendix A §2: "A process that needs to pass a token fd to a child across exec MUST explicitly
    clear FD_CLOEXEC via fcntl(F_SETFD)" (IOCTL-02), so F_SETFD sets the flag it is given; §4.8 Access check
    model: the cached mask lives on the fd, and closing it drops the handle (RIGHTS-16)."""
    if step.rule not in ("close_handle", "set_cloexec"):
        return True
    p, fd = acting_process(pre, step), step.args["fd"]
    if step.rule == "close_handle":
        effect, field = not_(post.fd_open[p, fd]), "fd_open"
    else:
        effect, field = eq(post.fd_cloexec[p, fd], step.args["cloexec"]), "fd_cloexec"
    others = pre.forall2("Process", "Handle", lambda q, h: implies(
        or_(ne(q, p), ne(h, fd)), eq(post.view(field)[q, h], pre.view(field)[q, h])))
    return implies(ok(step), and_(effect, others))


# ------------------------------------------------------------------ fork / exec (§4.3)
@prop("fork-copies-the-fd-table-and-gives-the-child-token-the-next-id",
      "After fork, the child's token fd table is the parent's (the same fds open, each on the same token "
      "with the same cached mask and FD_CLOEXEC flag), and the child's new primary token has the next "
      "token id, the id counter advancing by one.",
      kind="transition", sections=("§4.3", "§4.2", "§4.8", "Appendix A §2"),
      clauses=("LIFE-01", "TOK-08", "RIGHTS-04", "IOCTL-02"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("fork",),
      mutants=("fork-drops-the-fd-table", "fork-leaves-the-fd-masks-unset", "fork-forgets-the-cloexec-flags",
               "fork-reuses-the-token-id"))
def fork_contract(pre, post, step):
    """§4.3 Clone without CLONE_THREAD: "The child MUST receive an independent deep copy of the parent's
    primary token" (LIFE-01, TOK-08): a new token object, hence a new token_guid (§4.2).  The fd table:
    DECISIONS.md "Handles are (process, fd) pairs: fork copies the caller's table"; Appendix A §2 (IOCTL-02):
    only execve() drops close-on-exec fds, so the flag is inherited across fork; §4.8: a handle keeps
    the mask cached at its original open (RIGHTS-04)."""
    if step.rule != "fork":
        return True
    parent, child = acting_process(pre, step), step.args["child"]

    def same(h: Any) -> Any:
        return and_(eq(post.fd_open[child, h], pre.fd_open[parent, h]),
                    implies(pre.fd_open[parent, h], and_(eq(post.fd_token[child, h], pre.fd_token[parent, h]),
                                                         eq(post.fd_mask[child, h], pre.fd_mask[parent, h]),
                                                         eq(post.fd_cloexec[child, h], pre.fd_cloexec[parent, h]))))
    return implies(ok(step), and_(pre.forall("Handle", same),
                                  takes_next_token_id(pre, post, step.args["child_token"])))


def _lowering(pre: Any, step: Any) -> Any:
    """§4.3 NEW_PROCESS_MIN: the caller's primary has NEW_PROCESS_MIN and the executable's label (Medium
    when unlabelled) is strictly below the primary's integrity."""
    primary = real_token(pre, step.actor)
    file_il = ite(step.args["file_labelled"], step.args["file_level"], D.IL_MEDIUM)
    return and_(ne(pre.token_policy[primary] & D.POLICY_NEW_PROCESS_MIN, 0),
                ult(file_il, pre.token_integrity[primary]))


_LOWERED_COPIES = ("token_user", "token_groups", "token_g_enabled", "token_privs_present", "token_privs_enabled",
                   "token_session", "token_primary", "token_level", "token_restricted", "token_policy",
                   "token_sd_owner")


@prop("exec-replaces-the-primary-only-to-lower-it-below-a-new-process-min-primary",
      "After exec, if the caller's primary token has NEW_PROCESS_MIN and the executable's label (Medium when "
      "unlabelled) is strictly below its integrity, the process's primary and the caller's real token are a "
      "new token with the next token id, the file's level, modified_id 0, Default elevation and everything "
      "else copied from the old primary; otherwise the primary, the caller's real token and the token id "
      "counter are unchanged.",
      kind="transition", sections=("§4.3", "§4.2"), clauses=("LIFE-06", "LIFE-12", "LIFE-13", "LIFE-14", "LIFE-15"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("exec",),
      mutants=("exec-lowers-at-an-equal-label", "exec-forgets-the-lowered-primary",
               "exec-reuses-the-token-id", "exec-keeps-the-old-real-token"))
def exec_new_process_min(pre, post, step):
    """§4.3 Exec: "The primary token survives execve() unchanged, with one exception: the NEW_PROCESS_MIN
    mechanism" (LIFE-06); NEW_PROCESS_MIN: "If the file's integrity level is lower than the token's
    integrity level, create a new token following DuplicateToken semantics (new token_guid, modified_id
    initialized to 0, elevation_type reset to Default) with integrity_level set to the file's label. All
    other fields are copied from the source" (LIFE-12, LIFE-14); the file level comes from its label,
    Medium if unlabelled (LIFE-13); "If the file's integrity level is greater than or equal to the token's
    integrity level, no action" (LIFE-15)."""
    if step.rule != "exec":
        return True
    p, th = acting_process(pre, step), step.actor
    old = real_token(pre, th)
    new = post.proc_primary[p]
    file_il = ite(step.args["file_labelled"], step.args["file_level"], D.IL_MEDIUM)
    lowered = and_(not_(pre.token_alive[new]), eq(post.thread_real[th], new), takes_next_token_id(pre, post, new),
                   eq(post.token_integrity[new], file_il), eq(post.token_modified_id[new], 0),
                   eq(post.token_elevation[new], D.ELEV_DEFAULT),
                   *(eq(post.view(f)[new], pre.view(f)[old]) for f in _LOWERED_COPIES))
    kept = and_(eq(post.proc_primary[p], pre.proc_primary[p]), eq(post.thread_real[th], old),
                eq(post.next_token_id, pre.next_token_id))
    return implies(ok(step), ite(_lowering(pre, step), lowered, kept))


@prop("exec-ends-exactly-the-other-threads-and-the-close-on-exec-fds-of-the-caller",
      "After exec, the calling thread is alive, every other thread of its process has ended, threads of "
      "other processes are as they were, and exactly the fds of the caller's process that had FD_CLOEXEC "
      "are closed (the others stay open).",
      kind="transition", sections=("§4.3", "Appendix A §2"), clauses=("LIFE-06", "LIFE-07", "IOCTL-02"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("exec",),
      mutants=("exec-ends-the-caller-instead-of-its-siblings", "exec-keeps-sibling-threads",
               "exec-closes-inheritable-fds"))
def exec_threads_and_fds(pre, post, step):
    """Appendix A §2: "Token fds MUST NOT be inherited across execve() by default. A process that needs to
    pass a token fd to a child across exec MUST explicitly clear FD_CLOEXEC" (IOCTL-02): the cleared ones
    survive.  §4.3 Exec: the new program runs in the calling thread ("The new program always starts with
    the primary token as its effective identity", LIFE-07); the other threads of the thread group end
    (Linux de_thread; DECISIONS.md "exec ends the other threads")."""
    if step.rule != "exec":
        return True
    p, th = acting_process(pre, step), step.actor
    threads = pre.forall("Thread", lambda x: eq(post.thread_alive[x], ite(
        eq(x, th), True, and_(pre.thread_alive[x], ne(pre.thread_proc[x], p)))))
    fds = pre.forall("Handle", lambda h: eq(post.fd_open[p, h], and_(pre.fd_open[p, h], not_(pre.fd_cloexec[p, h]))))
    return implies(ok(step), and_(threads, fds))


# ------------------------------------------------------------------ exit (§4.3)
@prop("exits-end-exactly-the-exiting-threads-and-drop-their-references",
      "After thread_exit the caller has ended without an impersonation token and another thread of its "
      "process is still alive; after process_exit the caller's process and all its threads have ended, none "
      "of them impersonating, all its fds are closed, and the threads of other processes are as they were.",
      kind="transition", sections=("§4.3", "§4.2", "§9.3"), clauses=("TOK-59", "IMP-23", "LIFE-04"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("thread_exit", "process_exit"),
      mutants=("thread-exit-keeps-the-impersonation", "thread-exit-ends-the-last-thread",
               "process-exit-keeps-the-fds-open", "process-exit-ends-other-processes-threads"))
def exit_contract(pre, post, step):
    """§4.2 Internal: the token is freed when its refcount drops to zero (TOK-59): an exiting thread's
    credentials drop their token references (its impersonation credential's too, as on revert, §9.3 step
    5, IMP-23), and exit_group closes the process's fd table.  §4.3: threads of one process share its
    primary (LIFE-04); the last thread's exit is the process's exit (DECISIONS.md "thread_exit is for
    non-last threads")."""
    th = step.actor
    if step.rule == "thread_exit":
        p = acting_process(pre, step)
        other = post.exists("Thread", lambda x: and_(post.thread_alive[x], eq(post.thread_proc[x], p), ne(x, th)))
        return implies(ok(step), and_(not_(post.thread_alive[th]), not_(post.thread_impersonating[th]), other))
    if step.rule != "process_exit":
        return True
    p = acting_process(pre, step)
    threads = pre.forall("Thread", lambda x: ite(
        eq(pre.thread_proc[x], p), and_(not_(post.thread_alive[x]), not_(post.thread_impersonating[x])),
        eq(post.thread_alive[x], pre.thread_alive[x])))
    fds = pre.forall("Handle", lambda h: not_(post.fd_open[p, h]))
    return implies(ok(step), and_(not_(post.proc_alive[p]), threads, fds))


# ------------------------------------------------------------------ sockets (§9.1, §9.3)
SOCKET_RULES = ("socket_create", "socket_connect", "socket_close")


@prop("sockets-start-unconnected-at-impersonation-and-connect-captures-the-effective-token",
      "A created socket is alive, unconnected, at Impersonation level, with no peer snapshot, served by "
      "the named process; a successful connect marks it connected and, for a stream/seqpacket socket only, "
      "captures the global Anonymous token at Anonymous level and otherwise the caller's effective token, "
      "tagged with the socket's level; a closed socket is gone.",
      kind="transition", sections=("§9.1", "§9.3", "Appendix A §13.1"), clauses=("IMP-08", "IMP-20", "IMP-32"),
      expect={"kacs": "proved", "nt": "proved"}, rules=SOCKET_RULES,
      mutants=("socket-connect-swaps-anonymous-and-effective-snapshots", "socket-connect-forgets-the-level",
               "socket-create-is-a-no-op", "socket-close-keeps-the-socket"))
def socket_effects(pre, post, step):
    """§9.1 and Appendix A §13.1 kacs_set_impersonation_level: "Default is IMPERSONATION" (IMP-08).
    §9.3 step 2 (IMP-20): "Anonymous: a token whose user SID is S-1-5-7 ... is stored on the socket's LSM
    blob. The client's real identity is not recorded"; "Impersonation or Delegation: the thread's
    effective token is stored. If the connecting thread is itself impersonating, the impersonated identity
    flows through"; "Identification: the thread's effective token is stored but tagged at Identification
    level".  §9.3 Supported transports: datagram and socketpair sockets install no KACS peer-token snapshot
    (IMP-32).  A closed socket takes its snapshot reference with it (§4.2 refcount)."""
    if step.rule not in SOCKET_RULES:
        return True
    k = step.args["socket"]
    if step.rule == "socket_create":
        return implies(ok(step), and_(post.sock_alive[k], not_(post.sock_connected[k]), not_(post.sock_has_peer[k]),
                                      eq(post.sock_level[k], D.IMPERSONATION),
                                      eq(post.sock_server[k], step.args["server"]),
                                      eq(post.sock_capturing[k], step.args["capturing"])))
    if step.rule == "socket_close":
        return implies(ok(step), not_(post.sock_alive[k]))
    level, capturing = pre.sock_level[k], pre.sock_capturing[k]
    snapshot = ite(eq(level, D.ANONYMOUS), pre.anon_token, effective_token(pre, step.actor))
    return implies(ok(step), and_(post.sock_connected[k], iff(post.sock_has_peer[k], capturing),
                                  implies(capturing, and_(eq(post.sock_peer_token[k], snapshot),
                                                          eq(post.sock_peer_level[k], level)))))


# ------------------------------------------------------------------ kacs_open_peer_token (§13.1, §9.3)
@prop("open-peer-token-opens-a-new-token-of-the-peer-at-the-captured-level-created-by-the-caller",
      "After a successful kacs_open_peer_token the new fd is open and close-on-exec in the caller's process "
      "and refers to a token that was not alive before, with the next token id (the counter advancing by "
      "one): an Impersonation token at the socket's captured level whose user is ANONYMOUS LOGON at "
      "Anonymous level and the captured token's user otherwise, in the captured token's LogonSession (the "
      "Anonymous one at Anonymous level), with modified_id 0 and a default SD owned by the caller's primary "
      "user.",
      kind="transition", sections=("Appendix A §13.1", "§4.8", "§9.3", "§4.4"),
      clauses=("RIGHTS-03", "RIGHTS-12", "IMP-04", "IMP-25", "IOCTL-02"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("kacs_open_peer_token",),
      mutants=("open-peer-token-reuses-the-token-id", "open-peer-token-leaves-the-fd-closed",
               "open-peer-token-owned-by-the-effective-user"))
def open_peer_effects(pre, post, step):
    """Appendix A §13.1 kacs_open_peer_token: "The peer identity is a snapshot captured at connect() time.
    The impersonation level stored on the socket determines the token's usability"; §9.1/IMP-04: at
    Anonymous "inspection and impersonation yield a token with user SID S-1-5-7"; §9.3 Anonymous
    semantics (IMP-25): this applies uniformly however the Anonymous token is obtained.  §4.8 Default token
    SD: "Owner: the creating process's user SID" (RIGHTS-12).  Appendix A §2: created O_CLOEXEC (IOCTL-02).
    The fd names a fresh DuplicateToken-style copy (§4.4: new token_guid, modified_id 0): DECISIONS.md
    "kacs_open_peer_token returns a copy"."""
    if step.rule != "kacs_open_peer_token":
        return True
    k, p, h = step.args["socket"], acting_process(pre, step), step.args["fd"]
    tok = post.fd_token[p, h]
    stored, level = pre.sock_peer_token[k], pre.sock_peer_level[k]
    anon = eq(level, D.ANONYMOUS)
    return implies(ok(step), and_(
        post.fd_open[p, h], post.fd_cloexec[p, h], not_(pre.token_alive[tok]), post.token_alive[tok],
        takes_next_token_id(pre, post, tok),
        not_(post.token_primary[tok]), eq(post.token_level[tok], level),
        eq(post.token_user[tok], ite(anon, post.sid(D.SID_ANONYMOUS), pre.token_user[stored])),
        eq(post.token_session[tok], ite(anon, pre.anon_session, pre.token_session[stored])),
        eq(post.token_modified_id[tok], 0),
        eq(post.token_sd_owner[tok], pre.token_user[real_token(pre, step.actor)])))


# ------------------------------------------------------------------ kernel reclamation (§4.2, §4.6, §4.7)
@prop("the-kernel-frees-the-token-and-destroys-the-session-with-its-tokens",
      "When the kernel frees a token, that token is no longer alive and every other token is as alive as "
      "it was; when it destroys a LogonSession, the session is dead and unlinked, every token of that "
      "session is freed and every token of another session is as it was.",
      kind="transition", sections=("§4.2", "§4.6", "§4.7"), clauses=("TOK-59", "SESS-03", "ELEV-14"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("kernel_free_token", "kernel_destroy_session"),
      mutants=("kernel-destroy-keeps-the-pair-linked", "kernel-destroy-frees-other-sessions-tokens"))
def kernel_reclamation(pre, post, step):
    """§4.2 Internal: "The token is freed when its refcount drops to zero" (TOK-59); §4.7: freeing the last
    referencing token destroys the LogonSession (SESS-03); §4.6 Lifecycle: "When only pair-owned references
    remain, KACS destroys the LogonSession, unlinks the pair and drops the pair's token references"
    (ELEV-14)."""
    if step.rule == "kernel_free_token":
        t = step.args["token"]
        others = pre.forall("Token", lambda u: implies(ne(u, t), eq(post.token_alive[u], pre.token_alive[u])))
        return implies(ok(step), and_(not_(post.token_alive[t]), others))
    if step.rule != "kernel_destroy_session":
        return True
    x = step.args["session"]
    tokens = pre.forall("Token", lambda u: ite(eq(pre.token_session[u], x), not_(post.token_alive[u]),
                                               eq(post.token_alive[u], pre.token_alive[u])))
    return implies(ok(step), and_(not_(post.sess_alive[x]), not_(post.sess_linked[x]), tokens))


# ------------------------------------------------------------------ LogonSession use (§4.7)
@prop("every-live-tokens-logon-session-is-marked-as-having-had-a-token",
      "The LogonSession of every live token is recorded as having had a token.",
      kind="state", sections=("§4.7", "§4.4", "Appendix A §13.1"),
      clauses=("SESS-01", "SESS-03", "SESS-04", "SESS-06"),
      expect={"kacs": "proved", "nt": "proved"}, support=("live-tokens-belong-to-live-sessions",),
      mutants=("create-token-leaves-its-session-unmarked", "create-token-forgets-the-session-had-a-token"),
      note="The invariant behind three reviewed-equivalent survivors (SURVIVORS_LIFECYCLE): fork, exec "
           "(NEW_PROCESS_MIN) and kacs_open_peer_token create a token in the LogonSession of a live token, "
           "so their write of the mark never changes it.")
def sessions_of_live_tokens_are_used(s):
    """§4.7 LogonSessions: each token references a LogonSession (SESS-01); a session "that never got a
    live token" is the only kind authd may roll back with kacs_destroy_empty_logon_session (SESS-04,
    SESS-06), so the kernel records that a session got one."""
    return s.forall("Token", lambda t: implies(s.token_alive[t], s.sess_had_token[s.token_session[t]]))


# ------------------------------------------------------------------ reviewed survivors
_HAD_TOKEN = ("writes sess_had_token := True on the LogonSession of the token it creates, which is the LogonSession "
              "of a live token ({src}); by every-live-tokens-logon-session-is-marked-as-having-had-a-token (proved by "
              "induction, with live-tokens-belong-to-live-sessions) that mark is already True in every reachable "
              "pre-state, so skipping the write leaves the same post-state")
SURVIVORS_LIFECYCLE: dict[str, tuple[str, str]] = {
    "fork/skip-effect-2": ("equivalent", "fork " + _HAD_TOKEN.format(
        src="the child token copies token_session from the caller's real token, live by "
            "live-threads-have-live-real-tokens")),
    "exec/skip-effect-5": ("equivalent", "exec (NEW_PROCESS_MIN) " + _HAD_TOKEN.format(
        src="the lowered copy keeps token_session of the caller's real token, live by "
            "live-threads-have-live-real-tokens")),
    "kacs_open_peer_token/skip-effect-2": ("equivalent", "kacs_open_peer_token " + _HAD_TOKEN.format(
        src="the copy's session is the captured token's, live by socket-snapshots-refer-to-live-tokens, or at "
            "Anonymous level the ANONYMOUS session of the global Anonymous token, live by "
            "the-anonymous-token-is-well-formed")),
    "kernel_destroy_session/flip-ne-eq": (
        "gap", "the flipped precondition (session == SYSTEM and session == ANONYMOUS) is never enabled: the kernel "
               "never destroys a LogonSession (SESS-03, ELEV-14 are not applied).  No transition property can see a "
               "step that never happens, and the quiescence invariant that would ('after reclamation no used "
               "session but SYSTEM/ANONYMOUS is alive without a live token') is not inductive for the prover, "
               "which lets kernel steps happen at any later time.  Needed: a property over quiescent states "
               "(the executor's fixpoint) or a liveness check; the scenario kernel-destroy-session-ok.json "
               "already changes outcome."),
    "kernel_destroy_session/skip-effect-0": (
        "gap", "not equivalent: the destroyed session stays alive, which "
               "the-kernel-frees-the-token-and-destroys-the-session-with-its-tokens refutes; but the executor runs "
               "the reclamation rules to a fixpoint and this mutant is enabled again after every application, so "
               "every concrete oracle runs out of budget, and no kernel step is enabled within BMC depth 1 of the "
               "standard world.  Killed at depth 2: killmatrix.bmc_mutant(..., depth=2) refutes that property "
               "with a replayed 2-step counterexample (2.5 s CPU)."),
}


__all__ = ["ERRNO_TABLES", "OPEN_RULES", "SOCKET_RULES", "SURVIVORS_LIFECYCLE"]
