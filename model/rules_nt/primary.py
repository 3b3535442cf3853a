"""Primary-token assignment (nt-reference.md §6): NtSetInformationProcess
(ProcessAccessToken), replacing ``ioctl_install`` and ``external_replace_primary``.

NT's rule: SeAssignPrimaryTokenPrivilege enabled on the caller's primary, or
else the new token is a *child* or *sibling* of the caller's primary token
and its integrity is at most the caller's (§6.2); the user SID is never
compared (§6.3), nor, with the privilege, the logon session.

APPROXIMATIONS (docs/review.md): the model has no ParentTokenId, so "child or
sibling" is approximated by "same AuthenticationId" (``token_session`` equal
to the caller's primary's; both a child and a sibling share it).  The
"before the first thread starts" timing (§6.5, STATUS_NOT_SUPPORTED after)
is not modelled: the model has no suspended processes, so every assignment
is treated as made in time.
"""

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
from model.rules import RULES
from model.rules.lifecycle import new_process_sd
from model.rules_nt import nt_rule
from model.step import Outcome, Step
from model.values import and_, eq, ne, not_, or_, ule


def nt_assignment_allowed(s: Any, caller: Any, tok: Any) -> Any:
    """NT §6.2: privilege, or (integrity <= caller's and child-or-sibling ~ same AuthenticationId)."""
    return or_(holds(s, caller, D.SE_ASSIGN_PRIMARY),
               and_(ule(s.token_integrity[tok], s.token_integrity[caller]),
                    eq(s.token_session[tok], s.token_session[caller])))


@nt_rule("ioctl_install", family="primary", sections=("NT §6", "§4.3", "§13.2"), args=RULES["ioctl_install"].args)
def nt_install(st: Step, fd: Any) -> Outcome:
    """ProcessAccessToken on the caller's own process (NT §6): EBADF; EACCES
    without TOKEN_ASSIGN_PRIMARY; EINVAL (STATUS_BAD_TOKEN_TYPE) for a
    non-primary token; EPERM (STATUS_PRIVILEGE_NOT_HELD) unless
    SeAssignPrimaryTokenPrivilege or the child/sibling exception; the KACS
    dead-LogonSession EACCES is kept.  No user or session comparison.
    Effects as KACS_IOC_INSTALL."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    real = real_token(s, th)
    tok = s.fd_token[p, fd]
    user_changed = ne(s.token_user[tok], s.token_user[real])
    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_ASSIGN_PRIMARY), D.EACCES)
    st.require(s.token_primary[tok], D.EINVAL)
    st.require(nt_assignment_allowed(s, real, tok), D.EPERM)
    st.set_now("token_privs_used", real, s.token_privs_used[real]
               | (s.token_privs_enabled[real] & s.token_privs_present[real] & D.SE_ASSIGN_PRIMARY))
    st.require(not_(s.sess_dead[s.token_session[tok]]), D.EACCES)

    st.set("proc_primary", p, tok)
    st.set("thread_real", th, tok)
    st.set_where("thread_install_pending",
                 lambda x: (and_(s.thread_alive[x], eq(s.thread_proc[x], p), ne(x, th)), True))
    st.set_many(p, new_process_sd(s, tok, tok), when=user_changed)
    return st.finish()


@nt_rule("external_replace_primary", family="primary", sections=("NT §6", "§4.3", "§5.3"),
         args=RULES["external_replace_primary"].args)
def nt_external_replace_primary(st: Step, target: Any, fd: Any) -> Outcome:
    """ProcessAccessToken on another process (NT §6): EBADF; EACCES
    (TOKEN_ASSIGN_PRIMARY); ESRCH; EACCES (PROCESS_SET_INFORMATION on the
    target's process SD); EINVAL (not primary); EPERM unless the privilege or
    the child/sibling exception *relative to the caller's* primary.  No user
    or session comparison with the target's current primary."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    real = real_token(s, th)
    tok = s.fd_token[p, fd]
    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_ASSIGN_PRIMARY), D.EACCES)
    st.require(s.proc_alive[target], D.ESRCH)
    st.require(process_sd_check(s, effective_token(s, th), target, D.PROCESS_SET_INFORMATION).allowed,
               D.EACCES)
    st.require(s.token_primary[tok], D.EINVAL)
    st.require(nt_assignment_allowed(s, real, tok), D.EPERM)
    st.set_now("token_privs_used", real, s.token_privs_used[real]
               | (s.token_privs_enabled[real] & s.token_privs_present[real] & D.SE_ASSIGN_PRIMARY))

    st.set("proc_primary", target, tok)
    st.set_where("thread_install_pending",
                 lambda x: (and_(s.thread_alive[x], eq(s.thread_proc[x], target)), True))
    return st.finish()


__all__ = ["nt_install", "nt_external_replace_primary", "nt_assignment_allowed"]
