"""The named mutants every property is checked against (``tokenproof.mutants.SEEDED``).

Each one breaks a rule in a way a spec author could plausibly get wrong.
Properties name the mutants that must refute them (``mutants=`` in ``@prop``).

Mutants are built from the real rule text (``drop_guard`` / ``skip_effect`` /
``ignore_guards`` count the rule's own ``require`` and effect calls, see
``tokenproof.mutants.count_sites``).  ``swap`` mutants replace one helper the
rule calls; the replacements below are small wrappers around the real helper
(never copies of a rule), each described by its mutant.
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.rules import common as _common
from model.rules import impersonation as _imp
from model.values import BV, and_, eq, inc, ite, or_, uge
from tokenproof.mutants import Mutant, seed


# ------------------------------------------------------------------ helper replacements
def _always(*_: Any) -> bool:
    """A predicate that is always true (used to erase a freshness or identity check)."""
    return True


def _or_instead_of_clear(mask: Any, bits: Any) -> Any:
    """``mask | bits`` where the rule meant ``mask & ~bits``."""
    return mask | bits


def _counter_reset(x: Any, width: int) -> Any:
    """The 'next value' of a counter is 0 instead of x + 1."""
    return BV(0, width)


def _no_fresh_fd_check(st: Any, p: Any, fd: Any) -> None:
    """Forget that a new fd number must be unused."""
    return None


def _refs_without_fds(s: Any, t: Any) -> Any:
    """``referenced_outside_pairs`` that forgets fd references."""
    by_thread = s.exists("Thread", lambda x: and_(s.thread_alive[x], or_(
        eq(s.thread_real[x], t), and_(s.thread_impersonating[x], eq(s.thread_imp_token[x], t)))))
    by_process = s.exists("Process", lambda p: and_(s.proc_alive[p], eq(s.proc_primary[p], t)))
    by_socket = s.exists("Socket", lambda k: and_(s.sock_alive[k], s.sock_has_peer[k], eq(s.sock_peer_token[k], t)))
    return or_(by_thread, by_process, by_socket)


def _refs_without_sockets(s: Any, t: Any) -> Any:
    """``referenced_outside_pairs`` that forgets socket peer snapshots."""
    by_thread = s.exists("Thread", lambda x: and_(s.thread_alive[x], or_(
        eq(s.thread_real[x], t), and_(s.thread_impersonating[x], eq(s.thread_imp_token[x], t)))))
    by_process = s.exists("Process", lambda p: and_(s.proc_alive[p], eq(s.proc_primary[p], t)))
    by_fd = s.exists2("Process", "Handle", lambda p, h: and_(s.fd_open[p, h], eq(s.fd_token[p, h], t)))
    return or_(by_thread, by_process, by_fd)


def _bump_and_clear_used(st: Any, tok: Any) -> None:
    """``bump_modified`` that also clears the token's used bits."""
    _common.bump_modified(st, tok)
    st.set("token_privs_used", tok, BV(0, D.PRIV_W))


def _actor_alive_and_bump(st: Any) -> None:
    """``actor_alive`` followed by a modified_id bump of the actor's effective token."""
    _common.actor_alive(st)
    _common.bump_modified(st, _common.effective_token(st.pre, st.actor))


def _actor_alive_then_early_bump(st: Any) -> None:
    """``actor_alive`` followed by an unguarded (``set_now`` before any guard) modified_id bump of the
    token behind the rule's ``fd`` argument."""
    _common.actor_alive(st)
    s = st.pre
    tok = s.fd_token[s.thread_proc[st.actor], st.args["fd"]]
    st.set_now("token_modified_id", tok, inc(s.token_modified_id[tok], D.ID_W))


def _copy_keeps_elevation(s: Any, creator_user: Any, token_user: Any) -> dict[str, Any]:
    """``fresh_copy_overrides`` without the reset of elevation_type to Default."""
    out = _common.fresh_copy_overrides(s, creator_user, token_user)
    del out["token_elevation"]
    return out


def _gates_at_delegation(s: Any, server_tok: Any, client_tok: Any, requested: Any) -> tuple[Any, Any]:
    """The §9.2 gates asked for Delegation whatever level the client chose."""
    return _imp.impersonation_gates(s, server_tok, client_tok, D.DELEGATION)


def _gates_privilege_lifts_ceiling(s: Any, server_tok: Any, client_tok: Any, requested: Any) -> tuple[Any, Any]:
    """The NT reference behaviour: SeImpersonatePrivilege passes before the integrity ceiling."""
    eperm, level = _imp.impersonation_gates(s, server_tok, client_tok, requested)
    lifted = and_(_common.holds(s, server_tok, D.SE_IMPERSONATE), uge(requested, D.IMPERSONATION))
    return eperm, ite(lifted, requested, level)


