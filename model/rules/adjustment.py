"""Token adjustment (§4.5) and the standalone privilege check (§7.1,
Appendix A kacs_privilege_check).

Every adjustment mutates the token in place and bumps ``modified_id``
(ADJ-02); marking a privilege used does not (TOK-46).  The trace parser turns
the ``kacs_priv_entry`` / ``kacs_group_entry`` arrays of Appendix A into bit
masks plus an ``entries_ok`` flag for the per-entry encoding checks the masks
cannot express (duplicates, unknown attribute bits, misuse of the reset
sentinel, out-of-range indices).
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.rules.common import (
    actor_alive,
    bump_modified,
    effective_token,
    fd_allows,
    fd_ok,
    holds,
    proc_of,
    real_token,
)
from model.rules.registry import Arg, rule
from model.state import BOOL, BVT, GROUPS, HANDLE, PRIVS
from model.step import Outcome, Step
from model.values import and_, any_, bit_of, clear, eq, has_any, implies, ite, ne, not_, or_, subset


def _fd_token(st: Step, fd: Any) -> tuple[Any, Any]:
    """The caller's process and the token its ``fd`` names."""
    s, th = st.pre, st.actor
    p = proc_of(s, th)
    return p, s.fd_token[p, fd]


@rule("ioctl_adjust_privs", family="adjustment",
      sections=("§4.5", "§7.1", "Appendix A §2", "Appendix A §4"),
      clauses=("ADJ-02", "ADJ-03", "ADJ-04", "ADJ-05", "ADJ-06", "ADJ-07", "ADJ-08", "ADJ-09", "ADJ-10",
               "PRIV-01", "PRIV-04", "IOCTL-21", "IOCTL-22", "IOCTL-23"),
      args=(Arg("fd", HANDLE),
            Arg("enable", PRIVS, fmt="privileges", doc="entries with SE_PRIVILEGE_ENABLED"),
            Arg("disable", PRIVS, fmt="privileges", doc="entries with attributes 0"),
            Arg("remove", PRIVS, fmt="privileges", doc="entries with SE_PRIVILEGE_REMOVED"),
            Arg("reset", BOOL, doc="the single {luid 0, KACS_PRIV_RESET_ALL_DEFAULTS} entry"),
            Arg("entries_ok", BOOL, doc="no duplicate luid, no unknown attribute bits, not "
                "ENABLED|REMOVED, reset sentinel only alone (checked by the trace parser)")))
def ioctl_adjust_privs(st: Step, fd: Any, enable: Any, disable: Any, remove: Any, reset: Any,
                       entries_ok: Any) -> Outcome:
    """KACS_IOC_ADJUST_PRIVS (§4.5 AdjustPrivileges, Appendix A §2/§4).

    Guards: an open token fd (EBADF), TOKEN_ADJUST_PRIVILEGES on it (EACCES),
    well-formed entries (EINVAL: parser checks, a privilege named twice across
    the masks, a reset with other entries, an empty request), and no attempt to
    enable an absent privilege (EINVAL, ADJ-04).  All entries validate before
    any applies (ADJ-09).  Reset restores enabled-by-default and never brings
    back a removed privilege (ADJ-06/07); remove clears present, enabled and
    enabled-by-default but keeps the used bit (ADJ-08, PRIV-04); disabling or
    removing an absent privilege is a no-op (ADJ-05).  Returns the previous
    enabled mask (ADJ-10)."""
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
    st.require(subset(enable, present), D.EINVAL)

    gone = disable | remove
    st.set("token_privs_enabled", tok, ite(reset, default & present, clear(enabled | enable, gone)))
    st.set("token_privs_present", tok, clear(present, remove))
    st.set("token_privs_default", tok, clear(default, remove))
    bump_modified(st, tok)
    return st.finish(previous=enabled)


def _user_sid_slots(s: Any, tok: Any, mask: Any) -> Any:
    """Some slot in ``mask`` holds a group whose SID is the token's user SID (ADJ-15)."""
    user = s.token_user[tok]
    return any_(and_(bit_of(mask, i), eq(s.group_sid(tok, i), user)) for i in range(D.GROUP_SLOTS))


