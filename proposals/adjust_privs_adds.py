"""Proposal: AdjustPrivileges may add a privilege the token does not have.

Today enabling an absent privilege is EINVAL (§4.5 ADJ-04) and the present set
never grows (TOK-30).  This proposal lets the ENABLED entry of an absent
privilege add it (present and enabled), for example so that a service can
"turn on" a privilege it was not created with.
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.rules import RULES
from model.rules.adjustment import _fd_token
from model.rules.common import actor_alive, bump_modified, fd_allows, fd_ok
from model.step import Outcome, Step
from model.values import and_, clear, eq, ite, ne, not_, or_
from tokenproof.review import replace_rule

TITLE = "AdjustPrivileges can add a privilege"
DESCRIPTION = ("KACS_IOC_ADJUST_PRIVS with SE_PRIVILEGE_ENABLED on a privilege the token lacks adds it "
               "(present, enabled) instead of failing with EINVAL (ADJ-04).")
EXPECT_BROKEN = ("privileges-present-never-grow",)
BMC_RULES = ("kacs_open_self_token", "ioctl_adjust_privs")


def adjust_privs_adding(st: Step, fd: Any, enable: Any, disable: Any, remove: Any, reset: Any,
                        entries_ok: Any) -> Outcome:
    """KACS_IOC_ADJUST_PRIVS without ADJ-04: enabling an absent privilege adds it."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p, tok = _fd_token(st, fd)
    present = s.token_privs_present[tok]
    enabled = s.token_privs_enabled[tok]
    default = s.token_privs_default[tok]
    any_entry = or_(ne(enable, 0), ne(disable, 0), ne(remove, 0))
    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_ADJUST_PRIVILEGES), D.EACCES)
    st.require(entries_ok, D.EINVAL)
    st.require(and_(eq(enable & disable, 0), eq(enable & remove, 0), eq(disable & remove, 0)), D.EINVAL)
    st.require(ite(reset, not_(any_entry), any_entry), D.EINVAL)
    gone = disable | remove
    st.set("token_privs_enabled", tok, ite(reset, default & present, clear(enabled | enable, gone)))
    st.set("token_privs_present", tok, ite(reset, present, clear(present | enable, remove)))
    st.set("token_privs_default", tok, clear(default, remove))
    bump_modified(st, tok)
    return st.finish(previous=enabled)


RULES_OVERRIDE = {"ioctl_adjust_privs": replace_rule(RULES["ioctl_adjust_privs"], adjust_privs_adding,
                                                     note="enabling an absent privilege adds it")}
