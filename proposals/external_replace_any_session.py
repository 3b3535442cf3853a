"""Proposal: external primary replacement without the same-LogonSession check.

§4.3 External token replacement (LIFE-25) refuses a token of another
LogonSession than the target's current primary unless the caller holds
SeTcbPrivilege.  This proposal drops that check (the user-SID check, LIFE-24,
stays), as NT's ProcessAccessToken compares no session (nt-reference.md §6.3).

No property of the catalog states LIFE-25 by itself, so the proposal adds
one (``PROPERTIES``): it is proved on the baseline and refuted here.
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.rules import RULES
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
from model.step import Outcome, Step
from model.values import and_, eq, implies, ite, ne, not_, or_
from properties.base import Property
from properties.catalog_support import ok
from tokenproof.review import replace_rule

TITLE = "External primary replacement without the same-session check"
DESCRIPTION = ("external_replace_primary no longer requires the new token's LogonSession to be the target's "
               "current one (LIFE-25) for callers without SeTcbPrivilege.")
EXPECT_BROKEN = ("external-replacement-keeps-the-logon-session-without-tcb",)
BMC_RULES = ("kacs_open_self_token", "ioctl_adjust_privs", "kacs_create_token", "external_replace_primary")


def external_replace_any_session(st: Step, target: Any, fd: Any) -> Outcome:
    """External token replacement (§4.3) without the LogonSession guard (LIFE-25)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    real = real_token(s, th)
    tok = s.fd_token[p, fd]
    old = s.proc_primary[target]
    used = s.token_privs_used[real]
    user_changed = ne(s.token_user[tok], s.token_user[old])
    tcb = holds(s, real, D.SE_TCB)
    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_ASSIGN_PRIMARY), D.EACCES)
    st.require(holds(s, real, D.SE_ASSIGN_PRIMARY), D.EPERM)
    st.set_now("token_privs_used", real, used | D.SE_ASSIGN_PRIMARY)
    st.require(s.proc_alive[target], D.ESRCH)
    st.require(process_sd_check(s, effective_token(s, th), target, D.PROCESS_SET_INFORMATION).allowed,
               D.EACCES)
    st.require(s.token_primary[tok], D.EINVAL)
    st.require(or_(not_(user_changed), tcb), D.EPERM)
    st.set_now("token_privs_used", real, ite(user_changed, used | D.SE_ASSIGN_PRIMARY | D.SE_TCB,
                                             used | D.SE_ASSIGN_PRIMARY))
    st.set("proc_primary", target, tok)
    st.set_where("thread_install_pending",
                 lambda x: (and_(s.thread_alive[x], eq(s.thread_proc[x], target)), True))
    return st.finish()


def _keeps_session(pre, post, step):
    """§4.3 LIFE-25: external replacement keeps the target's LogonSession unless the caller holds SeTcbPrivilege."""
    if step.rule != "external_replace_primary":
        return True
    t = step.args["target"]
    real = pre.thread_real[step.actor]
    tcb = holds(pre, real, D.SE_TCB)
    return implies(and_(ok(step), not_(tcb)),
                   eq(post.token_session[post.proc_primary[t]], pre.token_session[pre.proc_primary[t]]))


PROPERTIES = {
    "external-replacement-keeps-the-logon-session-without-tcb": Property(
        "external-replacement-keeps-the-logon-session-without-tcb",
        "A successful external primary replacement by a caller without SeTcbPrivilege (enabled, on its real "
        "token) leaves the target's primary in the same LogonSession.",
        "transition", ("§4.3",), _keeps_session, {"kacs": "proved"}, ("LIFE-25",),
        rules=("external_replace_primary",)),
}

RULES_OVERRIDE = {"external_replace_primary": replace_rule(RULES["external_replace_primary"],
                                                           external_replace_any_session,
                                                           note="no same-LogonSession check (LIFE-25)")}
