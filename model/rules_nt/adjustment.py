"""NtAdjustPrivilegesToken (nt-reference.md §7.2, §7.3): partial success with
STATUS_NOT_ALL_ASSIGNED, replacing ``ioctl_adjust_privs``."""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.rules import RULES
from model.rules.common import actor_alive, fd_allows, fd_ok, proc_of
from model.rules_nt import STATUS_NOT_ALL_ASSIGNED, nt_rule
from model.step import Outcome, Step
from model.values import and_, clear, eq, inc, ite, ne, not_, or_, subset

_KACS = RULES["ioctl_adjust_privs"]


@nt_rule("ioctl_adjust_privs", family="adjustment", sections=("NT §7.1", "NT §7.2", "NT §7.3", "NT §7.8", "§4.5"),
         args=_KACS.args)
def nt_adjust_privs(st: Step, fd: Any, enable: Any, disable: Any, remove: Any, reset: Any,
                    entries_ok: Any) -> Outcome:
    """NtAdjustPrivilegesToken (NT §7).  Same request encoding and the same
    EBADF / EACCES / EINVAL (malformed request) guards as KACS; then, unlike
    KACS's all-or-nothing ADJ-04/ADJ-09, entries naming privileges the token
    does not have are *skipped*, the rest are applied, and the call returns
    STATUS_NOT_ALL_ASSIGNED (success class: the effects stay, even if nothing
    changed).  The call never adds a privilege (§7.2); REMOVED deletes it for
    good (§7.3).  A fresh modified_id only when something changed (§7.8)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    tok = s.fd_token[p, fd]
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
    new_enabled = ite(reset, default & present, clear(enabled | (enable & present), gone))
    new_present = clear(present, remove)
    new_default = clear(default, remove)
    changed = or_(ne(new_enabled, enabled), ne(new_present, present), ne(new_default, default))
    # success-class effects: applied once the request is well formed, whatever comes next
    st.set_now("token_privs_enabled", tok, new_enabled)
    st.set_now("token_privs_present", tok, new_present)
    st.set_now("token_privs_default", tok, new_default)
    st.set_now("token_modified_id", tok,
               ite(changed, inc(s.token_modified_id[tok], D.ID_W), s.token_modified_id[tok]))
    st.require(subset(enable | disable | remove, present), STATUS_NOT_ALL_ASSIGNED)
    return st.finish(previous=enabled)


__all__ = ["nt_adjust_privs"]
