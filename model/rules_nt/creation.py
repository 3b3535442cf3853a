"""NtDuplicateToken (nt-reference.md §4), replacing ``ioctl_duplicate``."""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.access import access_check, handle_mask
from model.rules import RULES
from model.rules.common import (
    actor_alive,
    assume_fresh_fd,
    default_token_sd,
    effective_token,
    fd_allows,
    fd_ok,
    fresh_copy_overrides,
    open_fd,
    proc_of,
    real_token,
    write_new_token,
)
from model.rules_nt import STATUS_BAD_IMPERSONATION_LEVEL, nt_rule
from model.step import Outcome, Step
from model.values import and_, ite, not_, ugt, ult

_KACS = RULES["ioctl_duplicate"]


@nt_rule("ioctl_duplicate", family="creation", sections=("NT §4", "§4.4", "§13.2"), args=_KACS.args)
def nt_duplicate(st: Step, fd: Any, primary: Any, level: Any, access_mask: Any, new_token: Any,
                 new_fd: Any) -> Outcome:
    """NtDuplicateToken (NT §4).  As KACS_IOC_DUPLICATE (same copy rules, a
    new default SD), except: a duplicate to SecurityAnonymous *keeps the
    source identity* and only the level changes (NT §10 "Duplicating to
    Anonymous level"; KACS strips it to ANONYMOUS LOGON, IOCTL-19); raising
    the level of an impersonation source is STATUS_BAD_IMPERSONATION_LEVEL
    (§4.3); an impersonation source below Impersonation cannot become a
    Primary token (STATUS_BAD_IMPERSONATION_LEVEL, §4.4)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    assume_fresh_fd(st, p, new_fd)
    st.assume(not_(s.token_alive[new_token]))
    src = s.fd_token[p, fd]
    imp_src = not_(s.token_primary[src])
    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_DUPLICATE), D.EACCES)
    st.require(not_(and_(not_(primary), imp_src, ugt(level, s.token_level[src]))), STATUS_BAD_IMPERSONATION_LEVEL)
    st.require(not_(and_(primary, imp_src, ult(s.token_level[src], D.IMPERSONATION))),
               STATUS_BAD_IMPERSONATION_LEVEL)

    new_level = ite(primary, D.ANONYMOUS, level)
    user = s.token_user[src]
    creator = s.token_user[real_token(s, th)]
    sd = default_token_sd(s, creator, user)
    dec = access_check(s, effective_token(s, th), sd, access_mask, D.TOKEN_MAPPING)
    st.require(dec.allowed, D.EACCES)

    base = {**fresh_copy_overrides(s, creator, user), "token_primary": primary, "token_level": new_level}
    write_new_token(st, new_token, src, base)
    open_fd(st, p, new_fd, new_token, handle_mask(dec))
    return st.finish(fd=new_fd, token=new_token)


__all__ = ["nt_duplicate"]
