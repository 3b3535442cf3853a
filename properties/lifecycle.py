"""Lifecycle properties (§4.1, §4.3, §4.7): token liveness, the shared primary
and the install window, fork/clone/exec, primary replacement."""

from __future__ import annotations

from model import domain as D
from model.values import and_, eq, implies, ne, not_, or_, ult
from properties.base import prop
from properties.catalog_support import (
    fd_has,
    holds_priv,
    ok,
    real_of,
    effective_of,
)

LIVENESS_LEMMAS = ("live-threads-have-live-real-tokens", "live-processes-have-live-primaries",
                   "open-token-fds-refer-to-live-tokens", "socket-snapshots-refer-to-live-tokens",
                   "linked-pairs-are-live-members-of-their-session", "the-anonymous-token-is-well-formed")


# ------------------------------------------------------------------ liveness (named property 1)
@prop("live-threads-have-live-effective-tokens",
      "Every live thread's effective token (its impersonation token if it impersonates, else its "
      "real/primary token) is a live token object.",
      kind="state", sections=("§4.1", "§4.2", "§4.3", "§9.3"), clauses=("TOK-01", "TOK-02", "TOK-09", "TOK-59"),
      support=LIVENESS_LEMMAS, mutants=("fork-shares-token",),
      note="Inductive together with its support lemmas: the kernel frees only unreferenced tokens, "
           "and every token a rule hands to a thread comes from a live fd, a live process, a live "
           "socket snapshot, a linked pair, the global Anonymous token or a fresh object.")
def live_threads_have_live_effective_tokens(s):
    """§4.1: "Each live userspace thread must be associated with a token" (TOK-01);
    KACS never evaluates a NULL token (TOK-02)."""
    return s.forall("Thread", lambda t: implies(s.thread_alive[t], s.token_alive[effective_of(s, t)]))


@prop("live-threads-have-live-real-tokens",
      "Every live thread's real_cred (primary) token is live, also while it impersonates and during "
      "the install window.",
      kind="state", sections=("§4.1", "§4.3"), clauses=("TOK-09", "LIFE-09"),
      support=("live-processes-have-live-primaries", "open-token-fds-refer-to-live-tokens"),
      mutants=("fork-shares-token",))
def live_threads_have_live_real_tokens(s):
    """§4.1: real_cred resolves to the primary token (TOK-09)."""
    return s.forall("Thread", lambda t: implies(s.thread_alive[t], s.token_alive[s.thread_real[t]]))


@prop("live-processes-have-live-primaries",
      "Every live process's committed primary token is live.",
      kind="state", sections=("§4.3",), clauses=("LIFE-08", "TOK-59"),
      support=("open-token-fds-refer-to-live-tokens", "live-threads-have-live-real-tokens"),
      mutants=("fork-shares-token",))
def live_processes_have_live_primaries(s):
    """§4.3: the process's primary token is referenced by the process (refcount, §4.2)."""
    return s.forall("Process", lambda p: implies(s.proc_alive[p], s.token_alive[s.proc_primary[p]]))


@prop("open-token-fds-refer-to-live-tokens",
      "Every open token fd refers to a live token.",
      kind="state", sections=("§4.8", "Appendix A §2"), clauses=("TOK-59", "IOCTL-01"),
      support=("live-threads-have-live-effective-tokens", "live-threads-have-live-real-tokens",
               "live-processes-have-live-primaries", "linked-pairs-are-live-members-of-their-session"),
      mutants=("free-token-ignores-fds",))
def open_token_fds_refer_to_live_tokens(s):
    """§4.8: an fd is a live reference to its token."""
    return s.forall2("Process", "Handle", lambda p, h: implies(s.fd_open[p, h], s.token_alive[s.fd_token[p, h]]))


@prop("socket-snapshots-refer-to-live-tokens",
      "Every live socket's captured peer token is live.",
      kind="state", sections=("§9.3",), clauses=("IMP-20", "IMP-21"),
      support=("live-threads-have-live-effective-tokens", "the-anonymous-token-is-well-formed"),
      mutants=("free-token-ignores-socket-snapshots",))
