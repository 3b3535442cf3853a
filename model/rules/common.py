"""Small definitions the rules share: effective tokens, privilege tests,
token construction, default SDs (§4.8, §5.3) and handle creation."""

from __future__ import annotations

from typing import Any, Callable

from model import domain as D
from model.access import ACE, SD, access_check, read_sd
from model.state import FIELDS, SCHEMA, State
from model.step import Step
from model.values import and_, eq, has_all, inc, ite, ne, not_

TOKEN_FIELDS = [f.name for f in SCHEMA if f.keys == ("Token",)]
TOKEN_SD_FIELDS = [name for name in TOKEN_FIELDS if name.startswith("token_sd_")]  # the token SD, in that order
_TOKEN_FIELD_SET = frozenset(TOKEN_FIELDS)


# ------------------------------------------------------------------ who is acting
def proc_of(s: State, th: Any) -> Any:
    return s.thread_proc[th]


def real_token(s: State, th: Any) -> Any:
    """The thread's real_cred token: its primary token (§4.1)."""
    return s.thread_real[th]


def effective_token(s: State, th: Any) -> Any:
    """The token all of this thread's access decisions evaluate (§4.1)."""
    return ite(s.thread_impersonating[th], s.thread_imp_token[th], s.thread_real[th])


def holds(s: State, tok: Any, privs: Any) -> Any:
    """``privs`` are all present and enabled on ``tok`` (§7.1 standalone gates)."""
    return has_all(s.token_privs_enabled[tok] & s.token_privs_present[tok], privs)


def actor_alive(st: Step) -> None:
    """A syscall is made by a live thread of a live process.  A thread with
    queued install work runs it on its way back to user mode, before it can
    make another syscall (§4.3; DECISIONS.md)."""
    s, th = st.pre, st.actor
    st.assume(and_(s.thread_alive[th], s.proc_alive[proc_of(s, th)], not_(s.thread_install_pending[th])))


# ------------------------------------------------------------------ handles
def fd_ok(s: State, p: Any, fd: Any) -> Any:
    return s.fd_open[p, fd]


def fd_allows(s: State, p: Any, fd: Any, rights: Any) -> Any:
    """The handle's cached mask includes ``rights`` (§4.8 check-at-open model)."""
    return has_all(s.fd_mask[p, fd], rights)


def open_fd(st: Step, p: Any, fd: Any, tok: Any, mask: Any) -> None:
    """Install a new token fd (always O_CLOEXEC, Appendix A §2)."""
    st.set("fd_open", (p, fd), True)
    st.set("fd_token", (p, fd), tok)
    st.set("fd_mask", (p, fd), mask)
    st.set("fd_cloexec", (p, fd), True)


def assume_fresh_fd(st: Step, p: Any, fd: Any) -> None:
    st.assume(not_(st.pre.fd_open[p, fd]))


# ------------------------------------------------------------------ default SDs
def default_token_sd(s: State, creator_user: Any, token_user: Any) -> SD:
    """The default token SD (§4.8): owner = creator; self, creator and SYSTEM ACEs;
    the creator ACE is omitted and an OWNER RIGHTS READ_CONTROL ACE added when the
    creator is the token's own user."""
    same = eq(creator_user, token_user)
    return SD(
        owner=creator_user,
        dacl_present=True,
        aces=[
            ACE(True, True, False, token_user, D.TOKEN_SELF_RIGHTS),
            ACE(not_(same), True, False, creator_user, D.TOKEN_ALL_ACCESS),
            ACE(True, True, False, s.sid(D.SID_SYSTEM), D.TOKEN_ALL_ACCESS),
            ACE(same, True, False, s.sid(D.SID_OWNER_RIGHTS), D.READ_CONTROL),
        ],
    )


def default_process_sd(s: State, owner: Any, user: Any, integrity: Any) -> SD:
    """The default process SD (§5.3): self, Administrators and SYSTEM get
    GENERIC_ALL, Everyone PROCESS_QUERY_LIMITED; labelled NO_WRITE_UP at the
    token's integrity level."""
    return SD(
        owner=owner,
        dacl_present=True,
        aces=[
            ACE(True, True, False, user, D.GENERIC_ALL),
            ACE(True, True, False, s.sid(D.SID_ADMINISTRATORS), D.GENERIC_ALL),
            ACE(True, True, False, s.sid(D.SID_SYSTEM), D.GENERIC_ALL),
            ACE(True, True, False, s.sid(D.SID_EVERYONE), D.PROCESS_QUERY_LIMITED),
        ],
        has_label=True,
        label_level=integrity,
        label_policy=D.LABEL_NO_WRITE_UP,
    )


def token_sd_check(s: State, subject: Any, tok: Any, desired: Any):
    """AccessCheck of ``subject`` against token ``tok``'s own SD (§4.8)."""
    return access_check(s, subject, read_sd(s, "token_sd", tok), desired, D.TOKEN_MAPPING)


