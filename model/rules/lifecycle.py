"""Process and thread lifecycle (§4.3), handle close, and the kernel's
reclamation of unreferenced tokens and empty logon sessions (§4.2 refcount,
§4.6 Lifecycle, §4.7 Cleanup)."""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.access import sd_values
from model.rules.common import (
    TOKEN_SD_FIELDS,
    actor_alive,
    default_process_sd,
    fresh_copy_overrides,
    proc_of,
    real_token,
    write_new_token,
)
from model.rules.registry import Arg, rule
from model.state import BOOL, HANDLE, IL, PROCESS, SESSION, THREAD, TOKEN, State
from model.step import Outcome, Step
from model.values import and_, and_lazy, eq, ite, ne, not_, or_, or_lazy, ult


def new_process_sd(s: State, creator: Any, tok: Any) -> dict[str, Any]:
    """Default process SD for a process running ``tok``, created by ``creator`` (§5.3)."""
    user = s.token_user[tok]
    return sd_values("proc_sd", default_process_sd(s, s.token_user[creator], user, s.token_integrity[tok]))


@rule("fork", family="lifecycle", sections=("§4.3", "§4.1", "§5.3"),
      clauses=("TOK-08", "LIFE-01", "LIFE-02", "LIFE-03"),
      args=(Arg("child", PROCESS, fresh=True), Arg("child_thread", THREAD, fresh=True),
            Arg("child_token", TOKEN, fresh=True)))
def fork(st: Step, child: Any, child_thread: Any, child_token: Any) -> Outcome:
    """clone() without CLONE_THREAD (§4.3): the child process gets an independent
    deep copy of the caller's primary token, no impersonation, a copy of the fd
    table and a default process SD."""
    s, th = st.pre, st.actor
    actor_alive(st)
    st.assume(and_(not_(s.proc_alive[child]), not_(s.thread_alive[child_thread]),
                   not_(s.token_alive[child_token])))
    parent, primary = proc_of(s, th), real_token(s, th)
    write_new_token(st, child_token, primary, {})
    st.set_many(child, {"proc_alive": True, "proc_primary": child_token, **new_process_sd(s, primary, primary)})
    st.set_many(child_thread, {
        "thread_alive": True, "thread_proc": child, "thread_real": child_token,
        "thread_install_pending": False, "thread_impersonating": False,
        "thread_imp_token": child_token, "thread_imp_level": D.ANONYMOUS,
    })
    for name in ("fd_open", "fd_token", "fd_mask", "fd_cloexec"):
        st.set_row(name, child, lambda fd, name=name: (True, s.view(name)[parent, fd]))
    return st.finish(child=child)


@rule("clone_thread", family="lifecycle", sections=("§4.3",), clauses=("LIFE-04", "LIFE-05", "TOK-07"),
      args=(Arg("new_thread", THREAD, fresh=True),))
def clone_thread(st: Step, new_thread: Any) -> Outcome:
    """clone(CLONE_THREAD) (§4.3): the new thread shares the caller's real_cred
    (the process's primary token) and starts without impersonation, even if the
    caller is impersonating."""
    s, th = st.pre, st.actor
    actor_alive(st)
    st.assume(not_(s.thread_alive[new_thread]))
    st.set_many(new_thread, {
        "thread_alive": True, "thread_proc": proc_of(s, th), "thread_real": real_token(s, th),
        "thread_install_pending": False, "thread_impersonating": False,
        "thread_imp_token": real_token(s, th), "thread_imp_level": D.ANONYMOUS,
    })
    return st.finish(thread=new_thread)


@rule("exec", family="lifecycle", sections=("§4.3", "§10.3", "Appendix A §2"),
      clauses=("LIFE-06", "LIFE-07", "LIFE-12", "LIFE-13", "LIFE-14", "LIFE-15", "IOCTL-02"),
      args=(Arg("file_labelled", BOOL, doc="the executable has a mandatory label"),
            Arg("file_level", IL, doc="the executable's label level (if labelled)"),
            Arg("lowered_token", TOKEN, fresh=True, doc="the NEW_PROCESS_MIN copy, if one is made")))
def exec_(st: Step, file_labelled: Any, file_level: Any, lowered_token: Any) -> Outcome:
    """execve() (§4.3): impersonation is reverted, sibling threads end (Linux
    de_thread), close-on-exec token fds close, and with NEW_PROCESS_MIN a
    lower-labelled executable (unlabelled = Medium) gets a lowered copy of the
    primary token (DuplicateToken semantics, all other fields copied)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    st.assume(not_(s.token_alive[lowered_token]))
    p, primary = proc_of(s, th), real_token(s, th)
    file_il = ite(file_labelled, file_level, D.IL_MEDIUM)
    lower = and_(ne(s.token_policy[primary] & D.POLICY_NEW_PROCESS_MIN, 0),
                 ult(file_il, s.token_integrity[primary]))

    st.set_where_match("thread_alive", ("thread_proc", p), lambda x: (ne(x, th), False))  # p's other threads
    st.set("thread_impersonating", th, False)
    st.set_row("fd_open", p, lambda fd: (s.fd_cloexec[p, fd], False))

    def overrides() -> dict[str, Any]:  # read only if the copy can be made (write_new_token)
        out = {"token_modified_id": 0, "token_elevation": D.ELEV_DEFAULT, "token_integrity": file_il}
        for name in TOKEN_SD_FIELDS:
            out[name] = getattr(s, name)[primary]
        return out

    write_new_token(st, lowered_token, primary, overrides, when=lower)
    st.set("proc_primary", p, lowered_token, when=lower)
    st.set("thread_real", th, lowered_token, when=lower)
    return st.finish(lowered=lower)


@rule("thread_exit", family="lifecycle", sections=("§4.3", "§9.3"), clauses=("IMP-23",))
def thread_exit(st: Step) -> Outcome:
    """A thread that is not its process's last exits; its credentials (and any
    impersonation token reference) are dropped.  The last thread's exit is
    ``process_exit``."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    st.assume(s.exists_alive("Thread", lambda x: (ne(x, th),), match=("thread_proc", p)))  # another live thread of p
    st.set("thread_alive", th, False)
    st.set("thread_impersonating", th, False)
    return st.finish()