def _impersonate_the_source(st: Any, server_tok: Any, src: Any, level: Any, imp_copy: Any, exercised: Any) -> None:
    """``start_impersonation`` that then points the thread at the source token itself."""
    _imp.start_impersonation(st, server_tok, src, level, imp_copy, exercised)
    st.set("thread_imp_token", st.actor, src)


# ------------------------------------------------------------------ lifecycle
seed(Mutant("fork-shares-token", "fork",
            "fork does not write the child's token object (its first effect): the child process and thread "
            "point at a token that is not alive", skip_effect=0))
seed(Mutant("fork-reuses-a-live-token", "fork",
            "fork does not check that the objects it allocates are unused: the child's 'new' token may be a "
            "live token, which is overwritten with a copy of the parent's primary", swap=("not_", _always)))
seed(Mutant("fork-copies-the-effective-token", "fork",
            "fork deep-copies the caller's effective token (its impersonation token if impersonating) instead "
            "of its primary (LIFE-02)", swap=("real_token", _common.effective_token)))
seed(Mutant("exec-keeps-impersonation", "exec", "exec does not revert the caller's impersonation (LIFE-07)",
            skip_effect=1))
seed(Mutant("exec-keeps-cloexec-fds", "exec", "exec does not close the close-on-exec token fds (IOCTL-02)",
            skip_effect=2))
seed(Mutant("clone-thread-inherits-impersonation", "clone_thread",
            "clone_thread gives the new thread the caller's effective token (its impersonation token) as its "
            "real token (LIFE-05)", swap=("real_token", _common.effective_token)))
seed(Mutant("close-ignores-ebadf", "close_handle",
            "close_handle does not check the fd is open (an equivalent mutant: closing a closed fd changes "
            "nothing but the errno)", drop_guard=0))
seed(Mutant("process-exit-leaves-threads-running", "process_exit",
            "exit_group does not end the process's threads (they stay alive in a dead process and lose their "
            "impersonation)", skip_effect=1))
seed(Mutant("free-token-ignores-fds", "kernel_free_token",
            "the kernel's refcount forgets fd references: a token held only by an open fd is freed",
            swap=("referenced_outside_pairs", _refs_without_fds)))
seed(Mutant("free-token-ignores-socket-snapshots", "kernel_free_token",
            "the kernel's refcount forgets socket peer snapshots: a captured token is freed under the socket",
            swap=("referenced_outside_pairs", _refs_without_sockets)))
seed(Mutant("kernel-destroys-well-known-sessions", "kernel_destroy_session",
            "the kernel's session reclamation does not exempt the SYSTEM and ANONYMOUS sessions (it may destroy "
            "them and free the global Anonymous token)", swap=("ne", _always)))

# ------------------------------------------------------------------ primary replacement
seed(Mutant("install-does-not-queue-sibling-work", "ioctl_install",
            "KACS_IOC_INSTALL switches the caller but queues no install work for its sibling threads (LIFE-10)",
            skip_effect=4))
seed(Mutant("install-without-assign-primary-privilege", "ioctl_install",
            "KACS_IOC_INSTALL does not require SeAssignPrimaryTokenPrivilege (IOCTL-12)", drop_guard=2))
seed(Mutant("install-judges-privilege-on-effective-token", "ioctl_install",
            "KACS_IOC_INSTALL judges SeAssignPrimaryTokenPrivilege, SeTcbPrivilege and the same-user/session "
            "rule on the caller's effective token instead of its real token",
            swap=("real_token", _common.effective_token)))
seed(Mutant("install-accepts-dead-session-tokens", "ioctl_install",
            "KACS_IOC_INSTALL does not reject a token of a dead LogonSession (SESS-16, IOCTL-15)", drop_guard=6))
seed(Mutant("install-ignores-its-guards", "ioctl_install",
            "KACS_IOC_INSTALL checks none of its guards: any token behind any open fd becomes the caller's "
            "primary (no handle right, no privilege, no type/user/session checks)", ignore_guards=True))

# ------------------------------------------------------------------ privileges
seed(Mutant("adjust-privs-checks-no-guards", "ioctl_adjust_privs",
            "KACS_IOC_ADJUST_PRIVS checks none of its guards: every request succeeds and applies (no handle "
            "right, no validation, ADJ-03/04/09)", ignore_guards=True))
