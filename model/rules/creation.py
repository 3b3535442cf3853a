"""Token creation (§4.4): CreateToken (kacs_create_token, Appendix A §1 and
§5 wire format), DuplicateToken (KACS_IOC_DUPLICATE, Appendix A §2) and
FilterToken (KACS_IOC_RESTRICT, Appendix A §2).

Each makes a new token object with ``write_new_token`` (every field written)
and a new O_CLOEXEC fd.  Wire-format details that bit masks cannot express
(duplicate deny indices, truncated or trailing payload bytes, reserved flag
bits) are computed by the trace parser into a ``payload_ok`` flag; SIDs that
do not parse arrive as ``S-malformed`` (DECISIONS.md "SIDs are opaque").
"""

from __future__ import annotations

from typing import Any

from model import domain as D
from model.access import access_check, handle_mask
from model.rules.common import (
    actor_alive,
    anonymous_overrides,
    assume_fresh_fd,
    default_token_sd,
    effective_token,
    fd_allows,
    fd_ok,
    fresh_copy_overrides,
    holds,
    open_fd,
    proc_of,
    real_token,
    sd_overrides,
    write_new_token,
)
from model.rules.handles import merge_when
from model.rules.registry import Arg, rule
from model.state import BOOL, BVT, GROUPS, HANDLE, IL, LEVEL, MASK, PRIVS, SESSION, SID, TOKEN
from model.step import Outcome, Step
from model.values import BV, and_, any_, bit_of, clear, eq, implies, ite, ne, not_, or_, subset, ugt, ule, ult

CALLER_GROUPS = D.GROUP_SLOTS - 1  # the model's caller groups; the last slot is for the logon SID
INDEX = BVT(D.INDEX_W)
RSIDS = BVT(D.RSID_W)
CAPS = BVT(D.CAP_W)


def _slot_mask(width: int, cond) -> Any:
    """The bit mask of slots ``i < width`` for which ``cond(i)`` holds."""
    m: Any = BV(0, width)
    for i in range(width):
        m = ite(cond(i), m | BV(1 << i, width), m)
    return m


# ------------------------------------------------------------------ CreateToken
_CREATE_ARGS = (
    Arg("user", SID, doc="user_sid"),
    *(Arg(f"g{i}", SID, doc=f"caller group {i} SID (used if {i} < group_count)") for i in range(CALLER_GROUPS)),
    Arg("group_count", INDEX, doc="groups_count on the wire (model bound: 7; DECISIONS.md slots)", plain=0),
    Arg("g_enabled", GROUPS, fmt="slots", doc="caller groups with SE_GROUP_ENABLED", plain=0),
    Arg("g_default", GROUPS, fmt="slots", doc="caller groups with SE_GROUP_ENABLED_BY_DEFAULT", plain=0),
    Arg("g_mandatory", GROUPS, fmt="slots", doc="caller groups with SE_GROUP_MANDATORY", plain=0),
    Arg("g_owner", GROUPS, fmt="slots", doc="caller groups with SE_GROUP_OWNER", plain=0),
    Arg("g_deny_only", GROUPS, fmt="slots", doc="caller groups with SE_GROUP_USE_FOR_DENY_ONLY", plain=0),
    Arg("privs_present", PRIVS, fmt="privileges"),
    Arg("privs_enabled", PRIVS, fmt="privileges", doc="also becomes enabled-by-default"),
    Arg("owner_index", INDEX, doc="0 = user SID, 1..N = caller group N-1", plain=0),
    Arg("group_index", INDEX, doc="primary group: 0 = user SID, 1..N = caller group N-1", plain=0),
    Arg("default_dacl", BVT(D.DACL_W), doc="opaque default DACL id (0 = none)", plain=0),
    Arg("integrity", IL, fmt="integrity"),
    Arg("policy", BVT(D.POLICY_W), doc="mandatory_policy: NO_WRITE_UP=1, NEW_PROCESS_MIN=2", plain=0),
    Arg("primary", BOOL, doc="token_type == Primary"),
    Arg("level", LEVEL, fmt="level", doc="impersonation_level"),
    Arg("session", SESSION, doc="auth_id"),
    Arg("restricted", BOOL, doc="a restricted SID list is present", plain=False),
    *(Arg(f"r{i}", SID, doc=f"restricting SID {i}") for i in range(D.RSID_SLOTS)),
    Arg("r_mask", RSIDS, fmt="slots", doc="which restricting SID slots the request carries", plain=0),
    Arg("write_restricted", BOOL, plain=False),
    Arg("user_deny_only", BOOL, plain=False),
    Arg("confined", BOOL, doc="a confinement_sid is present", plain=False),
    Arg("conf_sid", SID, doc="confinement_sid"),
    *(Arg(f"c{i}", SID, doc=f"confinement capability {i}") for i in range(D.CAP_SLOTS)),
    Arg("c_mask", CAPS, fmt="slots", doc="which capability slots the request carries", plain=0),
    Arg("conf_exempt", BOOL, plain=False),
    Arg("isolation", BOOL, doc="isolation_boundary", plain=False),
    Arg("elevation_field", BVT(D.ELEV_W), doc="the wire _reserved1 (elevation_type) field; must be 0", plain=0),
    Arg("scope", BVT(D.SCOPE_W), doc="interactivity_scope", plain=0),
    Arg("new_token", TOKEN, fresh=True),
    Arg("fd", HANDLE, fresh=True),
)