@rule("ioctl_adjust_groups", family="adjustment",
      sections=("§4.5", "Appendix A §2", "Appendix A §4"),
      clauses=("ADJ-02", "ADJ-11", "ADJ-12", "ADJ-13", "ADJ-14", "ADJ-15", "ADJ-16", "ADJ-17", "ADJ-18",
               "IOCTL-24", "IOCTL-25", "IOCTL-26"),
      args=(Arg("fd", HANDLE),
            Arg("enable", GROUPS, fmt="slots", doc="group indices with enable = 1"),
            Arg("disable", GROUPS, fmt="slots", doc="group indices with enable = 0"),
            Arg("reset", BOOL, doc="the single {index 0xFFFFFFFF, enable 0} entry"),
            Arg("entries_ok", BOOL, doc="count != 0, count <= 64, no duplicate index, no index outside "
                "the model's slots, reset sentinel only alone (checked by the trace parser)")))
def ioctl_adjust_groups(st: Step, fd: Any, enable: Any, disable: Any, reset: Any, entries_ok: Any) -> Outcome:
    """KACS_IOC_ADJUST_GROUPS (§4.5 AdjustGroups, Appendix A §2/§4).

    Guards: an open token fd (EBADF), TOKEN_ADJUST_GROUPS (EACCES), well-formed
    entries (EINVAL: parser checks, an index named twice, a reset with other
    entries, an index that is not a group of the token), then no entry may
    target a mandatory, deny-only or logon-SID group (EINVAL, IOCTL-25: any
    entry, stricter than §4.5's "MUST NOT be disabled") nor disable a group
    carrying the user SID (EINVAL, ADJ-15).  Reset restores
    enabled-by-default but deny-only groups stay disabled (ADJ-16, IOCTL-26).
    Returns the previous enabled bitmask (ADJ-18)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p, tok = _fd_token(st, fd)
    groups = s.token_groups[tok]
    enabled = s.token_g_enabled[tok]
    protected = s.token_g_mandatory[tok] | s.token_g_deny_only[tok] | s.token_g_logon[tok]
    targets = enable | disable
    any_entry = ne(targets, 0)

    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_ADJUST_GROUPS), D.EACCES)
    st.require(entries_ok, D.EINVAL)
    st.require(eq(enable & disable, 0), D.EINVAL)
    st.require(ite(reset, not_(any_entry), any_entry), D.EINVAL)
    st.require(subset(targets, groups), D.EINVAL)
    st.require(not_(has_any(targets, protected)), D.EINVAL)
    st.require(not_(_user_sid_slots(s, tok, disable)), D.EINVAL)

    reset_to = clear(s.token_g_default[tok] & groups, s.token_g_deny_only[tok])
    st.set("token_g_enabled", tok, ite(reset, reset_to, clear(enabled | enable, disable)))
    bump_modified(st, tok)
    return st.finish(previous=enabled)


def _names_group(s: Any, tok: Any, index: Any, attr_mask: Any) -> Any:
    """``index`` (1..n) names a present group slot ``index-1`` whose bit is set in ``attr_mask``."""
    return any_(and_(eq(index, D.BV(i + 1, D.INDEX_W)), bit_of(s.token_groups[tok], i), bit_of(attr_mask, i))
                for i in range(D.GROUP_SLOTS))


@rule("ioctl_adjust_default", family="adjustment",
      sections=("§4.5", "§4.2", "Appendix A §2", "Appendix A §4"),
      clauses=("ADJ-02", "ADJ-21", "ADJ-22", "ADJ-23", "ADJ-24", "ADJ-25", "IOCTL-28"),
      args=(Arg("fd", HANDLE),
            Arg("set_dacl", BOOL, doc="dacl_ptr != 0"),
            Arg("dacl", BVT(D.DACL_W), doc="the new default DACL (opaque id; 0 = cleared)"),
            Arg("set_owner", BOOL, doc="owner_index != 0xFFFF"),
            Arg("owner_index", BVT(D.INDEX_W), doc="0 = user SID, 1..n = groups[n-1]"),
            Arg("set_group", BOOL, doc="group_index != 0xFFFF"),
            Arg("group_index", BVT(D.INDEX_W), doc="0 = user SID, 1..n = groups[n-1]")))
def ioctl_adjust_default(st: Step, fd: Any, set_dacl: Any, dacl: Any, set_owner: Any, owner_index: Any,
                         set_group: Any, group_index: Any) -> Outcome:
    """KACS_IOC_ADJUST_DEFAULT (§4.5 AdjustDefault, §4.2, Appendix A §2/§4).

    Guards: an open token fd (EBADF), TOKEN_ADJUST_DEFAULT (EACCES); a new
    owner index must name the user SID (0) or a group with SE_GROUP_OWNER
    (EINVAL, ADJ-22); a new primary group index the user SID or a group on the
    token (EINVAL, ADJ-23).  Only the requested fields change; modified_id is
    bumped (ADJ-21, IOCTL-28)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p, tok = _fd_token(st, fd)
    zero = D.BV(0, D.INDEX_W)
    owner_ok = or_(eq(owner_index, zero), _names_group(s, tok, owner_index, s.token_g_owner[tok]))
    group_ok = or_(eq(group_index, zero), _names_group(s, tok, group_index, s.token_groups[tok]))

    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_ADJUST_DEFAULT), D.EACCES)
    st.require(implies(set_owner, owner_ok), D.EINVAL)
    st.require(implies(set_group, group_ok), D.EINVAL)

    st.set("token_default_dacl", tok, dacl, when=set_dacl)
    st.set("token_owner_index", tok, owner_index, when=set_owner)
    st.set("token_group_index", tok, group_index, when=set_group)
    bump_modified(st, tok)
    return st.finish()


