"""Impersonation (§9): Unix-socket peer identity, the two gates, explicit
token-fd impersonation and revert (§9.1 levels, §9.2 gates, §9.3 lifecycle;
Appendix A §13.1 kacs_impersonate_peer / kacs_revert /
kacs_set_impersonation_level, §13.2 KACS_IOC_IMPERSONATE).

Design (DECISIONS.md, "Impersonation (§9)"): a thread always impersonates
through an impersonation-type token whose own ``token_level`` equals the level
in force (``thread_imp_level``), so AccessCheck's Identification gate (§10.10
step 1), which reads the token object, sees the real acting level.  When the
level in force is the source token's own level and the source is an
impersonation token, the thread references the source itself; otherwise the
kernel installs a DuplicateToken-style copy at that level.  Anonymous always
uses the global Anonymous token (§4.3 Bootstrap, LIFE-19).
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.rules.common import (
    actor_alive,
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
from model.state import BOOL, HANDLE, LEVEL, PROCESS, SOCKET, TOKEN, State
from model.step import Outcome, Step
from model.values import and_, eq, iff, ite, not_, or_, uge, ule


# ------------------------------------------------------------------ the gates (§9.2)
def impersonation_gates(s: State, server_tok: Any, client_tok: Any, requested: Any) -> tuple[Any, Any]:
    """The two impersonation gates of §9.2, judged on ``server_tok`` (the
    server's *primary* token, never its current impersonation: IMP-14) for
    ``client_tok`` at the ``requested`` level.

    Returns ``(eperm, level)``:

    * ``eperm``: the hard deny of §9.2 (IMP-13, IMP-11): a restricted server
      may not impersonate an unrestricted client of the same user.  It applies
      at every requested level except Anonymous (Anonymous needs no gate,
      §9.3 / IMP-24; DECISIONS.md).
    * ``level``: the effective level (§9.2 Gate composition, IMP-19).  At
      Impersonation or Delegation both gates must pass, else the level is
      capped to Identification (IMP-09, IMP-12, IMP-16); Anonymous and
      Identification are never changed, and the result never exceeds
      ``requested`` (IMP-02).

      - identity gate (IMP-10, IMP-15, IMP-30): same user SID and the same
        restriction status, or SeImpersonatePrivilege present and enabled on
        the server token;
      - integrity ceiling (IMP-16, IMP-18, IMP-31): client integrity <= server
        integrity; SeImpersonatePrivilege never lifts it.
    """
    same_user = eq(s.token_user[server_tok], s.token_user[client_tok])
    srv_restricted = s.token_restricted[server_tok]
    cli_restricted = s.token_restricted[client_tok]
    anonymous = eq(requested, D.ANONYMOUS)
    eperm = and_(not_(anonymous), same_user, srv_restricted, not_(cli_restricted))
    identity = or_(and_(same_user, iff(srv_restricted, cli_restricted)),
                   holds(s, server_tok, D.SE_IMPERSONATE))
    ceiling = ule(s.token_integrity[client_tok], s.token_integrity[server_tok])
    acting = uge(requested, D.IMPERSONATION)
    level = ite(and_(acting, not_(and_(identity, ceiling))), D.IDENTIFICATION, requested)
    return eperm, level


def impersonate_privilege_exercised(s: State, server_tok: Any, client_tok: Any, requested: Any) -> Any:
    """SeImpersonatePrivilege decided the identity gate (§7.1 Lifecycle, PRIV-03):
    an acting level was requested and only the privilege lets the server pass
    (a different user, or a different restriction status)."""
    same_identity = and_(eq(s.token_user[server_tok], s.token_user[client_tok]),
                         iff(s.token_restricted[server_tok], s.token_restricted[client_tok]))
    return and_(uge(requested, D.IMPERSONATION), not_(same_identity), holds(s, server_tok, D.SE_IMPERSONATE))


def start_impersonation(st: Step, server_tok: Any, src: Any, level: Any, imp_copy: Any,
                        exercised: Any) -> None:
    """Effects shared by both impersonation paths (§9.3 step 3): the thread's
    credential references an impersonation token at exactly ``level``.

    Anonymous: the global Anonymous token (LIFE-19, IMP-24, IMP-25).  Else the
    source itself if it is an impersonation token at ``level``; else a fresh
    DuplicateToken-style copy of ``src`` at ``level`` (created by the server,
    whose primary user owns its default SD).  Replaces any previous
    impersonation (IMP-27).  Marks SeImpersonatePrivilege used if it decided
    the identity gate (PRIV-03)."""
    s, th = st.pre, st.actor
    anonymous = eq(level, D.ANONYMOUS)
    reuse = and_(not_(s.token_primary[src]), eq(s.token_level[src], level))
    copy = and_(not_(anonymous), not_(reuse))
    write_new_token(st, imp_copy, src,  # the overrides are read only if the copy can be made
                    lambda: {**fresh_copy_overrides(s, s.token_user[server_tok], s.token_user[src]),
                             "token_primary": False, "token_level": level},
                    when=copy)
    tok = ite(anonymous, s.anon_token, ite(reuse, src, imp_copy))
    st.set("thread_impersonating", th, True)
    st.set("thread_imp_token", th, tok)
    st.set("thread_imp_level", th, level)
    st.set("token_privs_used", server_tok, s.token_privs_used[server_tok] | D.SE_IMPERSONATE, when=exercised)


# ------------------------------------------------------------------ sockets (§9.1, §9.3)
@rule("socket_create", family="impersonation", sections=("§9.1", "§9.3"), clauses=("IMP-08", "IMP-32"),
      args=(Arg("server", PROCESS, doc="the accepting (server) process"),
            Arg("capturing", BOOL, doc="SOCK_STREAM/SOCK_SEQPACKET (false: datagram or socketpair)"),
            Arg("socket", SOCKET, fresh=True)))
def socket_create(st: Step, server: Any, capturing: Any, socket: Any) -> Outcome:
    """A Unix socket from the calling (client) thread to ``server``: a model
    operation standing for socket() plus the server's accept side (§9.3
    Supported transports).  The level starts at Impersonation (§9.1, IMP-08);
    it is unconnected and carries no peer snapshot.  ESRCH if the server
    process does not exist (DECISIONS.md)."""
    s = st.pre
    actor_alive(st)
    st.assume(not_(s.sock_alive[socket]))
    st.require(s.proc_alive[server], D.ESRCH)
    st.set_many(socket, {
        "sock_alive": True, "sock_capturing": capturing, "sock_level": D.IMPERSONATION,
        "sock_connected": False, "sock_server": server, "sock_has_peer": False,
        "sock_peer_token": s.anon_token, "sock_peer_level": D.ANONYMOUS,
    })
    return st.finish(socket=socket)


@rule("kacs_set_impersonation_level", family="impersonation", sections=("§9.1", "§13.1"),
      clauses=("IMP-08",),
      args=(Arg("socket", SOCKET), Arg("level", LEVEL, fmt="level")))
def kacs_set_impersonation_level(st: Step, socket: Any, level: Any) -> Outcome:
    """kacs_set_impersonation_level (Appendix A §13.1, §9.1): the client sets the
    maximum level a server may use, before connect().  EBADF for a socket that
    does not exist; EINVAL once connected (DECISIONS.md)."""
    s = st.pre
    actor_alive(st)
    st.require(s.sock_alive[socket], D.EBADF)
    st.require(not_(s.sock_connected[socket]), D.EINVAL)
    st.set("sock_level", socket, level)
    return st.finish()


@rule("socket_connect", family="impersonation", sections=("§9.3",),
      clauses=("IMP-04", "IMP-20", "IMP-25", "IMP-32"),
      args=(Arg("socket", SOCKET),))
def socket_connect(st: Step, socket: Any) -> Outcome:
    """connect() by the calling (client) thread (§9.3 The sequence, steps 1-2):
    for stream/seqpacket sockets the LSM hook stores a peer snapshot: the
    global Anonymous token at Anonymous level, otherwise a reference to the
    caller's *effective* token (an impersonated identity flows through,
    IMP-20), tagged with the socket's level.  Datagram and socketpair sockets
    install no snapshot (IMP-32).  EBADF / EINVAL (already connected):
    DECISIONS.md."""
    s, th = st.pre, st.actor
    actor_alive(st)
    st.require(s.sock_alive[socket], D.EBADF)
    st.require(not_(s.sock_connected[socket]), D.EINVAL)
    capturing = s.sock_capturing[socket]
    level = s.sock_level[socket]
    snapshot = ite(eq(level, D.ANONYMOUS), s.anon_token, effective_token(s, th))
    st.set("sock_connected", socket, True)
    st.set("sock_has_peer", socket, capturing)
    st.set("sock_peer_token", socket, snapshot, when=capturing)
    st.set("sock_peer_level", socket, level, when=capturing)
    return st.finish()


@rule("socket_close", family="impersonation", sections=("§9.3",), clauses=("IMP-21",),
      args=(Arg("socket", SOCKET),))
def socket_close(st: Step, socket: Any) -> Outcome:
    """close() of the connection: the socket and its peer-snapshot reference go
    away.  An impersonation already established keeps its own reference
    (§9.3 step 3, IMP-21).  EBADF if the socket does not exist."""
    s = st.pre
    actor_alive(st)
    st.require(s.sock_alive[socket], D.EBADF)
    st.set("sock_alive", socket, False)
    return st.finish()


# ------------------------------------------------------------------ impersonation
@rule("kacs_impersonate_peer", family="impersonation", sections=("§9.2", "§9.3", "§13.1"),
      clauses=("IMP-02", "IMP-09", "IMP-10", "IMP-11", "IMP-12", "IMP-13", "IMP-14", "IMP-15", "IMP-16",
               "IMP-18", "IMP-19", "IMP-21", "IMP-24", "IMP-27", "IMP-28", "IMP-30", "IMP-31", "IMP-32",
               "LIFE-19"),
      args=(Arg("socket", SOCKET), Arg("imp_copy", TOKEN, fresh=True,
                                       doc="the impersonation token the kernel builds, if one is needed")))
def kacs_impersonate_peer(st: Step, socket: Any, imp_copy: Any) -> Outcome:
    """kacs_impersonate_peer (Appendix A §13.1, §9.3 step 3): the server thread
    impersonates the peer snapshot at the socket's captured level, capped by the
    two gates of §9.2 evaluated against the thread's primary token (IMP-14).
    EBADF unless the socket exists and the caller's process is its server;
    EACCES without a KACS peer snapshot (datagram / socketpair, IMP-32);
    EPERM for restricted-server -> unrestricted-client same-user (IMP-13).
    Anonymous needs no gate (IMP-24).  Replaces any previous impersonation
    (IMP-27).  Returns the effective level."""
    s, th = st.pre, st.actor
    actor_alive(st)
    st.assume(not_(s.token_alive[imp_copy]))
    server = real_token(s, th)
    client = s.sock_peer_token[socket]
    requested = s.sock_peer_level[socket]
    st.require(and_(s.sock_alive[socket], eq(s.sock_server[socket], proc_of(s, th))), D.EBADF)
    st.require(s.sock_has_peer[socket], D.EACCES)
    eperm, level = impersonation_gates(s, server, client, requested)
    st.require(not_(eperm), D.EPERM)
    start_impersonation(st, server, client, level, imp_copy,
                        impersonate_privilege_exercised(s, server, client, requested))
    return st.finish(level=level)


@rule("ioctl_impersonate", family="impersonation", sections=("§13.2", "§9.2", "§9.3"),
      clauses=("IOCTL-06", "IOCTL-07", "IOCTL-08", "IMP-09", "IMP-10", "IMP-13", "IMP-14", "IMP-16",
               "IMP-18", "IMP-24", "IMP-27", "IMP-31", "IMP-34", "IMP-35"),
      args=(Arg("fd", HANDLE), Arg("imp_copy", TOKEN, fresh=True,
                                   doc="the capped copy the kernel builds, if one is needed")))
def ioctl_impersonate(st: Step, fd: Any, imp_copy: Any) -> Outcome:
    """KACS_IOC_IMPERSONATE (Appendix A §13.2, §9.3 Per-call level constraint):
    impersonate the fd's token with the caller's primary token as the server.
    EBADF for a closed fd; EACCES without TOKEN_IMPERSONATE on the handle;
    EINVAL for a primary token (IOCTL-06); EPERM for restricted-server ->
    unrestricted-client same-user (IOCTL-07).  The effective level is
    min(token level, gate-permitted level) (IOCTL-08, IMP-35); an
    Anonymous-level token needs no gate and is impersonated as the global
    Anonymous token (DECISIONS.md)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    st.assume(not_(s.token_alive[imp_copy]))
    p = proc_of(s, th)
    server = real_token(s, th)
    client = s.fd_token[p, fd]
    requested = s.token_level[client]
    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_IMPERSONATE), D.EACCES)
    st.require(not_(s.token_primary[client]), D.EINVAL)
    eperm, level = impersonation_gates(s, server, client, requested)
    st.require(not_(eperm), D.EPERM)
    start_impersonation(st, server, client, level, imp_copy,
                        impersonate_privilege_exercised(s, server, client, requested))
    return st.finish(level=level)


@rule("kacs_revert", family="impersonation", sections=("§9.3", "§13.1"), clauses=("IMP-23",))
def kacs_revert(st: Step) -> Outcome:
    """kacs_revert (Appendix A §13.1, §9.3 step 5): the thread's credential is
    restored to real_cred and the impersonation reference dropped.  Always
    succeeds, also when not impersonating; no privilege required."""
    actor_alive(st)
    st.set("thread_impersonating", st.actor, False)
    return st.finish()


__all__ = ["impersonation_gates", "impersonate_privilege_exercised", "start_impersonation",
           "socket_create", "kacs_set_impersonation_level", "socket_connect", "socket_close",
           "kacs_impersonate_peer", "ioctl_impersonate", "kacs_revert"]