@rule("kacs_create_token", family="creation", sections=("§4.4", "§4.8", "§7.1", "§13.1", "Appendix A §5"),
      clauses=("CREATE-01", "CREATE-02", "CREATE-03", "CREATE-04", "CREATE-05", "CREATE-06", "CREATE-07",
               "CREATE-08", "CREATE-09", "CREATE-10", "CREATE-11", "CREATE-12", "CREATE-13", "CREATE-14",
               "CREATE-16", "SESS-15", "PRIV-03", "PRIV-05", "IOCTL-02"),
      args=_CREATE_ARGS)
def kacs_create_token(st: Step, user: Any, g0: Any, g1: Any, g2: Any, g3: Any, g4: Any, g5: Any, g6: Any,
                      group_count: Any, g_enabled: Any, g_default: Any, g_mandatory: Any, g_owner: Any,
                      g_deny_only: Any, privs_present: Any, privs_enabled: Any, owner_index: Any,
                      group_index: Any, default_dacl: Any, integrity: Any, policy: Any, primary: Any,
                      level: Any, session: Any, restricted: Any, r0: Any, r1: Any, r2: Any, r3: Any,
                      r_mask: Any, write_restricted: Any, user_deny_only: Any, confined: Any, conf_sid: Any,
                      c0: Any, c1: Any, c_mask: Any, conf_exempt: Any, isolation: Any, elevation_field: Any,
                      scope: Any, new_token: Any, fd: Any) -> Outcome:
    """kacs_create_token (§4.4 CreateToken, §13.1, Appendix A §5).

    Validations in the spec's order: (1) SeCreateTokenPrivilege on the caller's
    effective token (EPERM; marked used once accepted, PRIV-03); (2) every SID
    in the request well-formed (EINVAL); (3) owner index 0 or a caller group
    with SE_GROUP_OWNER (EINVAL); (4) primary-group index 0..N (EINVAL);
    (5) auth_id names an existing (ENOENT), not dead (EINVAL) LogonSession;
    the logon SID is not among the caller's groups (EINVAL, CREATE-06);
    (6) Primary => Anonymous level; (7) write_restricted => user_deny_only;
    (8) isolation_boundary => confinement SID; (9) wire elevation field 0;
    (10) caller groups + 1 <= 64 (all EINVAL).

    The kernel appends the session's logon SID after the caller's groups with
    MANDATORY|ENABLED|ENABLED_BY_DEFAULT|LOGON_ID (CREATE-05) and adds no other
    group (CREATE-03); it sets modified_id 0, elevation Default, the default
    token SD with the caller's primary-token user as creator (CREATE-04), and
    enabled-by-default := enabled, used := 0.  The fd caches TOKEN_ALL_ACCESS
    (CREATE-16)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    assume_fresh_fd(st, p, fd)
    st.assume(not_(s.token_alive[new_token]))
    st.assume(ule(group_count, CALLER_GROUPS))  # model bound on the request (DECISIONS.md slots)
    groups = [g0, g1, g2, g3, g4, g5, g6]
    rsids = [r0, r1, r2, r3]
    caps = [c0, c1]
    caller = effective_token(s, th)
    bad = s.sid(D.MALFORMED_SID)
    in_req = lambda i: ult(i, group_count)  # noqa: E731  caller group slot i is part of the request
    logon = s.sess_logon_sid[session]

    # 1. SeCreateTokenPrivilege (standalone gate, §7.1)
    st.require(holds(s, caller, D.SE_CREATE_TOKEN), D.EPERM)
    st.set_now("token_privs_used", caller, s.token_privs_used[caller] | D.SE_CREATE_TOKEN)
    # 2. all SIDs structurally well-formed
    sids_ok = and_(
        ne(user, bad),
        *(implies(in_req(i), ne(g, bad)) for i, g in enumerate(groups)),
        *(implies(and_(restricted, bit_of(r_mask, i)), ne(r, bad)) for i, r in enumerate(rsids)),
        implies(confined, ne(conf_sid, bad)),
        *(implies(bit_of(c_mask, i), ne(c, bad)) for i, c in enumerate(caps)),
    )
    st.require(sids_ok, D.EINVAL)
    # 3. owner: the user SID or a caller group with SE_GROUP_OWNER
    st.require(or_(eq(owner_index, 0),
                   any_(and_(eq(owner_index, i + 1), in_req(i), bit_of(g_owner, i)) for i in range(CALLER_GROUPS))),
               D.EINVAL)
    # 4. primary group: the user SID or a caller group
    st.require(ule(group_index, group_count), D.EINVAL)
    # 5. an existing LogonSession that is not dead
    st.require(s.sess_alive[session], D.ENOENT)
    st.require(not_(s.sess_dead[session]), D.EINVAL)
    #    callers must not include the logon SID (CREATE-06)
    st.require(not_(any_(and_(in_req(i), eq(g, logon)) for i, g in enumerate(groups))), D.EINVAL)
    # 6..9
    st.require(implies(primary, eq(level, D.ANONYMOUS)), D.EINVAL)
    st.require(implies(write_restricted, user_deny_only), D.EINVAL)
    st.require(implies(isolation, confined), D.EINVAL)
    st.require(eq(elevation_field, 0), D.EINVAL)
    # 10. caller groups + the logon SID fit the 64-entry limit
    st.require(ule(group_count, D.SPEC_MAX_GROUPS - 1), D.EINVAL)

    caller_slots = _slot_mask(D.GROUP_W, in_req)
    logon_slot = _slot_mask(D.GROUP_W, lambda i: eq(i, group_count))
    null = s.sid(D.SID_NULL)
    values: dict[str, Any] = {
        "token_user": user, "token_user_deny_only": user_deny_only,
        "token_groups": caller_slots | logon_slot,
        "token_g_enabled": (g_enabled & caller_slots) | logon_slot,
        "token_g_default": (g_default & caller_slots) | logon_slot,
        "token_g_mandatory": (g_mandatory & caller_slots) | logon_slot,
        "token_g_deny_only": g_deny_only & caller_slots,
        "token_g_owner": g_owner & caller_slots,
        "token_g_logon": logon_slot,
        "token_logon_sid": logon,
        "token_restricted": restricted,
        "token_rsids": ite(restricted, r_mask, BV(0, D.RSID_W)),
        "token_write_restricted": write_restricted,
        "token_primary": primary, "token_level": level,
        "token_integrity": integrity, "token_policy": policy,
        "token_privs_present": privs_present,
        "token_privs_enabled": privs_enabled & privs_present,
        "token_privs_default": privs_enabled & privs_present,
        "token_privs_used": BV(0, D.PRIV_W),
        "token_elevation": D.ELEV_DEFAULT,
        "token_owner_index": owner_index, "token_group_index": group_index,
        "token_default_dacl": default_dacl,
        "token_session": session,
        "token_modified_id": BV(0, D.ID_W),
        "token_scope": scope,
        "token_confined": confined,
        "token_conf_sid": ite(confined, conf_sid, null),
        "token_caps": c_mask,
        "token_conf_exempt": conf_exempt,
        "token_isolation": isolation,
    }
    for i in range(D.GROUP_SLOTS):
        caller_sid = groups[i] if i < CALLER_GROUPS else null
        values[f"token_group_sid{i}"] = ite(in_req(i), caller_sid, ite(eq(i, group_count), logon, null))
    for i, r in enumerate(rsids):
        values[f"token_rsid{i}"] = r
    for i, c in enumerate(caps):
        values[f"token_cap{i}"] = c
    creator = s.token_user[real_token(s, th)]
    values.update(sd_overrides("token_sd", default_token_sd(s, creator, user)))
    write_new_token(st, new_token, None, values)
    open_fd(st, p, fd, new_token, D.TOKEN_ALL_ACCESS)
    return st.finish(fd=fd, token=new_token)


# ------------------------------------------------------------------ DuplicateToken
@rule("ioctl_duplicate", family="creation", sections=("§4.4", "§4.8", "§9.3", "§13.2", "Appendix A §2"),
      clauses=("CREATE-17", "CREATE-18", "CREATE-19", "CREATE-20", "CREATE-21", "CREATE-22", "CREATE-23",
               "IOCTL-16", "IOCTL-17", "IOCTL-18", "IOCTL-19", "IOCTL-20", "IMP-25", "IMP-26",
               "SESS-17", "IOCTL-02"),
      args=(Arg("fd", HANDLE, doc="the source token fd"),
            Arg("primary", BOOL, doc="target token_type == Primary"),
            Arg("level", LEVEL, fmt="level", doc="target impersonation level (ignored for Primary)"),
            Arg("access_mask", MASK, fmt="rights", doc="desired access for the new handle"),
            Arg("new_token", TOKEN, fresh=True),
            Arg("new_fd", HANDLE, fresh=True)))
def ioctl_duplicate(st: Step, fd: Any, primary: Any, level: Any, access_mask: Any, new_token: Any,
                    new_fd: Any) -> Outcome:
    """KACS_IOC_DUPLICATE (§4.4 DuplicateToken, §13.2): an open token fd (EBADF)
    with TOKEN_DUPLICATE cached (EACCES); an Impersonation-to-Impersonation
    duplicate may not raise the level (EINVAL, CREATE-20).  The copy keeps
    every field, including used privileges (CREATE-22), except: new id,
    modified_id 0 (DECISIONS.md), elevation Default, a new default SD whose
    creator is the caller's primary-token user, the requested type, and level
    Anonymous for Primary targets (CREATE-19).  An Impersonation target at
    Anonymous level is stripped to the Anonymous identity (IOCTL-19, §9.3).
    The desired mask is then checked with the caller's effective token against
    the new token's SD (EACCES, and no token is created; IOCTL-20)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    assume_fresh_fd(st, p, new_fd)
    st.assume(not_(s.token_alive[new_token]))
    src = s.fd_token[p, fd]
    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_DUPLICATE), D.EACCES)
    st.require(not_(and_(not_(primary), not_(s.token_primary[src]), ugt(level, s.token_level[src]))), D.EINVAL)

    new_level = ite(primary, D.ANONYMOUS, level)
    anon = and_(not_(primary), eq(level, D.ANONYMOUS))
    user = ite(anon, s.sid(D.SID_ANONYMOUS), s.token_user[src])
    creator = s.token_user[real_token(s, th)]
    sd = default_token_sd(s, creator, user)
    dec = access_check(s, effective_token(s, th), sd, access_mask, D.TOKEN_MAPPING)
    st.require(dec.allowed, D.EACCES)

    base = {**fresh_copy_overrides(s, creator, user), "token_primary": primary, "token_level": new_level}
    write_new_token(st, new_token, src, merge_when(s, src, base, anon, anonymous_overrides(s)))
    open_fd(st, p, new_fd, new_token, handle_mask(dec))
    return st.finish(fd=new_fd, token=new_token)