seed(Mutant("adjust-privs-bumps-before-validating", "ioctl_adjust_privs",
            "KACS_IOC_ADJUST_PRIVS bumps modified_id before validating the request, so a rejected request "
            "still changes the token (ADJ-09)", swap=("actor_alive", _actor_alive_then_early_bump)))
seed(Mutant("adjust-privs-remove-adds", "ioctl_adjust_privs",
            "KACS_IOC_ADJUST_PRIVS ORs masks where it should clear them: 'remove' adds privileges to present",
            swap=("clear", _or_instead_of_clear)))
seed(Mutant("adjust-privs-enables-absent-privileges", "ioctl_adjust_privs",
            "KACS_IOC_ADJUST_PRIVS lets a request enable a privilege that is not present (ADJ-04)", drop_guard=5))
seed(Mutant("adjust-privs-remove-keeps-default", "ioctl_adjust_privs",
            "KACS_IOC_ADJUST_PRIVS remove does not clear enabled-by-default (TOK-34), so a reset brings the "
            "privilege back enabled", skip_effect=2))
seed(Mutant("adjust-privs-remove-clears-used", "ioctl_adjust_privs",
            "KACS_IOC_ADJUST_PRIVS clears the token's used bits when it bumps modified_id (TOK-33, PRIV-04)",
            swap=("bump_modified", _bump_and_clear_used)))
seed(Mutant("privilege-check-bumps-modified-id", "kacs_privilege_check",
            "kacs_privilege_check bumps the effective token's modified_id when it marks privileges used (TOK-46)",
            swap=("actor_alive", _actor_alive_and_bump)))
seed(Mutant("adjust-groups-forgets-modified-id", "ioctl_adjust_groups",
            "KACS_IOC_ADJUST_GROUPS does not bump modified_id (ADJ-02)", skip_effect=1))
seed(Mutant("adjust-scope-judges-tcb-on-effective-token", "ioctl_adjust_interactivity_scope",
            "KACS_IOC_ADJUST_INTERACTIVITY_SCOPE judges SeTcbPrivilege on the effective instead of the real "
            "token (IOCTL-27)", swap=("real_token", _common.effective_token)))

# ------------------------------------------------------------------ groups
seed(Mutant("adjust-groups-ignores-protected-groups", "ioctl_adjust_groups",
            "KACS_IOC_ADJUST_GROUPS lets entries target mandatory, deny-only and logon-SID groups (IOCTL-25)",
            drop_guard=6))
seed(Mutant("restrict-adds-instead-of-removing", "ioctl_restrict",
            "KACS_IOC_RESTRICT ORs masks where it should clear them: deleted privileges stay and deny-only "
            "groups become enabled", swap=("clear", _or_instead_of_clear)))

# ------------------------------------------------------------------ types and levels
seed(Mutant("create-token-accepts-leveled-primary", "kacs_create_token",
            "kacs_create_token does not require Anonymous level for a Primary token (validation 6, CREATE-10)",
            drop_guard=7))
seed(Mutant("create-token-skips-write-restricted-check", "kacs_create_token",
            "kacs_create_token does not require user_deny_only for write_restricted (validation 7, CREATE-11)",
            drop_guard=8))
seed(Mutant("duplicate-raises-the-level", "ioctl_duplicate",
            "KACS_IOC_DUPLICATE lets an Impersonation-to-Impersonation duplicate raise the level (CREATE-20)",
            drop_guard=2))
seed(Mutant("restrict-keeps-the-elevation", "ioctl_restrict",
            "KACS_IOC_RESTRICT copies the source's elevation_type instead of resetting it to Default (TOK-38)",
            swap=("fresh_copy_overrides", _copy_keeps_elevation)))
seed(Mutant("link-tokens-allows-role-change", "ioctl_link_tokens",
            "KACS_IOC_LINK_TOKENS lets a Limited token become elevated or a Full token filtered (IOCTL-36, TOK-37)",
            drop_guard=5))
seed(Mutant("link-tokens-skips-session-checks", "ioctl_link_tokens",
            "KACS_IOC_LINK_TOKENS does not check that both tokens are primary tokens of the same user in the "
            "named session (IOCTL-32)", drop_guard=4))
seed(Mutant("get-linked-token-leaves-the-mask-stale", "ioctl_get_linked_token",
            "KACS_IOC_GET_LINKED_TOKEN does not set the new fd's cached mask (it keeps whatever was there)",
            skip_effect=6))

# ------------------------------------------------------------------ impersonation
seed(Mutant("impersonate-peer-gates-on-effective-token", "kacs_impersonate_peer",
            "kacs_impersonate_peer judges both gates on the caller's effective token (a current impersonation) "
            "instead of its primary (IMP-14)", swap=("real_token", _common.effective_token)))