@rule("ioctl_adjust_interactivity_scope", family="adjustment",
      sections=("§4.5", "§4.2", "§7.1", "Appendix A §2"),
      clauses=("ADJ-02", "ADJ-19", "ADJ-20", "TOK-47", "IOCTL-27", "PRIV-03"),
      args=(Arg("fd", HANDLE), Arg("scope", BVT(D.SCOPE_W), doc="the new u32 interactivity scope")))
def ioctl_adjust_interactivity_scope(st: Step, fd: Any, scope: Any) -> Outcome:
    """KACS_IOC_ADJUST_INTERACTIVITY_SCOPE (§4.5 AdjustSessionID, Appendix A §2).

    Guards: an open token fd (EBADF), TOKEN_ADJUST_INTERACTIVITY_SCOPE (EACCES),
    SeTcbPrivilege on the caller's real token (EPERM).  Once the privilege gate
    accepts, SeTcbPrivilege is marked used (§7.1 PRIV-03).  Only the scope
    changes (ADJ-20); modified_id is bumped (IOCTL-27)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p, tok = _fd_token(st, fd)
    real = real_token(s, th)

    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_ADJUST_INTERACTIVITY_SCOPE), D.EACCES)
    st.require(holds(s, real, D.SE_TCB), D.EPERM)
    st.set_now("token_privs_used", real, s.token_privs_used[real] | D.SE_TCB)

    st.set("token_scope", tok, scope)
    bump_modified(st, tok)
    return st.finish()


@rule("kacs_privilege_check", family="adjustment",
      sections=("§7.1", "§4.2", "Appendix A §1"),
      clauses=("PRIV-02", "PRIV-05", "TOK-45", "TOK-46"),
      args=(Arg("privileges", PRIVS, fmt="privileges", doc="the privileges to check (ALL_REQUIRED)"),))
def kacs_privilege_check(st: Step, privileges: Any) -> Outcome:
    """kacs_privilege_check with KACS_PRIVCHECK_ALL_REQUIRED (Appendix A §1,
    §7.1): every listed privilege must be present and enabled on the calling
    thread's effective token (EPERM otherwise, nothing marked).  On success
    each is marked used; marking used does not bump modified_id (TOK-46)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    tok = effective_token(s, th)

    st.require(holds(s, tok, privileges), D.EPERM)

    st.set("token_privs_used", tok, s.token_privs_used[tok] | privileges)
    return st.finish()


__all__ = ["ioctl_adjust_privs", "ioctl_adjust_groups", "ioctl_adjust_default",
           "ioctl_adjust_interactivity_scope", "kacs_privilege_check"]