# ------------------------------------------------------------------ FilterToken
@rule("ioctl_restrict", family="creation", sections=("§4.4", "§4.8", "§10.4", "§13.2", "Appendix A §2"),
      clauses=("CREATE-24", "CREATE-25", "CREATE-26", "CREATE-27", "CREATE-28", "CREATE-29", "CREATE-30",
               "CREATE-31", "CREATE-32", "CREATE-33", "CREATE-34", "IOCTL-29", "IOCTL-30", "IOCTL-31",
               "SESS-17", "IOCTL-02"),
      args=(Arg("fd", HANDLE, doc="the source token fd"),
            Arg("deny_mask", GROUPS, fmt="slots", doc="source group slots to make deny-only"),
            Arg("remove_privs", PRIVS, fmt="privileges", doc="privs_to_delete"),
            *(Arg(f"r{i}", SID, doc=f"provided restricting SID {i}") for i in range(D.RSID_SLOTS)),
            Arg("r_mask", RSIDS, fmt="slots", doc="which restricting SID slots the request carries"),
            Arg("write_restricted", BOOL, doc="KACS_RESTRICT_WRITE_RESTRICTED"),
            Arg("payload_ok", BOOL, doc="the payload parses exactly: no duplicate deny index, no "
                "truncated or trailing bytes, reserved flag bits 0 (computed by the trace parser)"),
            Arg("new_token", TOKEN, fresh=True),
            Arg("new_fd", HANDLE, fresh=True)))