def socket_snapshots_refer_to_live_tokens(s):
    """§9.3 step 2: the socket holds a reference to the captured token."""
    return s.forall("Socket", lambda k: implies(and_(s.sock_alive[k], s.sock_has_peer[k]),
                                                s.token_alive[s.sock_peer_token[k]]))


@prop("linked-pairs-are-live-members-of-their-session",
      "A LogonSession with a linked pair is alive and both pair tokens are live tokens of that session.",
      kind="state", sections=("§4.6", "§4.7"), clauses=("ELEV-02", "ELEV-07", "ELEV-13", "ELEV-14"),
      support=("open-token-fds-refer-to-live-tokens",),
      mutants=("link-tokens-skips-session-checks",))
def linked_pairs_are_live(s):
    """§4.6: both linked tokens share one LogonSession (ELEV-02) which keeps them
    referenced until it is destroyed (ELEV-13/14)."""
    def pair_ok(x):
        e, f = s.sess_elevated[x], s.sess_filtered[x]
        return and_(s.sess_alive[x], s.token_alive[e], s.token_alive[f],
                    eq(s.token_session[e], x), eq(s.token_session[f], x))
    return s.forall("Session", lambda x: implies(s.sess_linked[x], pair_ok(x)))


@prop("the-anonymous-token-is-well-formed",
      "The global Anonymous token is live, an Impersonation token at Anonymous level, user S-1-5-7, "
      "Untrusted, with no privileges, in the ANONYMOUS LogonSession.",
      kind="state", sections=("§4.3", "§9.3"), clauses=("LIFE-18", "IMP-25"),
      support=("the-anonymous-session-is-never-destroyed",),
      mutants=("kernel-destroys-well-known-sessions",))
def anonymous_token_well_formed(s):
    """§4.3 Bootstrap: the Anonymous token is a global singleton, effectively immutable."""
    a = s.anon_token
    return and_(s.token_alive[a], not_(s.token_primary[a]), eq(s.token_level[a], D.ANONYMOUS),
                eq(s.token_user[a], s.sid(D.SID_ANONYMOUS)), eq(s.token_integrity[a], D.IL_UNTRUSTED),
                eq(s.token_privs_present[a], 0), eq(s.token_privs_enabled[a], 0),
                eq(s.token_session[a], s.anon_session), not_(s.token_restricted[a]))


@prop("live-threads-belong-to-live-processes",
      "Every live thread belongs to a live process.",
      kind="state", sections=("§4.3",), clauses=("LIFE-04",),
      mutants=("process-exit-leaves-threads-running",))
def live_threads_belong_to_live_processes(s):
    """§4.3: exit_group ends every thread of the process."""
    return s.forall("Thread", lambda t: implies(s.thread_alive[t], s.proc_alive[s.thread_proc[t]]))


# ------------------------------------------------------------------ the shared primary (§4.3)
@prop("threads-of-a-live-process-share-its-primary",
      "Every live thread of a live process has the process's committed primary as its real token.",
      kind="state", sections=("§4.1", "§4.3"), clauses=("TOK-07", "LIFE-04", "LIFE-10"),
      expect={"kacs": "refuted"}, mutants=("install-does-not-queue-sibling-work",),
      note="Refuted by the install window of §4.3 (LIFE-10): after KACS_IOC_INSTALL the caller and "
           "the process switch at once, while sibling threads keep the old real_cred until they run "
           "their queued work (install_converge).  Counterexample: clone_thread, then install.")
def threads_share_primary_naive(s):
    """§4.3 Clone with CLONE_THREAD: threads share the primary token object (LIFE-04)."""
    return s.forall("Thread", lambda t: implies(and_(s.thread_alive[t], s.proc_alive[s.thread_proc[t]]),
                                                eq(s.thread_real[t], s.proc_primary[s.thread_proc[t]])))


