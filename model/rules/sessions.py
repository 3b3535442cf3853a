"""LogonSessions (§4.7) and linked-token elevation (§4.6): creating,
invalidating and rolling back sessions, registering a linked pair and
retrieving a token's linked partner (Appendix A §1, §2).

Standalone SeTcbPrivilege gates are judged on the calling thread's effective
token (§7.1 PRIV-05) and, once they accept, mark the privilege used (PRIV-03;
DECISIONS.md).
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.rules.common import (
    actor_alive,
    assume_fresh_fd,
    effective_token,
    fd_allows,
    fd_ok,
    fresh_copy_overrides,
    holds,
    proc_of,
    real_token,
    write_new_token,
)
from model.rules.registry import Arg, rule
from model.state import HANDLE, SESSION, SID, TOKEN
from model.step import Outcome, Step
from model.values import and_, eq, implies, inc, ite, ne, not_, or_


def tcb_gate(st: Step, errno: Any = D.EPERM) -> Any:
    """Require SeTcbPrivilege on the caller's effective token; mark it used once
    the gate accepts (§7.1 PRIV-03, PRIV-05).  Returns the token."""
    s, th = st.pre, st.actor
    tok = effective_token(s, th)
    st.require(holds(s, tok, D.SE_TCB), errno)
    st.set_now("token_privs_used", tok, s.token_privs_used[tok] | D.SE_TCB)
    return tok


@rule("kacs_create_logon_session", family="sessions",
      sections=("§4.7", "§4.4", "Appendix A §1"),
      clauses=("SESS-01", "SESS-02", "SESS-12"),
      args=(Arg("session", SESSION, fresh=True, doc="the new LogonSession object"),
            Arg("logon_sid", SID, fresh=True, doc="S-1-5-5-X-Y derived from the new LUID")))
def kacs_create_logon_session(st: Step, session: Any, logon_sid: Any) -> Outcome:
    """kacs_create_logon_session (§4.7 Creation, Appendix A §1): requires
    SeTcbPrivilege (EPERM).  The new session gets the next LUID and the logon
    SID derived from it (S-1-5-5-X-Y, unique because LUIDs are); it starts
    alive, not dead, with no token and no linked pair.  Returns the session."""
    s, th = st.pre, st.actor
    actor_alive(st)
    st.assume(and_(not_(s.sess_alive[session]),
                   s.forall("Token", lambda t: implies(s.token_alive[t], ne(s.token_session[t], session)))))
    # the derived logon SID is new: LUIDs are never reused (§4.4)
    st.assume(and_(*(ne(logon_sid, s.sid(w)) for w in (*D.WELL_KNOWN_SIDS, D.MALFORMED_SID))))
    st.assume(s.forall("Session", lambda x: implies(s.sess_alive[x], ne(s.sess_logon_sid[x], logon_sid))))
    st.assume(s.forall("Token", lambda t: implies(s.token_alive[t], ne(s.token_logon_sid[t], logon_sid))))

    tcb_gate(st)

    luid = s.next_luid
    st.set_many(session, {
        "sess_alive": True, "sess_dead": False, "sess_luid": luid, "sess_logon_sid": logon_sid,
        "sess_had_token": False, "sess_linked": False,
    })
    st.set_scalar("next_luid", inc(luid, D.ID_W))
    return st.finish(session=session, luid=luid)


@rule("kacs_invalidate_logon_session", family="sessions",
      sections=("§4.7", "Appendix A §1"),
      clauses=("SESS-11", "SESS-12"),
      args=(Arg("session", SESSION),))
def kacs_invalidate_logon_session(st: Step, session: Any) -> Outcome:
    """kacs_invalidate_logon_session (§4.7 LogonSession invalidation,
    Appendix A §1): requires SeTcbPrivilege (EPERM); a nonexistent session is
    ENOENT; otherwise the one-way dead flag is set (idempotent: invalidating a
    dead session returns 0)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    tcb_gate(st)
    st.require(s.sess_alive[session], D.ENOENT)
    st.set("sess_dead", session, True)
    return st.finish()


@rule("kacs_destroy_empty_logon_session", family="sessions",
      sections=("§4.7", "Appendix A §1"),
      clauses=("SESS-04", "SESS-05", "SESS-06", "SESS-07", "SESS-08"),
      args=(Arg("session", SESSION),))
def kacs_destroy_empty_logon_session(st: Step, session: Any) -> Outcome:
    """kacs_destroy_empty_logon_session (§4.7 Empty-LogonSession rollback,
    Appendix A §1): requires SeTcbPrivilege (EPERM); a nonexistent session is
    ENOENT; a session with any live token or linked-token state is EBUSY;
    otherwise the session object is destroyed."""
    s, th = st.pre, st.actor
    actor_alive(st)
    tcb_gate(st)
    st.require(s.sess_alive[session], D.ENOENT)
    busy = or_(s.exists("Token", lambda t: and_(s.token_alive[t], eq(s.token_session[t], session))),
               s.sess_linked[session])
    st.require(not_(busy), D.EBUSY)
    st.set("sess_alive", session, False)
    return st.finish()


@rule("ioctl_link_tokens", family="sessions",
      sections=("§4.6", "§4.2", "Appendix A §2", "Appendix A §4"),
      clauses=("ELEV-02", "ELEV-03", "ELEV-04", "ELEV-05", "ELEV-07", "ELEV-15",
               "IOCTL-32", "IOCTL-33", "IOCTL-34", "IOCTL-35", "IOCTL-36"),
      args=(Arg("elevated_fd", HANDLE), Arg("filtered_fd", HANDLE),
            Arg("session", SESSION, doc="logon_session_id")))
