"""Opening token handles (§4.8 Obtaining a token file descriptor, Appendix A §1
kacs_open_self_token / kacs_open_process_token / kacs_open_thread_token /
kacs_open_peer_token).

Every open runs AccessCheck once, with the caller's *effective* token as the
subject, and caches the result on the new fd (check-at-open, RIGHTS-16;
DECISIONS.md "Cached masks").  Token fds are always O_CLOEXEC (IOCTL-02).
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.access import handle_mask
from model.rules.common import (
    actor_alive,
    anonymous_overrides,
    assume_fresh_fd,
    effective_token,
    fresh_copy_overrides,
    open_fd,
    proc_of,
    process_sd_check,
    real_token,
    token_sd_check,
    write_new_token,
)
from model.rules.registry import Arg, rule
from model.state import BOOL, FIELDS, HANDLE, MASK, PROCESS, SOCKET, THREAD, TOKEN, State
from model.step import Outcome, Step
from model.values import BV, and_, eq, is_sym, ite, not_


def merge_when(s: State, src: Any, base: dict[str, Any], cond: Any, alt: dict[str, Any]) -> dict[str, Any]:
    """Token overrides: ``alt`` where ``cond`` holds, else ``base`` (falling back
    to the field of ``src``).  Untyped constants get their field's width so that
    ``ite`` over a symbolic ``cond`` works."""
    out = dict(base)
    for name, alt_value in alt.items():
        other = base[name] if name in base else s.view(name)[src]
        out[name] = ite(cond, _typed(name, alt_value), _typed(name, other))
    return out


def _typed(name: str, v: Any) -> Any:
    t = FIELDS[name].type
    if is_sym(v) or isinstance(v, (BV, bool)):
        return v
    if t.kind == "bv":
        return BV(int(v), t.width)
    if t.kind == "bool":
        return bool(v)
    return v


@rule("kacs_open_self_token", family="handles", sections=("§4.8", "§13.1", "Appendix A §1"),
      clauses=("RIGHTS-01", "RIGHTS-05", "RIGHTS-15", "RIGHTS-16", "IOCTL-02"),
      args=(Arg("real", BOOL, doc="KACS_REAL_TOKEN: the primary token even if impersonating"),
            Arg("access_mask", MASK, fmt="rights", doc="desired access for the new handle"),
            Arg("fd", HANDLE, fresh=True, doc="the new token fd")))
def kacs_open_self_token(st: Step, real: Any, access_mask: Any, fd: Any) -> Outcome:
    """kacs_open_self_token (§13.1, §4.8 Implicit access): the caller's effective
    token, or its real (primary) token with KACS_REAL_TOKEN.  No privilege; the
    desired mask is checked against that token's own SD with the caller's
    effective token as the subject (EACCES), and the fd caches the result
    (RIGHTS-05: self-query works through the default SD's self ACE)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    assume_fresh_fd(st, p, fd)
    subject = effective_token(s, th)
    tok = ite(real, real_token(s, th), subject)
    dec = token_sd_check(s, subject, tok, access_mask)
    st.require(dec.allowed, D.EACCES)
    open_fd(st, p, fd, tok, handle_mask(dec))
    return st.finish(fd=fd)


@rule("kacs_open_process_token", family="handles", sections=("§4.8", "§13.1", "§5.3", "Appendix A §1"),
      clauses=("RIGHTS-01", "RIGHTS-02", "RIGHTS-16", "IOCTL-02"),
      args=(Arg("target", PROCESS, doc="the process named by the pidfd"),
            Arg("access_mask", MASK, fmt="rights", doc="desired access for the new handle"),
            Arg("fd", HANDLE, fresh=True, doc="the new token fd")))
def kacs_open_process_token(st: Step, target: Any, access_mask: Any, fd: Any) -> Outcome:
    """kacs_open_process_token (§13.1, §4.8): a live target (ESRCH), then
    (1) PROCESS_QUERY_INFORMATION on the target's process SD (EACCES), (2) PIP
    dominance (out of model: passes), (3) the desired mask on the target's
    committed primary token's own SD (EACCES).  Subject of both checks: the
    caller's effective token.  The fd is a live reference to that token."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    assume_fresh_fd(st, p, fd)
    subject = effective_token(s, th)
    st.require(s.proc_alive[target], D.ESRCH)
    st.require(process_sd_check(s, subject, target, D.PROCESS_QUERY_INFORMATION).allowed, D.EACCES)
    tok = s.proc_primary[target]
    dec = token_sd_check(s, subject, tok, access_mask)
    st.require(dec.allowed, D.EACCES)
    open_fd(st, p, fd, tok, handle_mask(dec))
    return st.finish(fd=fd)


@rule("kacs_open_thread_token", family="handles", sections=("§4.8", "§13.1", "§5.3", "Appendix A §1"),
      clauses=("RIGHTS-01", "RIGHTS-02", "RIGHTS-16", "IOCTL-02"),
      args=(Arg("target", PROCESS, doc="the process named by the pidfd"),
            Arg("thread", THREAD, doc="the thread id within the target"),
            Arg("access_mask", MASK, fmt="rights", doc="desired access for the new handle"),
            Arg("fd", HANDLE, fresh=True, doc="the new token fd")))
def kacs_open_thread_token(st: Step, target: Any, thread: Any, access_mask: Any, fd: Any) -> Outcome:
    """kacs_open_thread_token (§13.1): a live target process with a live thread
    of that process (ESRCH), PROCESS_QUERY_INFORMATION on the target's process SD
    (EACCES), PIP (out of model), and the desired mask on the thread's effective
    token's own SD (EACCES).  The effective token is the impersonation token if
    the thread impersonates, else its real_cred primary token."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    assume_fresh_fd(st, p, fd)
    subject = effective_token(s, th)
    st.require(and_(s.proc_alive[target], s.thread_alive[thread], eq(s.thread_proc[thread], target)), D.ESRCH)
    st.require(process_sd_check(s, subject, target, D.PROCESS_QUERY_INFORMATION).allowed, D.EACCES)
    tok = effective_token(s, thread)
    dec = token_sd_check(s, subject, tok, access_mask)
    st.require(dec.allowed, D.EACCES)
    open_fd(st, p, fd, tok, handle_mask(dec))
    return st.finish(fd=fd)


PEER_TOKEN_MASK = D.TOKEN_QUERY | D.TOKEN_IMPERSONATE


@rule("kacs_open_peer_token", family="handles", sections=("§4.8", "§13.1", "§9.3", "Appendix A §1"),
      clauses=("RIGHTS-03", "IMP-04", "IMP-20", "IMP-25", "IMP-26", "IOCTL-02"),
      args=(Arg("socket", SOCKET, doc="the connected socket (server end)"),
            Arg("peer_copy", TOKEN, fresh=True, doc="the impersonation token the fd refers to"),
            Arg("fd", HANDLE, fresh=True, doc="the new token fd")))
def kacs_open_peer_token(st: Step, socket: Any, peer_copy: Any, fd: Any) -> Outcome:
    """kacs_open_peer_token (§13.1, §4.8, §9.3): the caller must hold the server
    end of a live socket (EBADF) that has a captured KACS peer snapshot
    (EACCES, fails closed).  The fd refers to a fresh impersonation token: a
    DuplicateToken-style copy of the stored token at the stored level, stripped
    to the Anonymous identity at Anonymous level (DECISIONS.md).  No desired
    mask: the fd caches TOKEN_QUERY | TOKEN_IMPERSONATE (RIGHTS-03)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    assume_fresh_fd(st, p, fd)
    st.assume(not_(s.token_alive[peer_copy]))
    st.require(and_(s.sock_alive[socket], eq(s.sock_server[socket], p)), D.EBADF)
    st.require(s.sock_has_peer[socket], D.EACCES)
    stored, level = s.sock_peer_token[socket], s.sock_peer_level[socket]
    anon = eq(level, D.ANONYMOUS)
    user = ite(anon, s.sid(D.SID_ANONYMOUS), s.token_user[stored])
    creator = s.token_user[real_token(s, th)]
    base = {**fresh_copy_overrides(s, creator, user), "token_primary": False, "token_level": level}
    write_new_token(st, peer_copy, stored, merge_when(s, stored, base, anon, anonymous_overrides(s)))
    open_fd(st, p, fd, peer_copy, PEER_TOKEN_MASK)
    return st.finish(fd=fd, token=peer_copy)


__all__ = ["kacs_open_self_token", "kacs_open_process_token", "kacs_open_thread_token",
           "kacs_open_peer_token", "merge_when", "PEER_TOKEN_MASK"]