@prop("threads-share-the-primary-unless-an-install-is-pending",
      "Every live thread of a live process either has the committed primary as its real token or "
      "has queued install work.",
      kind="state", sections=("§4.1", "§4.3"), clauses=("TOK-07", "LIFE-04", "LIFE-10", "IOCTL-10"),
      support=("live-threads-belong-to-live-processes",),
      mutants=("install-does-not-queue-sibling-work",),
      note="The refined statement of threads-of-a-live-process-share-its-primary: the install window "
           "is the only way threads of one process disagree on their primary.")
def threads_share_primary_refined(s):
    """§4.3 Self-install: siblings converge via queued credential work (LIFE-10)."""
    return s.forall("Thread", lambda t: implies(
        and_(s.thread_alive[t], s.proc_alive[s.thread_proc[t]], not_(s.thread_install_pending[t])),
        eq(s.thread_real[t], s.proc_primary[s.thread_proc[t]])))


# ------------------------------------------------------------------ fork / clone / exec
@prop("fork-yields-a-distinct-token",
      "After fork, the child's primary token is a new object, distinct from every token alive before.",
      kind="transition", sections=("§4.1", "§4.3"), clauses=("TOK-08", "LIFE-01", "LIFE-03"),
      mutants=("fork-reuses-a-live-token",))
def fork_yields_distinct_token(pre, post, step):
    """§4.3: "The child MUST receive an independent deep copy of the parent's primary token" (LIFE-01)."""
    if step.rule != "fork":
        return True
    child = step.args["child"]
    return implies(ok(step), pre.forall("Token", lambda t: implies(pre.token_alive[t],
                                                                    ne(post.proc_primary[child], t))))


@prop("fork-child-runs-a-copy-of-the-real-token",
      "After fork, the child's only thread is not impersonating and runs a token with the user, "
      "groups, privileges and integrity of the parent thread's real (primary) token.",
      kind="transition", sections=("§4.3",), clauses=("LIFE-01", "LIFE-02"),
      mutants=("fork-copies-the-effective-token",))
def fork_child_copies_real(pre, post, step):
    """§4.3: the impersonation token MUST NOT be inherited by the child (LIFE-02)."""
    if step.rule != "fork":
        return True
    ct, tok = step.args["child_thread"], step.args["child_token"]
    src = real_of(pre, step.actor)
    same = and_(*(eq(post.view(f)[tok], pre.view(f)[src]) for f in (
        "token_user", "token_groups", "token_g_enabled", "token_privs_present", "token_privs_enabled",
        "token_integrity", "token_primary", "token_restricted")))
    return implies(ok(step), and_(not_(post.thread_impersonating[ct]), eq(post.thread_real[ct], tok),
                                  eq(post.proc_primary[step.args["child"]], tok), same))


@prop("exec-leaves-no-impersonation",
      "After exec, the calling thread is not impersonating.",
      kind="transition", sections=("§4.3",), clauses=("LIFE-07",),
      mutants=("exec-keeps-impersonation",))
def exec_leaves_no_impersonation(pre, post, step):
    """§4.3 Exec: "impersonation MUST be reverted before the new program runs" (LIFE-07)."""
    if step.rule != "exec":
        return True
    return implies(ok(step), not_(post.thread_impersonating[step.actor]))


@prop("exec-closes-close-on-exec-fds",
      "After exec, no token fd of the caller's process that had FD_CLOEXEC is still open.",
      kind="transition", sections=("Appendix A §2", "§4.3"), clauses=("IOCTL-02",),
      mutants=("exec-keeps-cloexec-fds",))
def exec_closes_cloexec(pre, post, step):
    """Appendix A §2: token fds are not inherited across execve() unless FD_CLOEXEC is cleared (IOCTL-02)."""
    if step.rule != "exec":
        return True
    p = pre.thread_proc[step.actor]
    return implies(ok(step), pre.forall("Handle", lambda h: implies(pre.fd_cloexec[p, h], not_(post.fd_open[p, h]))))