seed(Mutant("impersonate-peer-ignores-the-socket-level", "kacs_impersonate_peer",
            "kacs_impersonate_peer asks the gates for Delegation whatever level the client set (IMP-02)",
            swap=("impersonation_gates", _gates_at_delegation)))
seed(Mutant("se-impersonate-lifts-the-ceiling", "kacs_impersonate_peer",
            "kacs_impersonate_peer lets SeImpersonatePrivilege bypass the integrity ceiling (the NT rule; "
            "IMP-18, IMP-31)", swap=("impersonation_gates", _gates_privilege_lifts_ceiling)))
seed(Mutant("impersonate-peer-references-the-snapshot", "kacs_impersonate_peer",
            "kacs_impersonate_peer makes the thread impersonate the captured token object itself (possibly "
            "the client's primary) instead of an impersonation token at the granted level",
            swap=("start_impersonation", _impersonate_the_source)))
seed(Mutant("ioctl-impersonate-skips-the-restricted-hard-deny", "ioctl_impersonate",
            "KACS_IOC_IMPERSONATE does not hard-deny restricted-server -> unrestricted-client same-user "
            "impersonation (IMP-13, IOCTL-07)", drop_guard=3))
seed(Mutant("ioctl-impersonate-forgets-the-level", "ioctl_impersonate",
            "KACS_IOC_IMPERSONATE does not record the level in force (the thread keeps its previous level)",
            skip_effect=5))

# ------------------------------------------------------------------ handles
seed(Mutant("open-self-token-reuses-an-open-fd", "kacs_open_self_token",
            "kacs_open_self_token may hand out an fd number that is already open, overwriting its cached mask",
            swap=("assume_fresh_fd", _no_fresh_fd_check)))
seed(Mutant("open-self-token-forgets-cloexec", "kacs_open_self_token",
            "kacs_open_self_token does not set FD_CLOEXEC on the new fd (IOCTL-02)", skip_effect=3))
seed(Mutant("open-peer-token-leaves-the-mask-stale", "kacs_open_peer_token",
            "kacs_open_peer_token does not set the new fd's cached mask (RIGHTS-03)", skip_effect=5))
seed(Mutant("adjust-privs-ignores-the-handle-mask", "ioctl_adjust_privs",
            "KACS_IOC_ADJUST_PRIVS does not check TOKEN_ADJUST_PRIVILEGES on the fd (ADJ-03, IOCTL-21)",
            drop_guard=1))

# ------------------------------------------------------------------ sessions
seed(Mutant("create-session-reuses-a-live-session", "kacs_create_logon_session",
            "kacs_create_logon_session does not check that the session object is unused: it may re-create a "
            "live (possibly dead) session, clearing its dead flag", swap=("not_", _always)))
seed(Mutant("create-session-resets-the-luid-counter", "kacs_create_logon_session",
            "kacs_create_logon_session sets the LUID counter to 0 instead of advancing it (the next session "
            "gets LUID 0, LIFE-20)", swap=("inc", _counter_reset)))
seed(Mutant("destroy-empty-session-ignores-live-tokens", "kacs_destroy_empty_logon_session",
            "kacs_destroy_empty_logon_session destroys a session that still has live tokens (SESS-08)",
            drop_guard=2))


def _no_anonymous_stripping(s):
    """NT's duplicate to SecurityAnonymous: the identity is kept (nt-reference.md §4)."""
    return {}


seed(Mutant("duplicate-keeps-identity-at-anonymous", "ioctl_duplicate",
            "ioctl_duplicate to Anonymous level keeps the source identity instead of stripping it (as NT does)",
            swap=("anonymous_overrides", _no_anonymous_stripping)))


def _einval_for_esrch():
    import types

    from model import domain as D

    return types.SimpleNamespace(**{**{k: getattr(D, k) for k in dir(D) if not k.startswith("__")},
                                    "ESRCH": D.EINVAL})


seed(Mutant("open-thread-token-misreports-esrch", "kacs_open_thread_token",
            "kacs_open_thread_token reports a missing thread or process as EINVAL instead of ESRCH",
            swap=("D", _einval_for_esrch())))


# ------------------------------------------------------------------ guards (issue 6: kill-matrix gaps)
seed(Mutant("set-cloexec-ignores-ebadf", "set_cloexec",
            "fcntl(F_SETFD) on a token fd does not check the fd is open: it succeeds on a closed fd "
            "(Appendix A §2)", drop_guard=0))
