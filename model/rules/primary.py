"""Primary-token replacement (§4.3): self-install (KACS_IOC_INSTALL, Appendix A
§13.2), the siblings' queued install work, and external token replacement
(§4.3 External token replacement; not implemented in v0.20, modelled as the
intended behaviour)."""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.rules.common import (
    actor_alive,
    effective_token,
    fd_allows,
    fd_ok,
    holds,
    proc_of,
    process_sd_check,
    real_token,
)
from model.rules.lifecycle import new_process_sd
from model.rules.registry import Arg, rule
from model.state import HANDLE, PROCESS
from model.step import Outcome, Step
from model.values import and_, eq, ite, ne, not_, or_


def require_assign_primary(st: Step, p: Any, fd: Any, real: Any) -> None:
    """The guards every primary replacement starts with (§13.2 Requirements,
    §4.3): an open fd (EBADF) with TOKEN_ASSIGN_PRIMARY (EACCES), and
    SeAssignPrimaryTokenPrivilege on the caller's real token (EPERM), marked
    used once that gate accepts (§7.1 PRIV-03)."""
    s = st.pre
    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_ASSIGN_PRIMARY), D.EACCES)
    st.require(holds(s, real, D.SE_ASSIGN_PRIMARY), D.EPERM)
    st.set_now("token_privs_used", real, s.token_privs_used[real] | D.SE_ASSIGN_PRIMARY)


def require_same_identity_unless_tcb(st: Step, real: Any, tok: Any, old: Any) -> None:
    """A primary token (EINVAL) with the same user SID and LogonSession as
    ``old``, the primary it replaces, unless the caller's real token holds
    SeTcbPrivilege (EPERM; IOCTL-13/14, LIFE-24/25); SeTcbPrivilege is marked
    used when it waived a mismatch."""
    s = st.pre
    used = s.token_privs_used[real]
    user_changed = ne(s.token_user[tok], s.token_user[old])
    session_changed = ne(s.token_session[tok], s.token_session[old])
    tcb = holds(s, real, D.SE_TCB)
    st.require(s.token_primary[tok], D.EINVAL)
    st.require(or_(not_(user_changed), tcb), D.EPERM)
    st.require(or_(not_(session_changed), tcb), D.EPERM)
    st.set_now("token_privs_used", real,
               ite(or_(user_changed, session_changed), used | D.SE_ASSIGN_PRIMARY | D.SE_TCB,
                   used | D.SE_ASSIGN_PRIMARY))


@rule("ioctl_install", family="primary", sections=("§4.3", "§13.2", "§7.1"),
      clauses=("LIFE-08", "LIFE-09", "LIFE-10", "LIFE-11", "IOCTL-09", "IOCTL-10", "IOCTL-11",
               "IOCTL-12", "IOCTL-13", "IOCTL-14", "IOCTL-15", "PRIV-03"),
      args=(Arg("fd", HANDLE),))
def ioctl_install(st: Step, fd: Any) -> Outcome:
    """KACS_IOC_INSTALL (Appendix A §13.2, §4.3 Self-install): commit the fd's
    token as the calling process's primary token.

    Guards, in order: EBADF (fd not open); EACCES without TOKEN_ASSIGN_PRIMARY
    on the handle; EPERM without SeAssignPrimaryTokenPrivilege on the caller's
    real token (IOCTL-12); EINVAL for a non-primary token (IOCTL-09); EPERM if
    the user SID (IOCTL-13) or the LogonSession (IOCTL-14) differs from the
    caller's current primary token without SeTcbPrivilege; EACCES if the new
    token's LogonSession is dead, unconditionally (IOCTL-15; DECISIONS.md).

    Effects: the process's primary and the caller's real_cred switch at once;
    every other live thread gets queued install work (``install_converge``,
    LIFE-10); impersonation is kept (a revert lands on the new primary,
    LIFE-09); a changed user SID regenerates the process SD from the default
    template owned by the new user (LIFE-11, IOCTL-11)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    real = real_token(s, th)
    tok = s.fd_token[p, fd]
    user_changed = ne(s.token_user[tok], s.token_user[real])
    require_assign_primary(st, p, fd, real)
    require_same_identity_unless_tcb(st, real, tok, real)
    st.require(not_(s.sess_dead[s.token_session[tok]]), D.EACCES)

    st.set("proc_primary", p, tok)
    st.set("thread_real", th, tok)
    st.set_where("thread_install_pending",
                 lambda x: (and_(s.thread_alive[x], eq(s.thread_proc[x], p), ne(x, th)), True))
    st.set_many(p, new_process_sd(s, tok, tok), when=user_changed)
    return st.finish()


@rule("install_converge", family="primary", sections=("§4.3", "§13.2"),
      clauses=("LIFE-09", "LIFE-10", "LIFE-22", "IOCTL-10"))
def install_converge(st: Step) -> Outcome:
    """A thread runs its queued install work in its own context on its way back
    to user mode (§4.3 Self-install, External token replacement): real_cred
    becomes the process's committed primary; an active impersonation stays
    (LIFE-09).  Not an ordinary syscall: the actor *has* pending work."""
    s, th = st.pre, st.actor
    p = proc_of(s, th)
    st.assume(and_(s.thread_alive[th], s.proc_alive[p], s.thread_install_pending[th]))
    st.set("thread_real", th, s.proc_primary[p])
    st.set("thread_install_pending", th, False)
    return st.finish()


@rule("external_replace_primary", family="primary", sections=("§4.3", "§5.3", "§7.1"),
      clauses=("LIFE-21", "LIFE-22", "LIFE-23", "LIFE-24", "LIFE-25", "PRIV-03"),
      args=(Arg("target", PROCESS), Arg("fd", HANDLE)))
def external_replace_primary(st: Step, target: Any, fd: Any) -> Outcome:
    """External token replacement (§4.3; "not implemented in v0.20", modelled as
    the intended behaviour): replace a running process's primary token.

    Guards, in order: EBADF (fd not open); EACCES without TOKEN_ASSIGN_PRIMARY
    on the handle; EPERM without SeAssignPrimaryTokenPrivilege on the caller's
    real token (LIFE-23); ESRCH if the target process does not exist; EACCES
    without PROCESS_SET_INFORMATION on the target's process SD (AccessCheck
    with the caller's effective token, §5.3); EINVAL for a non-primary token;
    EPERM if the user SID (LIFE-24) or the LogonSession (LIFE-25) differs from
    the target's current primary without SeTcbPrivilege.  The section lists no
    dead-LogonSession check and none is modelled (DECISIONS.md).

    Effects: the target's committed primary changes; every live thread of the
    target gets queued install work and swaps in its own context
    (``install_converge``); impersonation is kept.  The process SD is not
    regenerated (the section does not say so; DECISIONS.md)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    real = real_token(s, th)
    tok = s.fd_token[p, fd]
    require_assign_primary(st, p, fd, real)
    st.require(s.proc_alive[target], D.ESRCH)
    st.require(process_sd_check(s, effective_token(s, th), target, D.PROCESS_SET_INFORMATION).allowed,
               D.EACCES)
    require_same_identity_unless_tcb(st, real, tok, s.proc_primary[target])

    st.set("proc_primary", target, tok)
    st.set_where("thread_install_pending",
                 lambda x: (and_(s.thread_alive[x], eq(s.thread_proc[x], target)), True))
    return st.finish()


__all__ = ["ioctl_install", "install_converge", "external_replace_primary"]
