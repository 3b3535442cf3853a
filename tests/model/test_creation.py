"""Token creation (§4.4, §13.1, §13.2): kacs_create_token, KACS_IOC_DUPLICATE
and KACS_IOC_RESTRICT.  Every success path and every errno on the standard
world, plus hypothesis checks of rule facts (a duplicate never raises an
impersonation level, a filter never adds privileges, restrictions or enabled
groups, CreateToken always appends exactly one logon SID)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from model import domain as D
from model.rules.creation import CALLER_GROUPS
from model.scenarios import ALICE, standard
from model.sim import ModelPreconditionError, Simulator
from model.world import logon_sid
from tests.scenario import standard_world

NEWUSER = "S-1-5-21-1-1-1-3000"
NULL = D.SID_NULL
CREATE_TOKEN = D.SE_CREATE_TOKEN
NOTIFY = D.SE_CHANGE_NOTIFY
DUP_Q = D.TOKEN_DUPLICATE | D.TOKEN_QUERY


def ids(w, sort, *names):
    out = tuple(w.names[sort][n] for n in names)
    return out if len(out) > 1 else out[0]


def ret_fd(sim, rec):
    return sim.state.value("thread_proc", rec.actor), rec.outcome.ret["fd"]


def token_fields(state, tok):
    from model.rules.common import TOKEN_FIELDS

    return {f: state.value(f, tok) for f in TOKEN_FIELDS}


# ====================================================================== kacs_create_token
def create_args(w, **over):
    """A valid request: user NEWUSER in alice's session with groups Users,
    Everyone (OWNER), and SeChangeNotifyPrivilege enabled."""
    a = dict(user=NEWUSER, **{f"g{i}": NULL for i in range(CALLER_GROUPS)}, group_count=2,
             g_enabled=0b11, g_default=0b11, g_mandatory=0b01, g_owner=0b10, g_deny_only=0,
             privs_present=int(NOTIFY), privs_enabled=int(NOTIFY), owner_index=0, group_index=0,
             default_dacl=0, integrity=int(D.IL_MEDIUM), policy=1, primary=True, level=0,
             session=ids(w, "Session", "alice-session"), restricted=False,
             **{f"r{i}": NULL for i in range(D.RSID_SLOTS)}, r_mask=0, write_restricted=False,
             user_deny_only=False, confined=False, conf_sid=NULL, c0=NULL, c1=NULL, c_mask=0,
             conf_exempt=False, isolation=False, elevation_field=0, scope=0)
    a["g0"], a["g1"] = D.SID_USERS, D.SID_EVERYONE
    a.update(over)
    return a


def test_create_token_by_system_succeeds_create04(world, sim):
    """§4.4 CreateToken, CREATE-03/04/05/16: init (SYSTEM, SeCreateTokenPrivilege)
    mints a token: caller groups as given, the session's logon SID appended
    after them with MANDATORY|ENABLED|ENABLED_BY_DEFAULT|LOGON_ID and nothing
    else added; modified_id 0, elevation Default, enabled-by-default =
    enabled, used 0; default SD created by SYSTEM; the fd caches TOKEN_ALL_ACCESS."""
    before_id = sim.state.value("next_token_id")
    rec = sim.call("kacs_create_token", "init", **create_args(world))
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    lsid = s.value("sess_logon_sid", ids(world, "Session", "alice-session"))
    assert s.value("token_alive", t) and s.value("token_id", t) == before_id
    assert [s.value(f"token_group_sid{i}", t) for i in range(4)] == [D.SID_USERS, D.SID_EVERYONE, lsid, NULL]
    assert s.value("token_groups", t) == 0b111
    assert s.value("token_g_logon", t) == 0b100
    assert s.value("token_g_enabled", t) == 0b111 and s.value("token_g_default", t) == 0b111
    assert s.value("token_g_mandatory", t) == 0b101 and s.value("token_g_owner", t) == 0b010
    assert s.value("token_logon_sid", t) == lsid
    assert s.value("token_user", t) == NEWUSER and s.value("token_primary", t)
    assert s.value("token_modified_id", t) == 0 and s.value("token_elevation", t) == D.ELEV_DEFAULT
    assert s.value("token_privs_default", t) == NOTIFY and s.value("token_privs_used", t) == 0
    assert s.value("token_sd_owner", t) == D.SID_SYSTEM
    assert s.value("fd_mask", ret_fd(sim, rec)) == D.TOKEN_ALL_ACCESS
    assert s.value("fd_cloexec", ret_fd(sim, rec))
    assert s.value("sess_had_token", ids(world, "Session", "alice-session"))


def test_create_token_without_privilege_eperm_create01(world, sim):
    """§4.4 validation 1, CREATE-01: alice's thread lacks SeCreateTokenPrivilege: EPERM,
    and the first failing guard decides (a malformed SID too still gives EPERM)."""
    before = sim.state.value("next_token_id")
    assert sim.call("kacs_create_token", "sh1", **create_args(world)).errno == D.EPERM
    assert sim.call("kacs_create_token", "sh1", **create_args(world, user=D.MALFORMED_SID)).errno == D.EPERM
    assert sim.state.value("next_token_id") == before


def test_create_token_marks_privilege_used_priv03(world, sim):
    """§7.1, PRIV-03: SeCreateTokenPrivilege is marked used once its gate accepts,
    even when a later validation fails."""
    system = ids(world, "Token", "system")
    assert sim.state.value("token_privs_used", system) & CREATE_TOKEN == 0
    rec = sim.call("kacs_create_token", "init", **create_args(world, elevation_field=1))
    assert rec.errno == D.EINVAL
    assert sim.state.value("token_privs_used", system) & CREATE_TOKEN


def test_create_token_privilege_must_be_enabled_priv05(world):
    """§7.1, PRIV-05: a present but disabled SeCreateTokenPrivilege does not pass: EPERM."""
    system = ids(world, "Token", "system")
    world.state.set("token_privs_enabled", system,
                    world.state.value("token_privs_enabled", system) & ~int(CREATE_TOKEN))
    assert Simulator(world).call("kacs_create_token", "init", **create_args(world)).errno == D.EPERM


@pytest.mark.parametrize("over", [
    {"user": D.MALFORMED_SID},
    {"g1": D.MALFORMED_SID},
    {"restricted": True, "r_mask": 0b10, "r1": D.MALFORMED_SID},
    {"confined": True, "conf_sid": D.MALFORMED_SID},
    {"confined": True, "conf_sid": "S-1-15-2-7", "c_mask": 0b01, "c0": D.MALFORMED_SID},
])
def test_create_token_malformed_sid_einval_create08(world, sim, over):
    """§4.4 validation 2, CREATE-08: any malformed SID in the request: EINVAL."""
    assert sim.call("kacs_create_token", "init", **create_args(world, **over)).errno == D.EINVAL


def test_create_token_unused_slots_are_not_validated(world, sim):
    """§4.4 validation 2 applies to the request's SIDs only: slots beyond
    groups_count / outside the restricting-SID list are not part of it."""
    over = {"g2": D.MALFORMED_SID, "r3": D.MALFORMED_SID, "restricted": True, "r_mask": 0b1, "r0": D.SID_USERS}
    assert sim.call("kacs_create_token", "init", **create_args(world, **over)).errno == 0


@pytest.mark.parametrize("owner_index,errno", [(0, 0), (2, 0), (1, D.EINVAL), (3, D.EINVAL), (255, D.EINVAL)])
def test_create_token_owner_index_create09(world, sim, owner_index, errno):
    """§4.4 validation 3, CREATE-07/09: owner index 0 (user) or a caller group with
    SE_GROUP_OWNER (index 2 = Everyone here); group 1 lacks OWNER, index 3 would be
    the injected logon SID (not addressable): EINVAL."""
    rec = sim.call("kacs_create_token", "init", **create_args(world, owner_index=owner_index))
    assert rec.errno == errno
    if errno == 0:
        assert sim.state.value("token_owner_index", rec.outcome.ret["token"]) == owner_index


@pytest.mark.parametrize("group_index,errno", [(0, 0), (1, 0), (2, 0), (3, D.EINVAL)])
def test_create_token_primary_group_index_create09(world, sim, group_index, errno):
    """§4.4 validation 4, CREATE-07/09: primary group index 0..N over user + caller
    groups; N+1 (the logon SID) is invalid: EINVAL."""
    assert sim.call("kacs_create_token", "init", **create_args(world, group_index=group_index)).errno == errno


def test_create_token_missing_session_enoent_create02(world, sim):
    """§4.4 validation 5, CREATE-02: auth_id naming no LogonSession: ENOENT (DECISIONS.md)."""
    assert sim.call("kacs_create_token", "init", **create_args(world, session=77)).errno == D.ENOENT


def test_create_token_dead_session_einval_sess15(world):
    """§4.7 Effects, §13.1, SESS-15: a dead LogonSession is rejected: EINVAL (DECISIONS.md)."""
    world.state.set("sess_dead", ids(world, "Session", "alice-session"), True)
    assert Simulator(world).call("kacs_create_token", "init", **create_args(world)).errno == D.EINVAL


def test_create_token_logon_sid_in_groups_einval_create06(world, sim):
    """§4.4, CREATE-06: callers must not supply the logon SID: EINVAL."""
    lsid = logon_sid(sim.state.value("sess_luid", ids(world, "Session", "alice-session")))
    assert sim.call("kacs_create_token", "init", **create_args(world, g1=lsid)).errno == D.EINVAL
    # another session's logon SID is just a SID
    other = sim.state.value("sess_logon_sid", ids(world, "Session", "bob-session"))
    assert sim.call("kacs_create_token", "init", **create_args(world, g1=other)).errno == 0


@pytest.mark.parametrize("over,errno", [
    ({"primary": True, "level": int(D.IMPERSONATION)}, D.EINVAL),        # 6, CREATE-10
    ({"primary": False, "level": int(D.DELEGATION)}, 0),
    ({"write_restricted": True}, D.EINVAL),                               # 7, CREATE-11
    ({"write_restricted": True, "user_deny_only": True}, 0),
    ({"isolation": True}, D.EINVAL),                                      # 8, CREATE-12
    ({"isolation": True, "confined": True, "conf_sid": "S-1-15-2-7"}, 0),
    ({"elevation_field": 1}, D.EINVAL),                                   # 9, CREATE-13
    ({"elevation_field": 3}, D.EINVAL),
])
def test_create_token_structural_validations_create10_13(world, sim, over, errno):
    """§4.4 validations 6-9, CREATE-10/11/12/13: Primary => Anonymous level;
    write_restricted => user_deny_only; isolation_boundary => confinement SID;
    the wire elevation field is 0.  Violations: EINVAL."""
    assert sim.call("kacs_create_token", "init", **create_args(world, **over)).errno == errno


def test_create_token_full_model_group_count_create14(world, sim):
    """§4.4 validation 10, CREATE-14: 7 caller groups (the model's bound) plus the
    logon SID fill the 8 slots, logon SID last; more than 7 is outside the model
    (DECISIONS.md slots), so the step does not exist."""
    sids = [f"S-1-5-32-{550 + i}" for i in range(CALLER_GROUPS)]
    args = create_args(world, group_count=CALLER_GROUPS, g_enabled=0x7F, g_default=0x7F, g_owner=0,
                       **{f"g{i}": sid for i, sid in enumerate(sids)})
    rec = sim.call("kacs_create_token", "init", **args)
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    assert s.value("token_groups", t) == 0xFF and s.value("token_g_logon", t) == 0x80
    assert s.value("token_group_sid7", t) == s.value("token_logon_sid", t)
    with pytest.raises(ModelPreconditionError):
        sim.call("kacs_create_token", "init", **create_args(world, group_count=8))


def test_create_token_attributes_only_for_requested_groups(world, sim):
    """§4.4: attribute bits beyond groups_count name no group and are dropped;
    the logon slot never gets OWNER or deny-only (CREATE-05)."""
    rec = sim.call("kacs_create_token", "init",
                   **create_args(world, g_enabled=0xFF, g_owner=0xFE, g_deny_only=0xFC, g_mandatory=0xFF))
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    assert s.value("token_g_owner", t) == 0b010 and s.value("token_g_deny_only", t) == 0
    assert s.value("token_g_mandatory", t) == 0b111 and s.value("token_g_enabled", t) == 0b111


def test_create_token_enabled_privileges_must_be_present(world, sim):
    """§4.4 / Appendix A §5 privs_enabled (DECISIONS.md): enabled bits for absent
    privileges are dropped (enabled and enabled-by-default ⊆ present)."""
    rec = sim.call("kacs_create_token", "init",
                   **create_args(world, privs_present=int(NOTIFY), privs_enabled=int(NOTIFY | D.SE_TCB)))
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    assert s.value("token_privs_enabled", t) == NOTIFY and s.value("token_privs_default", t) == NOTIFY


def test_create_token_restricted_and_confined_fields(world, sim):
    """§4.4 caller-supplied fields: restricting SIDs, write-restricted, confinement."""
    rec = sim.call("kacs_create_token", "init", **create_args(
        world, restricted=True, r0=D.SID_USERS, r1=D.SID_EVERYONE, r_mask=0b11, write_restricted=True,
        user_deny_only=True, confined=True, conf_sid="S-1-15-2-7", c0=D.SID_ALL_APP_PACKAGES, c_mask=0b1,
        primary=False, level=int(D.IMPERSONATION), scope=5))
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    assert s.value("token_restricted", t) and s.value("token_rsids", t) == 0b11
    assert s.value("token_write_restricted", t) and s.value("token_user_deny_only", t)
    assert s.value("token_confined", t) and s.value("token_conf_sid", t) == "S-1-15-2-7"
    assert s.value("token_caps", t) == 0b1 and s.value("token_cap0", t) == D.SID_ALL_APP_PACKAGES
    assert not s.value("token_primary", t) and s.value("token_level", t) == D.IMPERSONATION
    assert s.value("token_scope", t) == 5


def test_create_token_creator_is_callers_primary_user(world):
    """§4.8 Default token SD: the creator is the creating process's user, even
    while the calling thread impersonates (here init impersonating a
    SeCreateTokenPrivilege-holding token of another user)."""
    world.add_token("minter", {"user": NEWUSER, "session": "system", "type": "impersonation",
                               "level": "Impersonation", "privileges": ["SeCreateTokenPrivilege"]})
    th, tok = ids(world, "Thread", "init"), ids(world, "Token", "minter")
    world.state.set("thread_impersonating", th, True)
    world.state.set("thread_imp_token", th, tok)
    world.state.set("thread_imp_level", th, int(D.IMPERSONATION))
    sim = Simulator(world)
    rec = sim.call("kacs_create_token", "init", **create_args(world, user=ALICE))
    assert rec.errno == 0
    assert sim.state.value("token_sd_owner", rec.outcome.ret["token"]) == D.SID_SYSTEM
    assert sim.state.value("token_privs_used", tok) & CREATE_TOKEN  # the gate read the effective token


# ====================================================================== KACS_IOC_DUPLICATE
def dup_world(mask=DUP_Q, source="alice", **token_spec):
    """The standard world; if ``token_spec`` is given, a token "src" made from it.
    ``source`` is open in alice's shell with ``mask``."""
    w = standard_world()
    if token_spec:
        w.add_token("src", {"user": "alice", "session": "alice-session", "groups": ["Users", "Everyone"],
                            **token_spec})
        source = "src"
    fd = w.add_fd(ids(w, "Process", "shell"), ids(w, "Token", source), int(mask))
    return w, fd


def test_duplicate_primary_to_impersonation_create22(world):
    """§4.4 DuplicateToken, CREATE-18/21/22: a primary source may become an
    impersonation token at any level; every field is copied (including used
    privileges) except id, modified_id 0, elevation Default and a new default
    SD created by the caller's user; the fd caches the desired mask (IOCTL-20)."""
    w, fd = dup_world()
    alice = ids(w, "Token", "alice")
    w.state.set("token_privs_used", alice, int(NOTIFY))
    w.state.set("token_modified_id", alice, 9)
    w.state.set("token_elevation", alice, int(D.ELEV_FULL))
    sim = Simulator(w)
    src_before = token_fields(sim.state, alice)
    rec = sim.call("ioctl_duplicate", "sh1", fd=fd, primary=False, level=int(D.DELEGATION),
                   access_mask=D.TOKEN_QUERY)
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    new = token_fields(s, t)
    assert not new["token_primary"] and new["token_level"] == D.DELEGATION
    assert new["token_modified_id"] == 0 and new["token_elevation"] == D.ELEV_DEFAULT
    assert new["token_privs_used"] == NOTIFY
    assert new["token_id"] != src_before["token_id"]
    assert new["token_sd_owner"] == ALICE and not new["token_sd_ace1_present"]  # creator == user
    same = {k for k in new if not k.startswith("token_sd_")} - {
        "token_id", "token_primary", "token_level", "token_modified_id", "token_elevation"}
    assert {k: new[k] for k in same} == {k: src_before[k] for k in same}
    assert token_fields(s, alice) == src_before  # CREATE-23: source unchanged
    assert s.value("fd_mask", ret_fd(sim, rec)) == D.TOKEN_QUERY and s.value("fd_cloexec", ret_fd(sim, rec))


def test_duplicate_to_primary_gets_anonymous_level_create19():
    """§4.4, CREATE-19/IOCTL-17: a Primary target always has level Anonymous,
    whatever level is passed, and keeps the source identity."""
    w, fd = dup_world(type="impersonation", level="Identification")
    sim = Simulator(w)
    rec = sim.call("ioctl_duplicate", "sh1", fd=fd, primary=True, level=int(D.DELEGATION),
                   access_mask=D.TOKEN_QUERY)
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    assert s.value("token_primary", t) and s.value("token_level", t) == D.ANONYMOUS
    assert s.value("token_user", t) == ALICE


@pytest.mark.parametrize("src_level,target,errno", [
    ("Identification", D.IMPERSONATION, D.EINVAL),
    ("Identification", D.DELEGATION, D.EINVAL),
    ("Impersonation", D.DELEGATION, D.EINVAL),
    ("Identification", D.IDENTIFICATION, 0),
    ("Delegation", D.IMPERSONATION, 0),
    ("Impersonation", D.ANONYMOUS, 0),
])
def test_duplicate_impersonation_level_escalation_create20(src_level, target, errno):
    """§4.4, CREATE-20/IOCTL-17: impersonation -> impersonation may not raise the
    level (EINVAL, no token created); equal or lower is fine."""
    w, fd = dup_world(type="impersonation", level=src_level)
    sim = Simulator(w)
    before = sim.state.value("next_token_id")
    rec = sim.call("ioctl_duplicate", "sh1", fd=fd, primary=False, level=int(target), access_mask=D.TOKEN_QUERY)
    assert rec.errno == errno
    if errno:
        assert sim.state.value("next_token_id") == before
    else:
        assert sim.state.value("token_level", rec.outcome.ret["token"]) == target


@pytest.mark.parametrize("everyone", [False, True])
def test_duplicate_to_anonymous_strips_identity_ioctl19(everyone):
    """§13.2 KACS_IOC_DUPLICATE, §9.3, IOCTL-19/IMP-25/IMP-26: an Anonymous-level
    duplicate is S-1-5-7 with no privileges, Untrusted, no groups but Everyone
    under the policy, no restrictions, in the ANONYMOUS session."""
    w = standard(everyone)
    fd = w.add_fd(ids(w, "Process", "shell"), ids(w, "Token", "alice"), int(DUP_Q))
    sim = Simulator(w)
    rec = sim.call("ioctl_duplicate", "sh1", fd=fd, primary=False, level=int(D.ANONYMOUS),
                   access_mask=D.TOKEN_QUERY | D.TOKEN_IMPERSONATE)
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    assert s.value("token_user", t) == D.SID_ANONYMOUS
    assert s.value("token_groups", t) == (1 if everyone else 0)
    assert s.value("token_privs_present", t) == 0 and s.value("token_privs_used", t) == 0
    assert s.value("token_integrity", t) == D.IL_UNTRUSTED
    assert s.value("token_session", t) == s.value("anon_session")
    assert not s.value("token_restricted", t)
    # alice created it and is not its user: the creator ACE gives her TOKEN_IMPERSONATE
    assert s.value("token_sd_owner", t) == ALICE and s.value("token_sd_ace1_sid", t) == ALICE


def test_duplicate_without_duplicate_right_eacces_create17():
    """§4.4, CREATE-17/IOCTL-16: the source handle must carry TOKEN_DUPLICATE: EACCES."""
    w, fd = dup_world(mask=D.TOKEN_QUERY)
    rec = Simulator(w).call("ioctl_duplicate", "sh1", fd=fd, primary=True, level=0, access_mask=D.TOKEN_QUERY)
    assert rec.errno == D.EACCES


def test_duplicate_bad_fd_ebadf(world, sim):
    """§13.2: an fd that is not an open token fd: EBADF."""
    rec = sim.call("ioctl_duplicate", "sh1", fd=7, primary=True, level=0, access_mask=D.TOKEN_QUERY)
    assert rec.errno == D.EBADF


def test_duplicate_desired_mask_checked_on_new_sd_ioctl20():
    """§13.2, IOCTL-20, §4.8 RIGHTS-13/15: alice duplicating her own token is both
    creator and user, so the new SD has no creator ACE: TOKEN_IMPERSONATE on the
    new handle is refused (EACCES) and no token is created."""
    w, fd = dup_world()
    sim = Simulator(w)
    before_tokens = set(sim.state.alive("Token"))
    before_id = sim.state.value("next_token_id")
    rec = sim.call("ioctl_duplicate", "sh1", fd=fd, primary=False, level=int(D.IMPERSONATION),
                   access_mask=D.TOKEN_IMPERSONATE)
    assert rec.errno == D.EACCES
    assert set(sim.state.alive("Token")) == before_tokens and sim.state.value("next_token_id") == before_id


def test_duplicate_by_other_creator_gets_all_access_ioctl20():
    """§13.2, IOCTL-20: SYSTEM duplicating alice's token is the creator, so it may
    ask for TOKEN_ALL_ACCESS on the copy; the copy's SD owner is SYSTEM."""
    w = standard_world()
    init = ids(w, "Process", "init")
    fd = w.add_fd(init, ids(w, "Token", "alice"), int(D.TOKEN_DUPLICATE))
    sim = Simulator(w)
    rec = sim.call("ioctl_duplicate", "init", fd=fd, primary=True, level=0, access_mask=D.TOKEN_ALL_ACCESS)
    assert rec.errno == 0
    assert sim.state.value("fd_mask", ret_fd(sim, rec)) == D.TOKEN_ALL_ACCESS
    assert sim.state.value("token_sd_owner", rec.outcome.ret["token"]) == D.SID_SYSTEM


def test_duplicate_access_check_uses_effective_token_ioctl20():
    """§13.2, IOCTL-20: the subject is the caller's effective token: a thread
    impersonating at Identification level cannot pass the desired-mask check."""
    w, fd = dup_world()
    w.add_token("alice_id", {"user": "alice", "session": "alice-session", "type": "impersonation",
                             "level": "Identification", "groups": ["Users"]})
    th = ids(w, "Thread", "sh1")
    w.state.set("thread_impersonating", th, True)
    w.state.set("thread_imp_token", th, ids(w, "Token", "alice_id"))
    w.state.set("thread_imp_level", th, int(D.IDENTIFICATION))
    rec = Simulator(w).call("ioctl_duplicate", "sh1", fd=fd, primary=True, level=0, access_mask=D.TOKEN_QUERY)
    assert rec.errno == D.EACCES


def test_duplicate_works_on_dead_session_token_sess17():
    """§4.7 Effects, SESS-17: duplicating a token whose LogonSession is dead works
    (the desired-mask check evaluates the caller, SYSTEM, not the source)."""
    w = standard_world()
    w.state.set("sess_dead", ids(w, "Session", "bob-session"), True)
    fd = w.add_fd(ids(w, "Process", "init"), ids(w, "Token", "bob"), int(D.TOKEN_DUPLICATE))
    rec = Simulator(w).call("ioctl_duplicate", "init", fd=fd, primary=True, level=0, access_mask=D.TOKEN_QUERY)
    assert rec.errno == 0


# ====================================================================== KACS_IOC_RESTRICT
def restrict_args(**over):
    a = dict(deny_mask=0, remove_privs=0, **{f"r{i}": NULL for i in range(D.RSID_SLOTS)}, r_mask=0,
             write_restricted=False, payload_ok=True)
    a.update(over)
    return a


def test_restrict_deny_only_and_remove_privileges_create25_26(world):
    """§4.4 FilterToken, CREATE-25/26/32: the marked group gets USE_FOR_DENY_ONLY
    and loses ENABLED/ENABLED_BY_DEFAULT (DECISIONS.md), SIDs are neither added
    nor removed; removed privileges leave present/enabled/default; used := 0;
    modified_id 0, elevation Default, new SD; the source is unchanged."""
    w, fd = dup_world(mask=DUP_Q | D.TOKEN_IMPERSONATE)
    alice = ids(w, "Token", "alice")
    w.state.set("token_privs_used", alice, int(NOTIFY))
    w.state.set("token_modified_id", alice, 4)
    sim = Simulator(w)
    src = token_fields(sim.state, alice)
    rec = sim.call("ioctl_restrict", "sh1", fd=fd, **restrict_args(deny_mask=0b10, remove_privs=int(NOTIFY)))
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    new = token_fields(s, t)
    assert new["token_g_deny_only"] == 0b10
    assert new["token_g_enabled"] == src["token_g_enabled"] & ~0b10
    assert new["token_g_default"] == src["token_g_default"] & ~0b10
    assert new["token_groups"] == src["token_groups"]
    assert all(new[f"token_group_sid{i}"] == src[f"token_group_sid{i}"] for i in range(D.GROUP_SLOTS))
    assert new["token_privs_present"] == new["token_privs_enabled"] == new["token_privs_default"] == 0
    assert new["token_privs_used"] == 0
    assert new["token_modified_id"] == 0 and new["token_elevation"] == D.ELEV_DEFAULT
    assert not new["token_restricted"] and new["token_primary"] and new["token_user"] == ALICE
    assert new["token_sd_owner"] == ALICE
    assert token_fields(s, alice) == src
    # IOCTL-31: same cached mask as the source handle, O_CLOEXEC
    assert s.value("fd_mask", ret_fd(sim, rec)) == DUP_Q | D.TOKEN_IMPERSONATE
    assert s.value("fd_cloexec", ret_fd(sim, rec))


def test_restrict_adds_restricting_sids_create27_33():
    """§4.4, CREATE-27/33: on an unrestricted source the provided list becomes
    the restricting SIDs."""
    w, fd = dup_world()
    sim = Simulator(w)
    rec = sim.call("ioctl_restrict", "sh1", fd=fd,
                   **restrict_args(r0=D.SID_USERS, r2=D.SID_EVERYONE, r_mask=0b101))
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    assert s.value("token_restricted", t) and s.value("token_rsids", t) == 0b101
    assert s.value("token_rsid0", t) == D.SID_USERS and s.value("token_rsid2", t) == D.SID_EVERYONE


def test_restrict_intersects_with_restricted_source_create33():
    """§4.4, CREATE-33: on a restricted source the new list is the intersection
    of the source's list and the provided one."""
    w, fd = dup_world(restricted_sids=["Users", "Everyone"])
    sim = Simulator(w)
    rec = sim.call("ioctl_restrict", "sh1", fd=fd,
                   **restrict_args(r0=D.SID_ADMINISTRATORS, r1=D.SID_EVERYONE, r_mask=0b11))
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    assert s.value("token_restricted", t) and s.value("token_rsids", t) == 0b10
    assert s.value("token_rsid1", t) == D.SID_EVERYONE


@pytest.mark.parametrize("provided", [{"r0": D.SID_ADMINISTRATORS, "r_mask": 0b1}, {"r_mask": 0}])
def test_restrict_empty_intersection_einval_create31(provided):
    """§4.4, CREATE-31: restricted source and an empty intersection (disjoint or
    no provided list, DECISIONS.md): EINVAL and no token."""
    w, fd = dup_world(restricted_sids=["Users"])
    sim = Simulator(w)
    before = sim.state.value("next_token_id")
    assert sim.call("ioctl_restrict", "sh1", fd=fd, **restrict_args(**provided)).errno == D.EINVAL
    assert sim.state.value("next_token_id") == before


def test_restrict_write_restricted_forces_user_deny_only_create28():
    """§4.4, CREATE-28/34, IOCTL-31: write_restricted sets user_deny_only."""
    w, fd = dup_world()
    sim = Simulator(w)
    rec = sim.call("ioctl_restrict", "sh1", fd=fd,
                   **restrict_args(write_restricted=True, r0=D.SID_USERS, r_mask=0b1))
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    assert s.value("token_write_restricted", t) and s.value("token_user_deny_only", t)


def test_restrict_write_restricted_is_sticky_create34():
    """§4.4, CREATE-34: write_restricted = requested OR source's; user_deny_only follows."""
    w, fd = dup_world(restricted_sids=["Users"], write_restricted=True, user_deny_only=True)
    sim = Simulator(w)
    rec = sim.call("ioctl_restrict", "sh1", fd=fd, **restrict_args(r0=D.SID_USERS, r_mask=0b1))
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    assert s.value("token_write_restricted", t) and s.value("token_user_deny_only", t)


def test_restrict_user_deny_only_copied_without_write_restricted_create34():
    """§4.4, CREATE-34: without write-restricted mode user_deny_only is copied."""
    w, fd = dup_world(user_deny_only=True)
    sim = Simulator(w)
    rec = sim.call("ioctl_restrict", "sh1", fd=fd, **restrict_args())
    assert rec.errno == 0 and sim.state.value("token_user_deny_only", rec.outcome.ret["token"])
    w2, fd2 = dup_world()
    sim2 = Simulator(w2)
    rec2 = sim2.call("ioctl_restrict", "sh1", fd=fd2, **restrict_args())
    assert rec2.errno == 0 and not sim2.state.value("token_user_deny_only", rec2.outcome.ret["token"])


@pytest.mark.parametrize("over", [
    {"payload_ok": False},                                     # CREATE-29/30, IOCTL-30
    {"deny_mask": 0b1000_0000},                                # slot 7 holds no group of alice's token
    {"r1": D.MALFORMED_SID, "r_mask": 0b10},                   # malformed restricting SID
])
def test_restrict_invalid_input_einval_create29_30(over):
    """§4.4, §13.2, CREATE-29/30, IOCTL-30: bad payload, an out-of-range deny
    index or a malformed restricting SID: EINVAL and no token."""
    w, fd = dup_world()
    sim = Simulator(w)
    before = set(sim.state.alive("Token"))
    assert sim.call("ioctl_restrict", "sh1", fd=fd, **restrict_args(**over)).errno == D.EINVAL
    assert set(sim.state.alive("Token")) == before


def test_restrict_unprovided_malformed_slot_ignored():
    """§13.2: a slot the request does not carry (outside r_mask) is not an input."""
    w, fd = dup_world()
    rec = Simulator(w).call("ioctl_restrict", "sh1", fd=fd, **restrict_args(r3=D.MALFORMED_SID))
    assert rec.errno == 0


def test_restrict_without_duplicate_right_eacces_create24():
    """§4.4, CREATE-24: TOKEN_DUPLICATE on the source handle is required: EACCES."""
    w, fd = dup_world(mask=D.TOKEN_QUERY | D.TOKEN_IMPERSONATE)
    assert Simulator(w).call("ioctl_restrict", "sh1", fd=fd, **restrict_args()).errno == D.EACCES


def test_restrict_bad_fd_ebadf(world, sim):
    """§13.2: an fd that is not an open token fd: EBADF (before payload checks)."""
    assert sim.call("ioctl_restrict", "sh1", fd=9, **restrict_args(payload_ok=False)).errno == D.EBADF


# ====================================================================== hypothesis: rule facts
levels = hs.integers(0, 3)


@given(src_level=hs.integers(1, 3), primary_src=hs.booleans(), primary=hs.booleans(), level=levels)
def test_duplicate_never_raises_impersonation_level_create20(src_level, primary_src, primary, level):
    """§4.4, CREATE-20/19: an impersonation source never yields an impersonation
    duplicate above its level (EINVAL exactly then); Primary targets are Anonymous."""
    spec = {"type": "primary"} if primary_src else {"type": "impersonation", "level": src_level}
    w, fd = dup_world(**spec)
    sim = Simulator(w)
    rec = sim.call("ioctl_duplicate", "sh1", fd=fd, primary=primary, level=level, access_mask=D.TOKEN_QUERY)
    escalation = not primary_src and not primary and level > src_level
    assert (rec.errno == D.EINVAL) == escalation
    if rec.errno == 0:
        t = rec.outcome.ret["token"]
        new_level = sim.state.value("token_level", t)
        if primary:
            assert new_level == 0
        elif not primary_src:
            assert new_level <= src_level


rsid_choice = hs.sampled_from([D.SID_USERS, D.SID_EVERYONE, D.SID_ADMINISTRATORS, D.SID_SYSTEM])


@given(deny=hs.integers(0, 255), remove=hs.integers(0, 2**64 - 1), rs=hs.lists(rsid_choice, min_size=4, max_size=4),
       r_mask=hs.integers(0, 15), wr=hs.booleans(), restricted_src=hs.booleans())
def test_restrict_never_adds_privileges_or_access_create25(deny, remove, rs, r_mask, wr, restricted_src):
    """§4.4 FilterToken, CREATE-25/26/31/33/34: a filtered token never has a
    privilege or enabled group its source lacks, never drops a restriction,
    only keeps restricting SIDs the source had (if restricted), and never
    clears write-restricted or user_deny_only."""
    spec = {"privileges": {"SeChangeNotifyPrivilege": ["enabled", "default", "used"],
                           "SeShutdownPrivilege": ["default"], "SeBackupPrivilege": ["enabled"]}}
    if restricted_src:
        spec["restricted_sids"] = ["Users", "Everyone"]
    w, fd = dup_world(**spec)
    sim = Simulator(w)
    src_tok = sim.state.value("fd_token", (ids(w, "Process", "shell"), fd))
    src = token_fields(sim.state, src_tok)
    rec = sim.call("ioctl_restrict", "sh1", fd=fd, deny_mask=deny, remove_privs=remove,
                   **{f"r{i}": rs[i] for i in range(4)}, r_mask=r_mask, write_restricted=wr, payload_ok=True)
    if rec.errno:
        assert rec.errno == D.EINVAL
        return
    new = token_fields(sim.state, rec.outcome.ret["token"])
    for f in ("token_privs_present", "token_privs_enabled", "token_privs_default", "token_g_enabled",
              "token_g_default"):
        assert new[f] & ~src[f] == 0, f
    assert new["token_privs_present"] & remove == 0
    assert new["token_g_enabled"] & new["token_g_deny_only"] == 0
    assert new["token_restricted"] or not src["token_restricted"]
    if src["token_restricted"]:
        src_sids = {src[f"token_rsid{j}"] for j in range(4) if src["token_rsids"] >> j & 1}
        assert {new[f"token_rsid{i}"] for i in range(4) if new["token_rsids"] >> i & 1} <= src_sids
    assert new["token_write_restricted"] >= src["token_write_restricted"]
    assert new["token_user_deny_only"] >= src["token_user_deny_only"]
    assert new["token_write_restricted"] <= new["token_user_deny_only"]


@given(count=hs.integers(0, CALLER_GROUPS), enabled=hs.integers(0, 255), owner=hs.integers(0, 255),
       deny=hs.integers(0, 255), mandatory=hs.integers(0, 255))
def test_create_token_appends_exactly_one_logon_sid_create05(count, enabled, owner, deny, mandatory):
    """§4.4, CREATE-03/05/07: for any group count and attributes, the token has
    the caller's groups in slots 0..count-1 and exactly one LOGON_ID group, the
    session's logon SID, in slot count, MANDATORY|ENABLED|ENABLED_BY_DEFAULT."""
    w = standard_world()
    sids = {f"g{i}": f"S-1-5-32-{560 + i}" for i in range(CALLER_GROUPS)}
    sim = Simulator(w)
    rec = sim.call("kacs_create_token", "init", **create_args(
        w, group_count=count, g_enabled=enabled, g_default=enabled, g_owner=owner, g_deny_only=deny,
        g_mandatory=mandatory, **sids))
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    bit = 1 << count
    assert s.value("token_groups", t) == (bit << 1) - 1
    assert s.value("token_g_logon", t) == bit
    assert s.value(f"token_group_sid{count}", t) == s.value("sess_logon_sid", ids(w, "Session", "alice-session"))
    for f in ("token_g_mandatory", "token_g_enabled", "token_g_default"):
        assert s.value(f, t) & bit
    assert not (s.value("token_g_owner", t) | s.value("token_g_deny_only", t)) & bit
    assert [s.value(f"token_group_sid{i}", t) for i in range(count)] == [sids[f"g{i}"] for i in range(count)]