def ioctl_link_tokens(st: Step, elevated_fd: Any, filtered_fd: Any, session: Any) -> Outcome:
    """KACS_IOC_LINK_TOKENS (§4.6, Appendix A §2): requires SeTcbPrivilege
    (EPERM), two open token fds (EBADF) with TOKEN_DUPLICATE (EACCES), two
    different tokens (EINVAL), both primary, of the same user and in
    ``session`` (EINVAL), and no role change: a Limited token cannot become
    elevated nor a Full token filtered (EINVAL).  The pair replaces any pair on
    the session; the elevated token becomes Full and the filtered token Limited.
    Members of a replaced pair keep their sticky roles (ELEV-15)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    e, f = s.fd_token[p, elevated_fd], s.fd_token[p, filtered_fd]

    tcb_gate(st)
    st.require(and_(fd_ok(s, p, elevated_fd), fd_ok(s, p, filtered_fd)), D.EBADF)
    st.require(and_(fd_allows(s, p, elevated_fd, D.TOKEN_DUPLICATE),
                    fd_allows(s, p, filtered_fd, D.TOKEN_DUPLICATE)), D.EACCES)
    st.require(ne(e, f), D.EINVAL)
    st.require(and_(s.sess_alive[session],
                    eq(s.token_session[e], session), eq(s.token_session[f], session),
                    s.token_primary[e], s.token_primary[f],
                    eq(s.token_user[e], s.token_user[f])), D.EINVAL)
    st.require(and_(ne(s.token_elevation[e], D.ELEV_LIMITED), ne(s.token_elevation[f], D.ELEV_FULL)), D.EINVAL)

    st.set_many(session, {"sess_linked": True, "sess_elevated": e, "sess_filtered": f})
    st.set("token_elevation", e, D.ELEV_FULL)
    st.set("token_elevation", f, D.ELEV_LIMITED)
    return st.finish()


@rule("ioctl_get_linked_token", family="sessions",
      sections=("§4.6", "§4.4", "§4.8", "Appendix A §2"),
      clauses=("ELEV-06", "ELEV-07", "ELEV-08", "ELEV-09", "ELEV-10", "ELEV-11", "ELEV-15",
               "IOCTL-37", "IOCTL-38", "IOCTL-39"),
      args=(Arg("fd", HANDLE),
            Arg("clone", TOKEN, fresh=True, doc="the Identification clone (without SeTcbPrivilege)"),
            Arg("new_fd", HANDLE, fresh=True)))
def ioctl_get_linked_token(st: Step, fd: Any, clone: Any, new_fd: Any) -> Outcome:
    """KACS_IOC_GET_LINKED_TOKEN (§4.6 KACS responsibilities, Appendix A §2):
    requires an open token fd (EBADF) with TOKEN_QUERY (EACCES) on a token that
    is the elevated or filtered member of its session's active pair (ENOENT).
    With SeTcbPrivilege on the caller's effective token the new fd is a
    TOKEN_ALL_ACCESS handle to the partner itself (ELEV-11, IOCTL-39);
    without, it is a TOKEN_QUERY-only handle to a deep clone of the partner:
    DuplicateToken semantics (new object and id, fresh default SD owned by the
    caller's user), an Identification-level impersonation token, modified_id
    equal to the new token id, and the partner's elevation_type (ELEV-08/09,
    IOCTL-38)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    st.assume(not_(s.token_alive[clone]))
    assume_fresh_fd(st, p, fd=new_fd)
    tok = s.fd_token[p, fd]
    sess = s.token_session[tok]
    elevated, filtered = s.sess_elevated[sess], s.sess_filtered[sess]
    partner = ite(eq(tok, elevated), filtered, elevated)
    caller = effective_token(s, th)
    tcb = holds(s, caller, D.SE_TCB)

    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_QUERY), D.EACCES)
    st.require(and_(s.sess_alive[sess], s.sess_linked[sess], or_(eq(tok, elevated), eq(tok, filtered))), D.ENOENT)

    creator = s.token_user[real_token(s, th)]
    overrides = fresh_copy_overrides(s, creator, s.token_user[partner])
    overrides.update({
        "token_primary": False, "token_level": D.IDENTIFICATION,
        "token_elevation": s.token_elevation[partner],
        "token_modified_id": s.next_token_id,  # = the clone's new token_id (§4.6, ELEV-09)
    })
    write_new_token(st, clone, partner, overrides, when=not_(tcb))
    st.set("token_privs_used", caller, s.token_privs_used[caller] | D.SE_TCB, when=tcb)

    result = ite(tcb, partner, clone)
    st.set("fd_open", (p, new_fd), True)
    st.set("fd_token", (p, new_fd), result)
    st.set("fd_mask", (p, new_fd), ite(tcb, D.TOKEN_ALL_ACCESS, D.TOKEN_QUERY))
    st.set("fd_cloexec", (p, new_fd), True)
    return st.finish(fd=new_fd, token=result, full=tcb)


__all__ = ["kacs_create_logon_session", "kacs_invalidate_logon_session", "kacs_destroy_empty_logon_session",
           "ioctl_link_tokens", "ioctl_get_linked_token"]