def ioctl_restrict(st: Step, fd: Any, deny_mask: Any, remove_privs: Any, r0: Any, r1: Any, r2: Any, r3: Any,
                   r_mask: Any, write_restricted: Any, payload_ok: Any, new_token: Any, new_fd: Any) -> Outcome:
    """KACS_IOC_RESTRICT (§4.4 FilterToken, §13.2): an open token fd (EBADF) with
    TOKEN_DUPLICATE cached (EACCES); all-or-nothing validation (EINVAL): an
    exactly-parsed payload (CREATE-29/30, IOCTL-30), deny indices naming groups
    of the source, well-formed restricting SIDs, and for a restricted source a
    non-empty intersection with the provided list (CREATE-31).

    The new token: deny-only groups get USE_FOR_DENY_ONLY and lose ENABLED and
    ENABLED_BY_DEFAULT (DECISIONS.md); removed privileges leave present, enabled
    and enabled-by-default; used := 0 (CREATE-32); restricting SIDs are the
    provided ones, intersected with the source's when it was restricted
    (CREATE-33); write_restricted is requested OR sticky and forces
    user_deny_only (CREATE-34); modified_id 0, elevation Default, a new default
    SD.  No desired-access check: the new fd gets the source fd's cached mask
    (IOCTL-31)."""
    s, th = st.pre, st.actor
    actor_alive(st)
    p = proc_of(s, th)
    assume_fresh_fd(st, p, new_fd)
    st.assume(not_(s.token_alive[new_token]))
    src = s.fd_token[p, fd]
    rsids = [r0, r1, r2, r3]
    src_restricted = s.token_restricted[src]
    bad = s.sid(D.MALFORMED_SID)

    def in_source(sid: Any) -> Any:
        return any_(and_(bit_of(s.token_rsids[src], j), eq(sid, s.rsid(src, j))) for j in range(D.RSID_SLOTS))

    kept = _slot_mask(D.RSID_W, lambda i: and_(bit_of(r_mask, i), implies(src_restricted, in_source(rsids[i]))))

    st.require(fd_ok(s, p, fd), D.EBADF)
    st.require(fd_allows(s, p, fd, D.TOKEN_DUPLICATE), D.EACCES)
    st.require(payload_ok, D.EINVAL)
    st.require(subset(deny_mask, s.token_groups[src]), D.EINVAL)
    st.require(and_(*(implies(bit_of(r_mask, i), ne(r, bad)) for i, r in enumerate(rsids))), D.EINVAL)
    st.require(implies(src_restricted, ne(kept, 0)), D.EINVAL)

    new_wr = or_(write_restricted, s.token_write_restricted[src])
    creator = s.token_user[real_token(s, th)]
    values: dict[str, Any] = {
        **fresh_copy_overrides(s, creator, s.token_user[src]),
        "token_g_deny_only": s.token_g_deny_only[src] | deny_mask,
        "token_g_enabled": clear(s.token_g_enabled[src], deny_mask),
        "token_g_default": clear(s.token_g_default[src], deny_mask),
        "token_privs_present": clear(s.token_privs_present[src], remove_privs),
        "token_privs_enabled": clear(s.token_privs_enabled[src], remove_privs),
        "token_privs_default": clear(s.token_privs_default[src], remove_privs),
        "token_privs_used": BV(0, D.PRIV_W),
        "token_restricted": or_(src_restricted, ne(r_mask, 0)),
        "token_rsids": kept,
        "token_write_restricted": new_wr,
        "token_user_deny_only": or_(new_wr, s.token_user_deny_only[src]),
    }
    for i, r in enumerate(rsids):
        values[f"token_rsid{i}"] = r
    write_new_token(st, new_token, src, values)
    open_fd(st, p, new_fd, new_token, s.fd_mask[p, fd])
    return st.finish(fd=new_fd, token=new_token)


__all__ = ["kacs_create_token", "ioctl_duplicate", "ioctl_restrict"]
