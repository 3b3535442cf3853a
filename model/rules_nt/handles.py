"""NtOpenThreadToken (nt-reference.md §1), replacing ``kacs_open_thread_token``."""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.access import handle_mask
from model.rules.common import (
    actor_alive,
    assume_fresh_fd,
    effective_token,
    open_fd,
    proc_of,
    process_sd_check,
    real_token,
    token_sd_check,
)
from model.rules_nt import STATUS_BAD_IMPERSONATION_LEVEL, STATUS_CANT_OPEN_ANONYMOUS, STATUS_NO_TOKEN, nt_rule
from model.rules.registry import Arg
from model.state import BOOL, HANDLE, MASK, PROCESS, THREAD
from model.step import Outcome, Step
from model.values import and_, eq, implies, ite, not_


@nt_rule("kacs_open_thread_token", family="handles", sections=("NT §1", "§4.8", "§13.1"),
         args=(Arg("target", PROCESS, doc="the process of the thread"),
               Arg("thread", THREAD, doc="the thread whose impersonation token is opened"),
               Arg("access_mask", MASK, fmt="rights", doc="DesiredAccess"),
               Arg("fd", HANDLE, fresh=True, doc="the new token handle"),
               Arg("open_as_self", BOOL, default=False,
                   doc="OpenAsSelf: check against the caller's process primary, not its effective token")))
def nt_open_thread_token(st: Step, target: Any, thread: Any, access_mask: Any, fd: Any,
                         open_as_self: Any) -> Outcome:
    """NtOpenThreadToken (NT §1).  Guards in order: the thread exists
    (ESRCH, standing for STATUS_INVALID_HANDLE); the thread handle's query
    right (EACCES, the model's PROCESS_QUERY_INFORMATION check on the
    target's process SD); STATUS_NO_TOKEN if the thread is not impersonating
    (never the primary, §1.3); STATUS_CANT_OPEN_ANONYMOUS for an
    Anonymous-level impersonation token (§1.4, before any token access
    check); STATUS_BAD_IMPERSONATION_LEVEL when the caller impersonates at
    Identification (or Anonymous) and OpenAsSelf is FALSE (§1.6); the desired
    mask on the token's DACL (EACCES) with the caller's effective token as
    the subject, or with OpenAsSelf its process primary (§1.5).  The handle
    refers to the live impersonation token."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    assume_fresh_fd(st, p, fd)
    caller_eff = effective_token(s, th)
    subject = ite(open_as_self, real_token(s, th), caller_eff)
    st.require(and_(s.proc_alive[target], s.thread_alive[thread], eq(s.thread_proc[thread], target)), D.ESRCH)
    st.require(process_sd_check(s, caller_eff, target, D.PROCESS_QUERY_INFORMATION).allowed, D.EACCES)
    st.require(s.thread_impersonating[thread], STATUS_NO_TOKEN)
    tok = s.thread_imp_token[thread]
    st.require(not_(eq(s.thread_imp_level[thread], D.ANONYMOUS)), STATUS_CANT_OPEN_ANONYMOUS)
    caller_below_impersonation = and_(s.thread_impersonating[th], not_(eq(s.thread_imp_level[th], D.IMPERSONATION)),
                                      not_(eq(s.thread_imp_level[th], D.DELEGATION)))
    st.require(implies(not_(open_as_self), not_(caller_below_impersonation)), STATUS_BAD_IMPERSONATION_LEVEL)
    dec = token_sd_check(s, subject, tok, access_mask)
    st.require(dec.allowed, D.EACCES)
    open_fd(st, p, fd, tok, handle_mask(dec))
    return st.finish(fd=fd)


__all__ = ["nt_open_thread_token"]