@prop("cloned-threads-start-on-the-shared-primary-without-impersonation",
      "A thread created by clone_thread is not impersonating and its real token is its creator's real token.",
      kind="transition", sections=("§4.3",), clauses=("LIFE-04", "LIFE-05", "TOK-07"),
      mutants=("clone-thread-inherits-impersonation",))
def clone_thread_starts_clean(pre, post, step):
    """§4.3 Clone with CLONE_THREAD: the impersonation token MUST NOT become the new
    thread's primary or effective identity (LIFE-05)."""
    if step.rule != "clone_thread":
        return True
    nt = step.args["new_thread"]
    return implies(ok(step), and_(not_(post.thread_impersonating[nt]),
                                  eq(post.thread_real[nt], pre.thread_real[step.actor])))


# ------------------------------------------------------------------ primary replacement (named property 2)
def _privileged_replacement(pre, step):
    """The step is an install/external replacement whose caller holds
    SeAssignPrimaryTokenPrivilege (present and enabled) on its real token and used
    an fd with TOKEN_ASSIGN_PRIMARY."""
    if step.rule not in ("ioctl_install", "external_replace_primary"):
        return False
    return and_(holds_priv(pre, real_of(pre, step.actor), D.SE_ASSIGN_PRIMARY),
                fd_has(pre, step, "fd", D.TOKEN_ASSIGN_PRIMARY))


def _primary_changes(pre, post, fn):
    return pre.forall("Process", lambda p: implies(
        and_(pre.proc_alive[p], post.proc_alive[p], ne(post.proc_primary[p], pre.proc_primary[p])), fn(p)))


@prop("primary-changes-only-by-privileged-install",
      "The primary token object of a process that is alive before and after a step changes only through "
      "ioctl_install or external_replace_primary by a caller holding SeAssignPrimaryTokenPrivilege "
      "enabled on its real token with a TOKEN_ASSIGN_PRIMARY handle.",
      kind="transition", sections=("§4.3", "§13.2", "§7.2"), clauses=("IOCTL-12", "LIFE-23", "LIFE-06", "LIFE-12"),
      expect={"kacs": "refuted"}, mutants=("install-without-assign-primary-privilege",),
      note="Refuted in one step: exec of a lower-labelled file by a process whose primary has "
           "NEW_PROCESS_MIN (alice's shell: policy NO_WRITE_UP|NEW_PROCESS_MIN, Medium, exec of a Low "
           "file) replaces the primary with a lowered copy without any privilege (§4.3 NEW_PROCESS_MIN, "
           "LIFE-12).  fork does not touch the statement: it creates a process that was not alive "
           "before the step (the child's primary is a new object, see fork-yields-a-distinct-token).")
def primary_changes_naive(pre, post, step):
    """§4.3 and Appendix A §13.2: installing a primary token requires TOKEN_ASSIGN_PRIMARY and
    SeAssignPrimaryTokenPrivilege on the caller's real token (IOCTL-12, LIFE-23)."""
    return _primary_changes(pre, post, lambda p: _privileged_replacement(pre, step))


def _lowering_exec(pre, post, step, p):
    """exec by a thread of ``p`` that installed a fresh copy of the old primary with a
    strictly lower integrity level (§4.3 NEW_PROCESS_MIN)."""
    if step.rule != "exec":
        return False
    old, new = pre.proc_primary[p], post.proc_primary[p]
    copy = and_(*(eq(post.view(f)[new], pre.view(f)[old]) for f in (
        "token_user", "token_groups", "token_privs_present", "token_session", "token_primary",
        "token_restricted", "token_policy")))
    return and_(eq(pre.thread_proc[step.actor], p), not_(pre.token_alive[new]),
                ult(post.token_integrity[new], pre.token_integrity[old]), copy)