@rule("process_exit", family="lifecycle", sections=("§4.3", "§4.7"), clauses=("TOK-59",))
def process_exit(st: Step) -> Outcome:
    """exit_group(): every thread of the caller's process ends and its fd table
    is closed, dropping every token reference the process held."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    st.set("proc_alive", p, False)
    st.set_where("thread_alive", lambda x: (eq(s.thread_proc[x], p), False))
    st.set_where("thread_impersonating", lambda x: (eq(s.thread_proc[x], p), False))
    st.set_row("fd_open", p, lambda fd: (True, False))
    return st.finish()


@rule("close_handle", family="lifecycle", sections=("§4.8", "§13.2"), clauses=("RIGHTS-16",),
      args=(Arg("fd", HANDLE),))
def close_handle(st: Step, fd: Any) -> Outcome:
    """close() on a token fd: the handle and its cached mask go away."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    st.require(s.fd_open[p, fd], D.EBADF)
    st.set("fd_open", (p, fd), False)
    return st.finish()


@rule("set_cloexec", family="lifecycle", sections=("Appendix A §2",), clauses=("IOCTL-02",),
      args=(Arg("fd", HANDLE), Arg("cloexec", BOOL)))
def set_cloexec(st: Step, fd: Any, cloexec: Any) -> Outcome:
    """fcntl(F_SETFD): set or clear FD_CLOEXEC on a token fd (Appendix A §2)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    st.require(s.fd_open[p, fd], D.EBADF)
    st.set("fd_cloexec", (p, fd), cloexec)
    return st.finish()


# ------------------------------------------------------------------ kernel reclamation
def referenced_outside_pairs(s: State, t: Any) -> Any:
    """Some thread, process, fd or socket snapshot holds ``t`` (§4.2 refcount): a live thread's
    real or impersonation token, a live process's primary, an open fd's token, a live socket's
    peer snapshot.  (``or_lazy``: on a concrete state the later kinds are not searched once one
    holds it; ``exists_alive``: nor are dead objects.)"""
    return or_lazy(
        lambda: s.exists_alive("Thread", lambda x: (
            or_(eq(s.thread_real[x], t), and_(s.thread_impersonating[x], eq(s.thread_imp_token[x], t))),)),
        lambda: s.exists_alive("Process", lambda p: (), match=("proc_primary", t)),
        lambda: s.exists2("Process", "Handle", lambda p, h: and_(s.fd_open[p, h], eq(s.fd_token[p, h], t))),
        lambda: s.exists_alive("Socket", lambda k: (s.sock_has_peer[k], eq(s.sock_peer_token[k], t))),
    )


def held_by_pair(s: State, t: Any) -> Any:
    sess = s.token_session[t]
    return and_(s.sess_linked[sess], or_(eq(s.sess_elevated[sess], t), eq(s.sess_filtered[sess], t)))


@rule("kernel_free_token", family="kernel", sections=("§4.2", "§4.7"), kernel=True,
      clauses=("TOK-59", "SESS-03"), args=(Arg("token", TOKEN),))
def kernel_free_token(st: Step, token: Any) -> Outcome:
    """The last reference to a token dropped: the kernel frees it.  The global
    Anonymous token is never freed; linked-pair tokens go with their session."""
    s = st.pre
    st.assume(and_lazy(s.token_alive[token], ne(token, s.anon_token),
                       lambda: not_(referenced_outside_pairs(s, token)), lambda: not_(held_by_pair(s, token))))
    st.set("token_alive", token, False)
    return st.finish()


@rule("kernel_destroy_session", family="kernel", sections=("§4.6", "§4.7"), kernel=True,
      clauses=("SESS-03", "ELEV-13", "ELEV-14"), args=(Arg("session", SESSION),))
def kernel_destroy_session(st: Step, session: Any) -> Outcome:
    """Only linked-pair references (or none) remain to a used LogonSession's
    tokens: the kernel destroys the session, unlinks the pair and frees its tokens."""
    s = st.pre
    st.assume(and_lazy(
        s.sess_alive[session], s.sess_had_token[session],
        ne(session, s.system_session), ne(session, s.anon_session),
        lambda: s.forall("Token", lambda t: or_lazy(not_(s.token_alive[t]), ne(s.token_session[t], session),
                                                    lambda: not_(referenced_outside_pairs(s, t)))),
    ))
    st.set("sess_alive", session, False)
    st.set("sess_linked", session, False)
    st.set_where("token_alive", lambda t: (eq(s.token_session[t], session), False))
    return st.finish()


__all__ = ["fork", "clone_thread", "exec_", "thread_exit", "process_exit", "close_handle"]