def process_sd_check(s: State, subject: Any, p: Any, desired: Any):
    """AccessCheck of ``subject`` against process ``p``'s SD (§5.3)."""
    return access_check(s, subject, read_sd(s, "proc_sd", p), desired, D.PROCESS_MAPPING)


# ------------------------------------------------------------------ new token objects
def write_new_token(st: Step, new: Any, src: Any, overrides: dict[str, Any] | Callable[[], dict[str, Any]],
                    when: Any = True) -> None:
    """Create token ``new``: every token field from ``overrides``, else copied from ``src``.

    Writes *all* token fields, so a new object never inherits stale values.
    Also assigns the next token id and marks the session as having had a token.
    With ``when`` the token is only created if ``when`` holds.  ``overrides`` may be a
    function returning the dict; it is called, and the fields read, only when the token
    can be created (``Step.guarded``: on symbolic states always, with the same terms).
    """
    st.guarded(when, lambda: _write_new_token(st, new, src, overrides, when))


def _write_new_token(st: Step, new: Any, src: Any, overrides: Any, when: Any) -> None:
    s = st.pre
    values = dict(overrides() if callable(overrides) else overrides)
    values.setdefault("token_alive", True)
    values.setdefault("token_id", s.next_token_id)
    for name in TOKEN_FIELDS:
        if name not in values:
            if src is None:
                raise ValueError(f"new token needs a value for {name}")
            values[name] = getattr(s, name)[src]
    unknown = set(values) - _TOKEN_FIELD_SET
    if unknown:
        raise ValueError(f"not token fields: {sorted(unknown)}")
    st.set_many(new, values, when)
    st.set_scalar("next_token_id", inc(s.next_token_id, D.ID_W), when)
    st.set("sess_had_token", values["token_session"], True, when)


def sd_overrides(prefix: str, sd: SD) -> dict[str, Any]:
    from model.access import sd_values

    return sd_values(prefix, sd)


def fresh_copy_overrides(s: State, creator_user: Any, token_user: Any) -> dict[str, Any]:
    """Fields DuplicateToken-style copies reset (§4.4): modified_id 0, Default
    elevation, a new default token SD."""
    out = {"token_modified_id": 0, "token_elevation": D.ELEV_DEFAULT}
    out.update(sd_overrides("token_sd", default_token_sd(s, creator_user, token_user)))
    return out


def anonymous_overrides(s: State) -> dict[str, Any]:
    """The identity of an Anonymous token (§9.3): S-1-5-7, no privileges,
    Untrusted, Everyone only under the Anonymous-in-Everyone policy."""
    everyone = s.anon_includes_everyone
    out: dict[str, Any] = {
        "token_user": s.sid(D.SID_ANONYMOUS), "token_user_deny_only": False,
        "token_groups": ite(everyone, D.BV(1, D.GROUP_W), D.BV(0, D.GROUP_W)),
        "token_g_enabled": ite(everyone, D.BV(1, D.GROUP_W), D.BV(0, D.GROUP_W)),
        "token_g_default": ite(everyone, D.BV(1, D.GROUP_W), D.BV(0, D.GROUP_W)),
        "token_g_mandatory": ite(everyone, D.BV(1, D.GROUP_W), D.BV(0, D.GROUP_W)),
        "token_g_deny_only": 0, "token_g_logon": 0, "token_g_owner": 0,
        "token_group_sid0": s.sid(D.SID_EVERYONE),
        "token_logon_sid": s.sid(D.SID_NULL),
        "token_restricted": False, "token_rsids": 0, "token_write_restricted": False,
        "token_integrity": D.IL_UNTRUSTED,
        "token_privs_present": 0, "token_privs_enabled": 0, "token_privs_default": 0, "token_privs_used": 0,
        "token_owner_index": 0, "token_group_index": 0, "token_default_dacl": 0,
        "token_session": s.anon_session,
        "token_confined": False, "token_caps": 0, "token_conf_exempt": False, "token_isolation": False,
        "token_conf_sid": s.sid(D.SID_NULL),
        "token_scope": 0,
    }
    for i in range(1, D.GROUP_SLOTS):
        out[f"token_group_sid{i}"] = s.sid(D.SID_NULL)
    for i in range(D.RSID_SLOTS):
        out[f"token_rsid{i}"] = s.sid(D.SID_NULL)
    for i in range(D.CAP_SLOTS):
        out[f"token_cap{i}"] = s.sid(D.SID_NULL)
    return out


def bump_modified(st: Step, tok: Any) -> None:
    """Every adjustment bumps modified_id (§4.5)."""
    st.set("token_modified_id", tok, inc(st.pre.token_modified_id[tok], D.ID_W))


def is_restricted(s: State, tok: Any) -> Any:
    return s.token_restricted[tok]


__all__ = ["FIELDS", "ne", "not_"]