@prop("primary-changes-only-by-privileged-install-or-lowering-exec",
      "The primary token object of a process alive before and after a step changes only through a "
      "privileged install/replacement (SeAssignPrimaryTokenPrivilege enabled on the caller's real token, "
      "TOKEN_ASSIGN_PRIMARY on the handle) or through exec, which can only install a fresh copy of the "
      "old primary with strictly lower integrity.",
      expect={"kacs": "proved", "nt": "refuted"}, kind="transition", sections=("§4.3", "§13.2", "§7.2"),
      clauses=("IOCTL-12", "LIFE-23", "LIFE-06", "LIFE-12", "LIFE-14", "LIFE-15"),
      support=("live-processes-have-live-primaries", "threads-share-the-primary-unless-an-install-is-pending"),
      mutants=("install-without-assign-primary-privilege", "install-judges-privilege-on-effective-token"),
      note="The truthful version of the named primary-replacement property: NEW_PROCESS_MIN is the one "
           "privilege-free path, and it only lowers integrity; fork creates new processes and is "
           "outside the statement.")
def primary_changes_refined(pre, post, step):
    """§4.3: "NEW_PROCESS_MIN can only lower integrity, never raise it" (LIFE-15)."""
    return _primary_changes(pre, post, lambda p: or_(_privileged_replacement(pre, step),
                                                     _lowering_exec(pre, post, step, p)))


# ------------------------------------------------------------------ failed steps
_TOKEN_STATE = ("token_alive", "token_privs_present", "token_privs_enabled", "token_privs_default",
                "token_g_enabled", "token_modified_id", "token_scope", "token_default_dacl",
                "token_owner_index", "token_group_index", "token_elevation")
_THREAD_STATE = ("thread_alive", "thread_real", "thread_impersonating", "thread_imp_token",
                 "thread_imp_level", "thread_install_pending")


@prop("failed-steps-change-nothing-but-used-bits",
      "A rule that fails with an errno changes no token (apart from privileges marked used by a gate "
      "that accepted, §7.1), no thread, process, fd or LogonSession.",
      expect={"kacs": "proved", "nt": "refuted"}, kind="transition", sections=("§4.5", "§7.1", "Appendix A §2"), clauses=("ADJ-09", "IOCTL-23", "IOCTL-25",
                                                                           "CREATE-29", "PRIV-03"),
      mutants=("adjust-privs-bumps-before-validating",),
      note="Every effect is guarded by errno == 0. z3's default (quantified) solver times out on the rules "
           "whose guards contain a whole AccessCheck; the prover's ground-instantiation path (QF_UFBV) "
           "proves them in seconds.")
def failed_steps_change_nothing(pre, post, step):
    """§4.5: "any invalid entry fails the whole call with no state change" (ADJ-09);
    §7.1 PRIV-03: a standalone gate's acceptance marks the privilege used even if a later gate denies."""
    return implies(
        not_(ok(step)),
        and_(pre.forall("Token", lambda t: and_(*(eq(pre.view(f)[t], post.view(f)[t]) for f in _TOKEN_STATE))),
             pre.forall("Thread", lambda t: and_(*(eq(pre.view(f)[t], post.view(f)[t]) for f in _THREAD_STATE))),
             pre.forall("Process", lambda p: and_(eq(pre.proc_alive[p], post.proc_alive[p]),
                                                  eq(pre.proc_primary[p], post.proc_primary[p]))),
             pre.forall2("Process", "Handle", lambda p, h: and_(eq(pre.fd_open[p, h], post.fd_open[p, h]),
                                                                eq(pre.fd_token[p, h], post.fd_token[p, h]),
                                                                eq(pre.fd_mask[p, h], post.fd_mask[p, h]))),
             pre.forall("Session", lambda x: and_(eq(pre.sess_alive[x], post.sess_alive[x]),
                                                  eq(pre.sess_dead[x], post.sess_dead[x]),
                                                  eq(pre.sess_linked[x], post.sess_linked[x])))))


__all__ = ["LIVENESS_LEMMAS"]
