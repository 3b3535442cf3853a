"""Rule contracts (authority): the spec's guards and effects stated as transition properties,
so that a rule mutant that drops a guard, reorders its errnos or skips an effect
is refuted by the catalog (issue 6, docs/mutation-survivors.md).

Rules covered: impersonation (§9.2 gates, §9.3 lifecycle, Appendix A §13.1 kacs_impersonate_peer /
kacs_set_impersonation_level / kacs_revert, §13.2 KACS_IOC_IMPERSONATE), primary replacement (§4.3
self-install and external replacement, §13.2 KACS_IOC_INSTALL), LogonSessions (§4.7, Appendix A §1)
and linked tokens (§4.6, Appendix A §2 KACS_IOC_LINK_TOKENS / KACS_IOC_GET_LINKED_TOKEN).

Each property restates the spec text (requirements lists, errno sentences, "on success" sentences),
never the rule body.  The fd guards every token ioctl starts with (EBADF for a closed fd, EACCES
without the handle right) are stated once for every rule in ``properties/guards.py``; the errno
tables here start where those end ("the fd was open with the right, and then ...").
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.access import access_check, read_sd
from model.rules.common import effective_token, holds
from model.values import and_, eq, has_all, iff, implies, inc, ite, ne, not_, or_, uge, ule
from properties.base import prop
from properties.catalog_support import fd_has, fd_token, first_failure, ok, takes_next_token_id


# ------------------------------------------------------------------ shared vocabulary
def used(post: Any, tok: Any, privs: Any) -> Any:
    """``privs`` are marked used on ``tok`` after the step (§7.1 Lifecycle)."""
    return has_all(post.token_privs_used[tok], privs)


def hard_deny(pre: Any, server: Any, client: Any, requested: Any) -> Any:
    """§9.2 The identity gate, Exception: restricted server -> unrestricted client of the same user is
    hard-denied (IMP-11, IMP-13); Anonymous needs no gate at all (§9.3 Anonymous semantics, IMP-24;
    DECISIONS.md "Impersonation")."""
    return and_(ne(requested, D.ANONYMOUS), eq(pre.token_user[server], pre.token_user[client]),
                pre.token_restricted[server], not_(pre.token_restricted[client]))


def gated_level(pre: Any, server: Any, client: Any, requested: Any) -> Any:
    """§9.2 Gate composition (IMP-19): start with the client's level; cap an acting level
    (Impersonation/Delegation) to Identification if the identity gate (same user and restriction
    status, or SeImpersonatePrivilege enabled on the server's primary: IMP-10, IMP-30) or the integrity
    ceiling (client integrity <= server primary integrity, never lifted by the privilege: IMP-16,
    IMP-18) fails."""
    identity = or_(and_(eq(pre.token_user[server], pre.token_user[client]),
                        iff(pre.token_restricted[server], pre.token_restricted[client])),
                   holds(pre, server, D.SE_IMPERSONATE))
    ceiling = ule(pre.token_integrity[client], pre.token_integrity[server])
    return ite(and_(uge(requested, D.IMPERSONATION), not_(and_(identity, ceiling))), D.IDENTIFICATION, requested)


def impersonation_request(pre: Any, step: Any) -> tuple[Any, Any, Any]:
    """(client token, requested level, the rule's own pre-gate requirements held) of the two
    impersonation calls: kacs_impersonate_peer takes the socket's peer snapshot at its captured level
    (§9.3 step 3) once the socket is the caller's connection with a KACS snapshot (Appendix A §13.1);
    KACS_IOC_IMPERSONATE takes the fd's token at its own level (§9.3 Per-call level constraint, IMP-35)
    once the fd carries TOKEN_IMPERSONATE and the token is an impersonation token (IOCTL-06)."""
    if step.rule == "kacs_impersonate_peer":
        k = step.args["socket"]
        reached = and_(pre.sock_alive[k], eq(pre.sock_server[k], pre.thread_proc[step.actor]), pre.sock_has_peer[k])
        return pre.sock_peer_token[k], pre.sock_peer_level[k], reached
    t = fd_token(pre, step)
    reached = and_(fd_has(pre, step, "fd", D.TOKEN_IMPERSONATE), not_(pre.token_primary[t]))
    return t, pre.token_level[t], reached


def identity_differs(pre: Any, tok: Any, old: Any) -> Any:
    """``tok``'s user SID or LogonSession differs from ``old``'s: the case a primary replacement may
    only make with SeTcbPrivilege (§4.3 LIFE-24/25, Appendix A §13.2 IOCTL-13/14)."""
    return or_(ne(pre.token_user[tok], pre.token_user[old]), ne(pre.token_session[tok], pre.token_session[old]))


def primary_gate_outcome(pre: Any, post: Any, step: Any, real: Any, changed: Any, expected: Any) -> Any:
    """A primary replacement through an fd open with TOKEN_ASSIGN_PRIMARY: its errno is ``expected`` (the
    requirements table), SeAssignPrimaryTokenPrivilege is marked used on the caller's ``real`` token when
    held, and SeTcbPrivilege when a successful step ``changed`` the identity (§7.1 Lifecycle, PRIV-03)."""
    gate = fd_has(pre, step, "fd", D.TOKEN_ASSIGN_PRIMARY)
    return implies(gate, and_(
        eq(step.errno, expected),
        implies(holds(pre, real, D.SE_ASSIGN_PRIMARY), used(post, real, D.SE_ASSIGN_PRIMARY)),
        implies(and_(ok(step), changed), used(post, real, D.SE_TCB))))


IMPERSONATION_CALLS = ("kacs_impersonate_peer", "ioctl_impersonate")
NEW_TOKEN_CALLS = ("kacs_impersonate_peer", "ioctl_impersonate", "ioctl_get_linked_token")
SESSION_CALLS = ("kacs_create_logon_session", "kacs_invalidate_logon_session", "kacs_destroy_empty_logon_session")


# ------------------------------------------------------------------ impersonation (§9, Appendix A §13)
@prop("impersonate-peer-fails-with-ebadf-then-eacces-and-eperm-only-for-the-hard-deny",
      "kacs_impersonate_peer fails with EBADF unless the socket exists and is served by the caller's "
      "process, then with EACCES unless the socket holds a KACS peer snapshot; past those it either "
      "succeeds or fails with EPERM, and EPERM only for a restricted server impersonating an unrestricted "
      "token of its own user.",
      kind="transition", sections=("Appendix A §13.1", "§9.2", "§9.3"), clauses=("IMP-13", "IMP-32", "IMP-24"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("kacs_impersonate_peer",),
      mutants=("impersonate-peer-serves-foreign-sockets", "impersonate-peer-without-a-snapshot"))
def peer_errnos(pre, post, step):
    """Appendix A §13.1 kacs_impersonate_peer: the call needs the captured KACS peer-token state (datagram
    and socketpair sockets fail closed with -EACCES, IMP-32); the only error of the gates is the hard deny
    -EPERM (§9.2 Exception, IMP-13), every other gate failure is a silent cap (IMP-12).  EBADF for a socket
    that is not the caller's connection: DECISIONS.md.  NT (§5.5) never fails the gates, so the EPERM
    clause ("only for") holds there too."""
    if step.rule not in ("kacs_impersonate_peer",):
        return True
    k = step.args["socket"]
    served = and_(pre.sock_alive[k], eq(pre.sock_server[k], pre.thread_proc[step.actor]))
    server = pre.thread_real[step.actor]
    client, requested = pre.sock_peer_token[k], pre.sock_peer_level[k]
    past = and_(served, pre.sock_has_peer[k])
    return and_(implies(not_(served), eq(step.errno, D.EBADF)),
                implies(and_(served, not_(pre.sock_has_peer[k])), eq(step.errno, D.EACCES)),
                implies(past, or_(eq(step.errno, 0),
                                  and_(eq(step.errno, D.EPERM), hard_deny(pre, server, client, requested)))))


@prop("ioctl-impersonate-refuses-primary-tokens-with-einval-and-eperm-only-for-the-hard-deny",
      "KACS_IOC_IMPERSONATE on an fd open with TOKEN_IMPERSONATE fails with EINVAL if its token is a "
      "primary token; otherwise it either succeeds or fails with EPERM, and EPERM only for a restricted "
      "server impersonating an unrestricted token of its own user.",
      kind="transition", sections=("Appendix A §13.2", "§9.2"), clauses=("IOCTL-06", "IOCTL-07", "IMP-13"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("ioctl_impersonate",),
      mutants=("ioctl-impersonate-accepts-primary-tokens",))
def ioctl_impersonate_errnos(pre, post, step):
    """Appendix A §13.2 KACS_IOC_IMPERSONATE: "The token MUST be an impersonation token" (IOCTL-06, EINVAL
    as for every wrong token type, DECISIONS.md); restriction mismatch restricted server -> unrestricted
    client is hard-denied -EPERM, other gate failures cap (IOCTL-07)."""
    if step.rule not in ("ioctl_impersonate",):
        return True
    t = fd_token(pre, step)
    server = pre.thread_real[step.actor]
    gate = fd_has(pre, step, "fd", D.TOKEN_IMPERSONATE)
    return and_(implies(and_(gate, pre.token_primary[t]), eq(step.errno, D.EINVAL)),
                implies(and_(gate, not_(pre.token_primary[t])),
                        or_(eq(step.errno, 0),
                            and_(eq(step.errno, D.EPERM), hard_deny(pre, server, t, pre.token_level[t])))))


@prop("impersonation-outcome-is-decided-by-the-two-gates-on-the-primary",
      "Once kacs_impersonate_peer or KACS_IOC_IMPERSONATE has passed its own socket or fd requirements, it "
      "fails with EPERM exactly for the restricted-server hard deny, and on success the level in force is "
      "the client's level, capped to Identification exactly when an acting level fails the identity gate "
      "or the integrity ceiling judged on the caller's primary token.",
      kind="transition", sections=("§9.2", "§9.3", "Appendix A §13.1", "Appendix A §13.2"),
      clauses=("IMP-09", "IMP-10", "IMP-12", "IMP-13", "IMP-14", "IMP-16", "IMP-18", "IMP-19", "IMP-30",
               "IOCTL-07", "IOCTL-08", "IMP-35"),
      expect={"kacs": "proved", "nt": "refuted"}, rules=IMPERSONATION_CALLS,
      mutants=("impersonate-peer-skips-the-hard-deny", "ioctl-impersonate-gates-on-the-effective-token"),
      note="NT (nt-reference.md §5.4/§5.5) orders SeTokenCanImpersonate differently: SeImpersonatePrivilege "
           "skips the integrity check, and no gate failure is an error.  BMC finds it in three steps "
           "(svc's High server impersonates SYSTEM's System-integrity snapshot at Impersonation).")
def gates_decide(pre, post, step):
    """§9.2: both gates MUST pass for the requested level; a failure caps to Identification, never the
    reverse (IMP-09, IMP-19); the gates read the server's primary token (real_cred), not its current
    impersonation (IMP-14, IMP-30); the hard deny is -EPERM (IMP-13).  Appendix A §13.2: the effective
    level of KACS_IOC_IMPERSONATE is min(token level, gate-permitted level) (IOCTL-08)."""
    if step.rule not in IMPERSONATION_CALLS:
        return True
    server = pre.thread_real[step.actor]
    client, requested, reached = impersonation_request(pre, step)
    deny = hard_deny(pre, server, client, requested)
    return implies(reached, and_(iff(eq(step.errno, D.EPERM), deny),
                                 implies(ok(step), eq(post.thread_imp_level[step.actor],
                                                      gated_level(pre, server, client, requested)))))


@prop("successful-impersonation-installs-the-client-identity-at-a-permitted-level",
      "After a successful kacs_impersonate_peer or KACS_IOC_IMPERSONATE the caller impersonates a live "
      "impersonation token at the level in force, which is the client's level or, for an acting level, "
      "Identification; at Anonymous that token is the global Anonymous token, otherwise it carries the "
      "client's user SID; the caller's real token is unchanged.",
      kind="transition", sections=("§9.3", "§9.2", "§4.3", "Appendix A §13.1", "Appendix A §13.2"),
      clauses=("IMP-19", "IMP-21", "IMP-24", "IMP-27", "IOCTL-08", "LIFE-19"),
      expect={"kacs": "proved", "nt": "proved"}, rules=IMPERSONATION_CALLS,
      support=("socket-snapshots-refer-to-live-tokens", "open-token-fds-refer-to-live-tokens",
               "the-anonymous-token-is-well-formed"),
      mutants=("impersonate-peer-forgets-to-impersonate", "ioctl-impersonate-keeps-the-old-token"))
def impersonation_effects(pre, post, step):
    """§9.3 step 3: "A new credential is constructed with the impersonation token at the resulting level"
    holding its own reference (IMP-21); it replaces any previous impersonation (IMP-27); §9.2: the level
    is the client's or capped to Identification (IMP-19, IOCTL-08); §9.3 Anonymous semantics / §4.3
    Bootstrap: impersonation at Anonymous references the global Anonymous token (IMP-24, LIFE-19)."""
    if step.rule not in IMPERSONATION_CALLS:
        return True
    th = step.actor
    client, requested, _ = impersonation_request(pre, step)
    level = post.thread_imp_level[th]
    tok = post.thread_imp_token[th]
    return implies(ok(step), and_(
        post.thread_impersonating[th], post.token_alive[tok], not_(post.token_primary[tok]),
        eq(post.token_level[tok], level),
        or_(eq(level, requested), and_(uge(requested, D.IMPERSONATION), eq(level, D.IDENTIFICATION))),
        ite(eq(level, D.ANONYMOUS), eq(tok, pre.anon_token), eq(post.token_user[tok], pre.token_user[client])),
        eq(post.thread_real[th], pre.thread_real[th])))


@prop("se-impersonate-is-marked-used-when-it-lets-a-server-act-as-another-identity",
      "After a successful impersonation step that requested an acting level for a client of another user "
      "or restriction status, SeImpersonatePrivilege is marked used on the caller's primary token if that "
      "token holds it enabled.",
      kind="transition", sections=("§7.1", "§9.2", "§9.3"), clauses=("PRIV-03", "IMP-10", "IMP-30"),
      expect={"kacs": "proved", "nt": "proved"}, rules=IMPERSONATION_CALLS,
      mutants=("impersonate-peer-forgets-se-impersonate-used", "ioctl-impersonate-forgets-se-impersonate-used"))
def se_impersonate_used(pre, post, step):
    """§7.1 Lifecycle: a standalone gate's acceptance counts as exercise and sets the used bit (PRIV-03);
    §9.2/§9.3: SeImpersonatePrivilege is what lets a server pass the identity gate for another identity,
    checked on the primary token (IMP-10, IMP-30)."""
    if step.rule not in IMPERSONATION_CALLS:
        return True
    server = pre.thread_real[step.actor]
    client, requested, _ = impersonation_request(pre, step)
    other = not_(and_(eq(pre.token_user[server], pre.token_user[client]),
                      iff(pre.token_restricted[server], pre.token_restricted[client])))
    return implies(and_(ok(step), uge(requested, D.IMPERSONATION), other, holds(pre, server, D.SE_IMPERSONATE)),
                   used(post, server, D.SE_IMPERSONATE))


@prop("new-tokens-of-impersonation-and-linked-queries-take-the-next-token-id",
      "Every token object that kacs_impersonate_peer, KACS_IOC_IMPERSONATE or KACS_IOC_GET_LINKED_TOKEN "
      "brings to life gets the next token id, the id counter advances by one, and its LogonSession is "
      "recorded as having had a token; a step that creates no token leaves the counter unchanged.",
      kind="transition", sections=("§4.2", "§4.4", "§4.6", "§4.7", "§9.3"), clauses=("ELEV-09", "SESS-06"),
      expect={"kacs": "proved", "nt": "proved"}, rules=NEW_TOKEN_CALLS,
      mutants=("impersonate-peer-reuses-the-token-id", "linked-clone-reuses-the-token-id"))
def new_token_ids(pre, post, step):
    """§4.2 token_guid: every token object has its own id; §4.4 DuplicateToken semantics and §4.6
    (ELEV-09): a copy is a new token object with a new token_id; §4.7 Empty-LogonSession rollback is
    allowed only for a session that never had a live token (SESS-06), so a session that got one is
    recorded."""
    if step.rule not in NEW_TOKEN_CALLS:
        return True
    born = lambda t: and_(not_(pre.token_alive[t]), post.token_alive[t])  # noqa: E731
    some = pre.exists("Token", born)
    return and_(
        pre.forall("Token", lambda t: implies(born(t), and_(
            takes_next_token_id(pre, post, t), post.sess_had_token[post.token_session[t]]))),
        implies(not_(some), eq(post.next_token_id, pre.next_token_id)))


@prop("set-impersonation-level-applies-only-to-unconnected-sockets",
      "kacs_set_impersonation_level fails with EBADF for a socket that does not exist and with EINVAL for a "
      "connected one; otherwise it succeeds and the socket's level becomes the requested level.",
      kind="transition", sections=("Appendix A §13.1", "§9.1", "§9.3"), clauses=("IMP-08",),
      expect={"kacs": "proved", "nt": "proved"}, rules=("kacs_set_impersonation_level",),
      mutants=("set-impersonation-level-after-connect", "set-impersonation-level-is-ignored"))
def set_level(pre, post, step):
    """Appendix A §13.1 kacs_set_impersonation_level: "Called by the client before connect()" on an
    "Unconnected Unix stream or seqpacket socket"; §9.1: the client sets the maximum level (IMP-08).
    EBADF / EINVAL: DECISIONS.md."""
    if step.rule not in ("kacs_set_impersonation_level",):
        return True
    k = step.args["socket"]
    expected = first_failure([(pre.sock_alive[k], D.EBADF), (not_(pre.sock_connected[k]), D.EINVAL)])
    return and_(eq(step.errno, expected), implies(ok(step), eq(post.sock_level[k], step.args["level"])))


@prop("revert-always-succeeds-and-leaves-the-thread-on-its-primary",
      "kacs_revert always succeeds; afterwards its caller does not impersonate and its real token is "
      "unchanged.",
      kind="transition", sections=("Appendix A §13.1", "§9.3"), clauses=("IMP-23",),
      expect={"kacs": "proved", "nt": "proved"}, rules=("kacs_revert",),
      mutants=("revert-keeps-impersonating",))
def revert(pre, post, step):
    """Appendix A §13.1 kacs_revert: "0 on success (including if not impersonating). No privilege
    required."  §9.3 step 5: "The thread's credential is restored to real_cred" (IMP-23)."""
    if step.rule not in ("kacs_revert",):
        return True
    th = step.actor
    return and_(eq(step.errno, 0), not_(post.thread_impersonating[th]), eq(post.thread_real[th], pre.thread_real[th]))


# ------------------------------------------------------------------ primary replacement (§4.3, §13.2)
@prop("install-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
      "KACS_IOC_INSTALL on an fd open with TOKEN_ASSIGN_PRIMARY fails with EPERM without "
      "SeAssignPrimaryTokenPrivilege enabled on the caller's real token, then with EINVAL for a non-primary "
      "token, then with EPERM if the user SID or LogonSession differs from the caller's current primary "
      "without SeTcbPrivilege, then with EACCES if the token's LogonSession is dead, and otherwise succeeds; "
      "once the privilege gate accepts, SeAssignPrimaryTokenPrivilege is marked used, and a successful "
      "install that changes the user or LogonSession marks SeTcbPrivilege used.",
      kind="transition", sections=("Appendix A §13.2", "§4.3", "§4.7", "§7.1"),
      clauses=("IOCTL-09", "IOCTL-12", "IOCTL-13", "IOCTL-14", "IOCTL-15", "PRIV-03", "PRIV-05"),
      expect={"kacs": "proved", "nt": "refuted"}, rules=("ioctl_install",),
      mutants=("install-ignores-the-user-check", "install-ignores-the-session-check",
               "install-judges-on-the-effective-token",
               "install-forgets-tcb-used"),
      note="NT (nt-reference.md §6.2) lets a caller without SeAssignPrimaryTokenPrivilege install a child or "
           "sibling token, has no user or LogonSession comparison and never marks SeTcbPrivilege used; BMC "
           "finds it in four steps (SYSTEM's init disables SeAssignPrimaryTokenPrivilege, duplicates its own "
           "token to a primary and installs it: NT accepts, KACS answers EPERM).")
def install_requirements(pre, post, step):
    """Appendix A §13.2 KACS_IOC_INSTALL, Requirements: SeAssignPrimaryTokenPrivilege on the caller's real
    token (IOCTL-12); "The token MUST be a primary token" (IOCTL-09); user SID and LogonSession must match
    the current primary unless SeTcbPrivilege (IOCTL-13, IOCTL-14); the new token's LogonSession MUST NOT
    be dead, unconditionally (IOCTL-15, §4.7 Token installation).  Errno order: DECISIONS.md.  §7.1
    Lifecycle: a standalone gate's acceptance marks its privilege used (PRIV-03)."""
    if step.rule not in ("ioctl_install",):
        return True
    real = pre.thread_real[step.actor]
    tok = fd_token(pre, step)
    changed = identity_differs(pre, tok, real)
    tcb = holds(pre, real, D.SE_TCB)
    expected = first_failure([(holds(pre, real, D.SE_ASSIGN_PRIMARY), D.EPERM), (pre.token_primary[tok], D.EINVAL),
                              (or_(not_(changed), tcb), D.EPERM),
                              (not_(pre.sess_dead[pre.token_session[tok]]), D.EACCES)])
    return primary_gate_outcome(pre, post, step, real, changed, expected)


@prop("install-commits-the-token-for-the-whole-process",
      "After a successful KACS_IOC_INSTALL the caller's process has the fd's token as its primary, the "
      "caller's real token is that token, every other live thread of the process has queued install work, "
      "the caller's impersonation is kept, and the process SD is regenerated with the new user as owner "
      "if the user SID changed and kept otherwise.",
      kind="transition", sections=("§4.3", "Appendix A §13.2", "§5.3"),
      clauses=("LIFE-08", "LIFE-09", "LIFE-10", "LIFE-11", "IOCTL-10", "IOCTL-11"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("ioctl_install",),
      mutants=("install-keeps-the-old-real-token", "install-keeps-the-process-sd"))
def install_effects(pre, post, step):
    """§4.3 Self-install: the install is process-wide (LIFE-08); the calling thread installs immediately,
    siblings converge via queued credential work (LIFE-10, IOCTL-10); an impersonating thread keeps its
    impersonation (LIFE-09); a changed user SID regenerates the process SD from the default template with
    the new user as owner, otherwise the SD is preserved (LIFE-11, IOCTL-11)."""
    if step.rule not in ("ioctl_install",):
        return True
    th = step.actor
    p = pre.thread_proc[th]
    tok = fd_token(pre, step)
    real = pre.thread_real[th]
    user_changed = ne(pre.token_user[tok], pre.token_user[real])
    sd_fields = ("proc_sd_owner", "proc_sd_dacl_present", "proc_sd_ace0_sid", "proc_sd_ace0_mask",
                 "proc_sd_label_level")
    kept = and_(*(eq(post.view(f)[p], pre.view(f)[p]) for f in sd_fields))
    return implies(ok(step), and_(
        eq(post.proc_primary[p], tok), eq(post.thread_real[th], tok),
        pre.forall("Thread", lambda x: implies(and_(pre.thread_alive[x], eq(pre.thread_proc[x], p), ne(x, th)),
                                               post.thread_install_pending[x])),
        eq(post.thread_impersonating[th], pre.thread_impersonating[th]),
        ite(user_changed, and_(eq(post.proc_sd_owner[p], pre.token_user[tok]),
                               eq(post.proc_sd_label_level[p], pre.token_integrity[tok])), kept)))


@prop("install-work-lands-the-committed-primary-and-is-done",
      "When a thread runs its queued install work, its real token becomes its process's committed primary, "
      "it has no install work left, and its impersonation is kept.",
      kind="transition", sections=("§4.3", "Appendix A §13.2"), clauses=("LIFE-09", "LIFE-10", "IOCTL-10"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("install_converge",),
      mutants=("install-work-stays-pending",))
def converge(pre, post, step):
    """§4.3 Self-install / External token replacement: "Sibling threads in the same thread group converge in
    their own context via queued in-kernel credential work" (LIFE-10, IOCTL-10): each executes the swap of
    real_cred once; "the active impersonation remains in cred" (LIFE-09)."""
    if step.rule not in ("install_converge",):
        return True
    th = step.actor
    return and_(eq(post.thread_real[th], pre.proc_primary[pre.thread_proc[th]]),
                not_(post.thread_install_pending[th]),
                eq(post.thread_impersonating[th], pre.thread_impersonating[th]))


@prop("external-replacement-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
      "External primary replacement with an fd open with TOKEN_ASSIGN_PRIMARY fails with EPERM without "
      "SeAssignPrimaryTokenPrivilege enabled on the caller's real token, then with ESRCH for a target "
      "process that does not exist, then with EACCES unless AccessCheck of the caller's effective token "
      "grants PROCESS_SET_INFORMATION on the target's process SD, then with EINVAL for a non-primary token, "
      "then with EPERM if the user SID or LogonSession differs from the target's current primary without "
      "SeTcbPrivilege, and otherwise succeeds; SeAssignPrimaryTokenPrivilege is marked used once its gate "
      "accepts and SeTcbPrivilege when a successful replacement changes the user or LogonSession.",
      kind="transition", sections=("§4.3", "§5.3", "§7.1"),
      clauses=("LIFE-21", "LIFE-23", "LIFE-24", "LIFE-25", "PRIV-03"),
      expect={"kacs": "proved", "nt": "refuted"}, rules=("external_replace_primary",),
      mutants=("external-replace-ignores-the-session-check", "external-replace-forgets-assign-primary-used",
               "external-replace-judges-on-the-effective-token", "external-replace-reaches-dead-processes",
               "external-replace-ignores-the-user-check"),
      note="NT (nt-reference.md §6) compares neither user nor LogonSession with the target and never marks "
           "SeTcbPrivilege used; BMC finds it in two steps (SYSTEM's init opens its own token with "
           "TOKEN_ASSIGN_PRIMARY and makes it bob's shell's primary: the user changes, no SeTcbPrivilege is "
           "marked used).")
def external_requirements(pre, post, step):
    """§4.3 External token replacement, Requirements: SeAssignPrimaryTokenPrivilege on the caller's real
    token, TOKEN_ASSIGN_PRIMARY on the fd, PROCESS_SET_INFORMATION on the target's process SD (LIFE-23;
    AccessCheck with the caller's effective token, §5.3); user SID and LogonSession must match the
    target's current primary unless SeTcbPrivilege (LIFE-24, LIFE-25).  ESRCH, EINVAL and the order:
    DECISIONS.md.  §7.1: acceptance of a standalone gate marks its privilege used (PRIV-03)."""
    if step.rule not in ("external_replace_primary",):
        return True
    th = step.actor
    target = step.args["target"]
    real = pre.thread_real[th]
    tok = fd_token(pre, step)
    old = pre.proc_primary[target]
    changed = identity_differs(pre, tok, old)
    granted = access_check(pre, effective_token(pre, th), read_sd(pre, "proc_sd", target),
                           D.PROCESS_SET_INFORMATION, D.PROCESS_MAPPING).allowed
    expected = first_failure([(holds(pre, real, D.SE_ASSIGN_PRIMARY), D.EPERM), (pre.proc_alive[target], D.ESRCH),
                              (granted, D.EACCES), (pre.token_primary[tok], D.EINVAL),
                              (or_(not_(changed), holds(pre, real, D.SE_TCB)), D.EPERM)])
    return primary_gate_outcome(pre, post, step, real, changed, expected)


@prop("external-replacement-commits-the-primary-and-queues-every-target-thread",
      "After a successful external primary replacement the target process's committed primary is the fd's "
      "token and every live thread of the target has queued install work.",
      kind="transition", sections=("§4.3",), clauses=("LIFE-21", "LIFE-22"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("external_replace_primary",),
      mutants=("external-replace-queues-no-work",))
def external_effects(pre, post, step):
    """§4.3 External token replacement: the primary token of the running process is replaced (LIFE-21) by
    queuing a credential swap on each task of the target thread group (task_work_add, LIFE-22)."""
    if step.rule not in ("external_replace_primary",):
        return True
    target = step.args["target"]
    return implies(ok(step), and_(
        eq(post.proc_primary[target], fd_token(pre, step)),
        pre.forall("Thread", lambda x: implies(and_(pre.thread_alive[x], eq(pre.thread_proc[x], target)),
                                               post.thread_install_pending[x]))))


# ------------------------------------------------------------------ LogonSessions (§4.7, Appendix A §1)
@prop("logon-session-calls-fail-with-eperm-then-enoent-then-ebusy",
      "kacs_create_logon_session, kacs_invalidate_logon_session and kacs_destroy_empty_logon_session fail "
      "with EPERM unless the caller's effective token holds SeTcbPrivilege enabled; invalidate and destroy "
      "then fail with ENOENT for a LogonSession that does not exist, and destroy then with EBUSY while a "
      "live token references the session or it holds a linked pair; otherwise they succeed.",
      kind="transition", sections=("§4.7", "Appendix A §1", "§7.1"),
      clauses=("SESS-05", "SESS-06", "SESS-07", "SESS-08", "SESS-11", "PRIV-05"),
      expect={"kacs": "proved", "nt": "proved"}, rules=SESSION_CALLS,
      mutants=("create-logon-session-without-tcb", "destroy-session-with-live-tokens",
               "invalidate-unknown-session", "destroy-unknown-session"))
def session_errnos(pre, post, step):
    """Appendix A §1: each of the three calls "Requires SeTcbPrivilege" (a standalone gate on the calling
    thread's token, §7.1 PRIV-05); invalidating a nonexistent LogonSession returns -ENOENT, an
    already-dead one is a no-op returning 0; §4.7 Empty-LogonSession rollback: succeeds only if the
    session exists, has zero live tokens and no linked-token state (SESS-06), -ENOENT if it does not
    exist (SESS-07), -EBUSY otherwise (SESS-08)."""
    if step.rule not in SESSION_CALLS:
        return True
    tcb = (holds(pre, effective_token(pre, step.actor), D.SE_TCB), D.EPERM)
    if step.rule == "kacs_create_logon_session":
        return eq(step.errno, first_failure([tcb]))
    x = step.args["session"]
    rows = [tcb, (pre.sess_alive[x], D.ENOENT)]
    if step.rule == "kacs_destroy_empty_logon_session":
        live = pre.exists("Token", lambda t: and_(pre.token_alive[t], eq(pre.token_session[t], x)))
        rows.append((not_(or_(live, pre.sess_linked[x])), D.EBUSY))
    return eq(step.errno, first_failure(rows))


@prop("logon-session-calls-have-the-spec-effects",
      "A successful kacs_create_logon_session brings a new LogonSession to life that is not dead, has had "
      "no token, holds no linked pair and has the next LUID, and advances the LUID counter by one; a "
      "successful invalidation leaves the session dead; a successful destroy leaves it gone.",
      kind="transition", sections=("§4.7", "§4.3", "Appendix A §1"),
      clauses=("SESS-01", "SESS-06", "SESS-11", "SESS-12"),
      expect={"kacs": "proved", "nt": "proved"}, rules=SESSION_CALLS,
      mutants=("create-logon-session-reuses-the-luid", "invalidate-does-not-mark-dead",
               "destroy-session-keeps-it"))
def session_effects(pre, post, step):
    """§4.7 LogonSessions: creation makes a LogonSession identified by a LUID (auto-generated, §4.3
    Well-known LogonSession LUIDs: never reused) from which the logon SID derives (SESS-01); its dead flag
    starts false and invalidation sets it (SESS-11, SESS-12); Empty-LogonSession rollback destroys the
    object (SESS-06)."""
    if step.rule not in SESSION_CALLS:
        return True
    x = step.args["session"]
    if step.rule == "kacs_create_logon_session":
        return implies(ok(step), and_(
            not_(pre.sess_alive[x]), post.sess_alive[x], not_(post.sess_dead[x]), not_(post.sess_had_token[x]),
            not_(post.sess_linked[x]), eq(post.sess_luid[x], pre.next_luid),
            eq(post.next_luid, inc(pre.next_luid, D.ID_W))))
    if step.rule == "kacs_invalidate_logon_session":
        return implies(ok(step), and_(post.sess_alive[x], post.sess_dead[x]))
    return implies(ok(step), not_(post.sess_alive[x]))


@prop("tcb-is-marked-used-when-a-session-or-link-gate-accepts",
      "Whenever the caller's effective token holds SeTcbPrivilege enabled, kacs_create_logon_session, "
      "kacs_invalidate_logon_session, kacs_destroy_empty_logon_session and KACS_IOC_LINK_TOKENS mark it used "
      "on that token whatever their outcome, and a successful KACS_IOC_GET_LINKED_TOKEN marks it used.",
      kind="transition", sections=("§7.1", "§4.6", "§4.7", "Appendix A §1", "Appendix A §2"),
      clauses=("PRIV-03", "PRIV-05", "SESS-05", "IOCTL-34", "ELEV-11"),
      expect={"kacs": "proved", "nt": "proved"}, rules=(*SESSION_CALLS, "ioctl_link_tokens", "ioctl_get_linked_token"),
      mutants=("invalidate-forgets-tcb-used", "get-linked-token-forgets-tcb-used"))
def tcb_used(pre, post, step):
    """§7.1 Lifecycle: "For a standalone gate, acceptance counts as exercise": the used bit is set even if
    a later gate denies (PRIV-03); the gates of Appendix A §1 and §2 are standalone SeTcbPrivilege gates
    on the calling thread's token (PRIV-05).  KACS_IOC_GET_LINKED_TOKEN has no SeTcbPrivilege gate: the
    privilege only decides what the caller receives (ELEV-11), so it is exercised when the call
    succeeds."""
    if step.rule not in (*SESSION_CALLS, "ioctl_link_tokens", "ioctl_get_linked_token"):
        return True
    tok = effective_token(pre, step.actor)
    held = holds(pre, tok, D.SE_TCB)
    if step.rule == "ioctl_get_linked_token":
        return implies(and_(ok(step), held), used(post, tok, D.SE_TCB))
    return implies(held, used(post, tok, D.SE_TCB))


# ------------------------------------------------------------------ linked tokens (§4.6, Appendix A §2)
@prop("link-tokens-fails-with-eperm-then-einval-for-bad-pairs-and-registers-full-and-limited",
      "KACS_IOC_LINK_TOKENS fails with EPERM unless the caller's effective token holds SeTcbPrivilege "
      "enabled; with both fds open with TOKEN_DUPLICATE it then fails with EINVAL if both name the same "
      "token, then if the session does not exist or the tokens are not both primary members of it with one "
      "user SID, then for a role change (a Limited token as elevated, a Full token as filtered); on success "
      "the session holds the pair, the elevated token is Full and the filtered token Limited.",
      kind="transition", sections=("§4.6", "Appendix A §2"),
      clauses=("IOCTL-32", "IOCTL-33", "IOCTL-34", "IOCTL-35", "IOCTL-36", "ELEV-02", "ELEV-03", "ELEV-04",
               "ELEV-05", "ELEV-07"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("ioctl_link_tokens",),
      mutants=("link-tokens-without-tcb", "link-tokens-links-a-token-to-itself", "link-tokens-forgets-the-pair"))
def link_tokens(pre, post, step):
    """Appendix A §2 KACS_IOC_LINK_TOKENS: "Requires SeTcbPrivilege" (IOCTL-34); both tokens MUST belong to
    the LogonSession, be primary and carry the same user SID (IOCTL-32; §4.6 ELEV-02..04); "Linking a token
    to itself returns -EINVAL" (IOCTL-35); role changes fail with -EINVAL (IOCTL-36); "the elevated token's
    elevation_type is set to Full and the filtered token's to Limited" (IOCTL-33); "the pair is registered
    at the LogonSession level" (ELEV-07).  Errno order: DECISIONS.md."""
    if step.rule not in ("ioctl_link_tokens",):
        return True
    x = step.args["session"]
    e, f = fd_token(pre, step, "elevated_fd"), fd_token(pre, step, "filtered_fd")
    tcb = holds(pre, effective_token(pre, step.actor), D.SE_TCB)
    fds = and_(fd_has(pre, step, "elevated_fd", D.TOKEN_DUPLICATE), fd_has(pre, step, "filtered_fd", D.TOKEN_DUPLICATE))
    members = and_(pre.sess_alive[x], eq(pre.token_session[e], x), eq(pre.token_session[f], x),
                   pre.token_primary[e], pre.token_primary[f], eq(pre.token_user[e], pre.token_user[f]))
    roles = and_(ne(pre.token_elevation[e], D.ELEV_LIMITED), ne(pre.token_elevation[f], D.ELEV_FULL))
    expected = first_failure([(ne(e, f), D.EINVAL), (members, D.EINVAL), (roles, D.EINVAL)])
    return and_(implies(not_(tcb), eq(step.errno, D.EPERM)),
                implies(and_(tcb, fds), eq(step.errno, expected)),
                implies(ok(step), and_(post.sess_linked[x], eq(post.sess_elevated[x], e), eq(post.sess_filtered[x], f),
                                       eq(post.token_elevation[e], D.ELEV_FULL),
                                       eq(post.token_elevation[f], D.ELEV_LIMITED))))


@prop("get-linked-token-returns-the-partner-to-tcb-and-a-query-only-identification-clone-to-others",
      "KACS_IOC_GET_LINKED_TOKEN on an fd open with TOKEN_QUERY fails with ENOENT unless the fd's token is "
      "the elevated or filtered member of its live session's registered pair, and otherwise succeeds with "
      "a new close-on-exec fd: with SeTcbPrivilege enabled on the caller's effective token a "
      "TOKEN_ALL_ACCESS handle to the partner itself, without it a TOKEN_QUERY handle to a new "
      "Identification-level impersonation token carrying the partner's user SID and elevation type, whose "
      "modified_id is its own token id and whose SD is owned by the caller's primary user.",
      kind="transition", sections=("§4.6", "Appendix A §2", "§4.4", "§4.8"),
      clauses=("ELEV-06", "ELEV-07", "ELEV-08", "ELEV-09", "ELEV-11", "ELEV-15", "IOCTL-37", "IOCTL-38",
               "IOCTL-39", "CREATE-04"),
      expect={"kacs": "proved", "nt": "proved"}, rules=("ioctl_get_linked_token",),
      mutants=("get-linked-token-gives-everyone-the-partner", "get-linked-token-ignores-the-pair",
               "get-linked-token-clone-owned-by-the-effective-user", "get-linked-token-never-creates-the-clone"))
def get_linked(pre, post, step):
    """§4.6 KACS responsibilities / Appendix A §2 KACS_IOC_GET_LINKED_TOKEN: a token not in an active pair
    returns -ENOENT (IOCTL-37, ELEV-06, ELEV-15); without SeTcbPrivilege a deep clone at Identification
    level with TOKEN_QUERY access only, new token_id, modified_id = the new token_id, fresh default SD,
    the partner's elevation_type (ELEV-08, ELEV-09, IOCTL-38); with SeTcbPrivilege "a full handle to the
    actual linked token" (ELEV-11, IOCTL-39).  The default token SD is owned by its creator, the caller's
    primary-token user (§4.8, CREATE-04).  New token fds are O_CLOEXEC (Appendix A §2)."""
    if step.rule not in ("ioctl_get_linked_token",):
        return True
    th = step.actor
    p = pre.thread_proc[th]
    tok = fd_token(pre, step)
    x = pre.token_session[tok]
    el, fi = pre.sess_elevated[x], pre.sess_filtered[x]
    member = and_(pre.sess_alive[x], pre.sess_linked[x], or_(eq(tok, el), eq(tok, fi)))
    partner = ite(eq(tok, el), fi, el)
    h = step.args["new_fd"]
    got = post.fd_token[p, h]
    tcb = holds(pre, effective_token(pre, th), D.SE_TCB)
    clone = and_(not_(pre.token_alive[got]), post.token_alive[got], not_(post.token_primary[got]),
                 eq(post.token_level[got], D.IDENTIFICATION), eq(post.token_user[got], pre.token_user[partner]),
                 eq(post.token_elevation[got], pre.token_elevation[partner]),
                 eq(post.token_modified_id[got], post.token_id[got]),
                 eq(post.token_sd_owner[got], pre.token_user[pre.thread_real[th]]),
                 eq(post.fd_mask[p, h], D.TOKEN_QUERY))
    full = and_(eq(got, partner), eq(post.fd_mask[p, h], D.TOKEN_ALL_ACCESS))
    return implies(fd_has(pre, step, "fd", D.TOKEN_QUERY), and_(
        eq(step.errno, first_failure([(member, D.ENOENT)])),
        implies(ok(step), and_(post.fd_open[p, h], post.fd_cloexec[p, h], ite(tcb, full, clone)))))


# ------------------------------------------------------------------ survivors (merged into killmatrix.SURVIVORS)
_EQ_HAD_TOKEN = (
    "equivalent", "the skipped effect is sess_had_token[session of the new copy] := True; the copy's LogonSession "
    "is its source's (DuplicateToken semantics copy auth_id, §4.4), the source is a live token (fd, socket "
    "snapshot or linked-pair member: open-token-fds-refer-to-live-tokens, socket-snapshots-refer-to-live-tokens, "
    "linked-pairs-are-live-members-of-their-session), and every live token's session already has "
    "sess_had_token (set by every token creation, true at boot).  z3 check (InductionProver, kacs): the "
    "invariant 'every live token's session has sess_had_token' is inductive with the token-source lemmas, and "
    "with it kacs_impersonate_peer, ioctl_impersonate and ioctl_get_linked_token provably leave sess_had_token "
    "unchanged: the write is a no-op in every reachable state.")

# reviewed survivors of the authority rules (merged into tokenproof.killmatrix.SURVIVORS)
SURVIVORS_AUTHORITY: dict[str, tuple[str, str]] = {
    "kacs_impersonate_peer/skip-effect-2": _EQ_HAD_TOKEN,
    "ioctl_impersonate/skip-effect-2": _EQ_HAD_TOKEN,
    "ioctl_get_linked_token/skip-effect-2": _EQ_HAD_TOKEN,
    "kacs_create_logon_session/flip-ne-eq": (
        "gap", "reading ne as eq in the rule's freshness assumptions makes them unsatisfiable (the new logon SID "
        "would have to equal every well-known SID at once), so the mutant has no kacs_create_logon_session step "
        "at all: no safety property (state or transition) can see a step that never happens; the conformance "
        "scenarios (create-logon-session-*.json) catch it, a catalog kill would need an enabledness "
        "(vacuity) check of the rule."),
}

__all__ = ["SURVIVORS_AUTHORITY", "gated_level", "hard_deny", "impersonation_request", "used"]
