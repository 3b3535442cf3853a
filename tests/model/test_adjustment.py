"""Token adjustment (§4.5) and kacs_privilege_check (§7.1, Appendix A §1):
every success path and every errno of the adjustment rules on the standard
world, plus hypothesis checks of rule facts (privileges never grow, used is
monotonic, deny-only groups are never enabled)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from model import domain as D
from model.scenarios import ALICE
from model.sim import Simulator
from tests.scenario import standard_world

P = D.priv
SHUTDOWN, BACKUP, RESTORE, NOTIFY, DEBUG = (P("SeShutdownPrivilege"), P("SeBackupPrivilege"),
                                            P("SeRestorePrivilege"), P("SeChangeNotifyPrivilege"),
                                            P("SeDebugPrivilege"))
ADJ_ALL = D.TOKEN_ADJUST_PRIVILEGES | D.TOKEN_ADJUST_GROUPS | D.TOKEN_ADJUST_DEFAULT | D.TOKEN_QUERY

# slots of the "adm" token's groups (the logon SID is appended as slot 6)
G_USERS, G_ADMINS_DENY, G_OPTIONAL, G_EVERYONE_MAND, G_SELF, G_OWNERGRP, G_LOGON = range(7)

ADM_SPEC = {
    "user": "alice", "session": "alice-session", "integrity": "Medium",
    "groups": [
        {"sid": "Users", "attrs": ["ENABLED", "ENABLED_BY_DEFAULT"]},
        {"sid": "Administrators", "attrs": ["USE_FOR_DENY_ONLY", "ENABLED_BY_DEFAULT"]},
        {"sid": "S-1-5-32-555", "attrs": []},
        {"sid": "Everyone", "attrs": ["MANDATORY", "ENABLED", "ENABLED_BY_DEFAULT"]},
        {"sid": "alice", "attrs": ["ENABLED", "ENABLED_BY_DEFAULT"]},
        {"sid": "S-1-5-32-556", "attrs": ["OWNER"]},
    ],
    "privileges": {
        "SeChangeNotifyPrivilege": ["enabled", "default"],
        "SeShutdownPrivilege": [],
        "SeBackupPrivilege": ["default"],
        "SeRestorePrivilege": ["enabled", "used"],
    },
}


def adm_world(mask=ADJ_ALL):
    """The standard world plus alice's token "adm" (mixed group attributes and
    privilege states), open in alice's shell with ``mask`` on fd 3."""
    w = standard_world()
    tok = w.add_token("adm", ADM_SPEC)
    shell = w.names["Process"]["shell"]
    fd = w.add_fd(shell, tok, int(mask))
    assert fd == 3
    return w, tok


@pytest.fixture
def adm():
    w, tok = adm_world()
    return Simulator(w), tok


def v(sim, name, key=None):
    return sim.state.value(name, key)


def bits(*slots):
    return sum(1 << i for i in slots)


def privs_call(sim, enable=0, disable=0, remove=0, reset=False, entries_ok=True, fd=3, actor="sh1"):
    return sim.call("ioctl_adjust_privs", actor, fd=fd, enable=enable, disable=disable, remove=remove,
                    reset=reset, entries_ok=entries_ok)


def groups_call(sim, enable=0, disable=0, reset=False, entries_ok=True, fd=3, actor="sh1"):
    return sim.call("ioctl_adjust_groups", actor, fd=fd, enable=enable, disable=disable, reset=reset,
                    entries_ok=entries_ok)


def default_call(sim, fd=3, set_dacl=False, dacl=0, set_owner=False, owner_index=0, set_group=False,
                 group_index=0, actor="sh1"):
    return sim.call("ioctl_adjust_default", actor, fd=fd, set_dacl=set_dacl, dacl=dacl, set_owner=set_owner,
                    owner_index=owner_index, set_group=set_group, group_index=group_index)


# ====================================================================== AdjustPrivileges
def test_adjust_privs_enable_disable_ADJ04_IOCTL21(adm):
    """§4.5 AdjustPrivileges (ADJ-04, IOCTL-21): enable a present privilege,
    disable another; the previous enabled mask is returned (ADJ-10)."""
    sim, tok = adm
    before = v(sim, "token_privs_enabled", tok)
    rec = privs_call(sim, enable=SHUTDOWN, disable=NOTIFY)
    assert rec.errno == 0
    assert rec.outcome.ret["previous"] == before
    assert v(sim, "token_privs_enabled", tok) == (before | SHUTDOWN) & ~int(NOTIFY)
    assert v(sim, "token_privs_present", tok) == int(NOTIFY | SHUTDOWN | BACKUP | RESTORE)


def test_adjust_privs_bumps_modified_id_ADJ02(adm):
    """§4.5 (ADJ-02): every adjustment bumps modified_id; a failed one does not."""
    sim, tok = adm
    assert v(sim, "token_modified_id", tok) == 0
    assert privs_call(sim, enable=SHUTDOWN).errno == 0
    assert v(sim, "token_modified_id", tok) == 1
    assert privs_call(sim, enable=DEBUG).errno == D.EINVAL
    assert v(sim, "token_modified_id", tok) == 1


def test_adjust_privs_ebadf(adm):
    """Appendix A §2 (IOCTL-21): an fd that is not an open token fd is EBADF."""
    sim, tok = adm
    assert privs_call(sim, fd=9, enable=SHUTDOWN).errno == D.EBADF


def test_adjust_privs_needs_right_ADJ03():
    """§4.5 (ADJ-03): without TOKEN_ADJUST_PRIVILEGES on the handle: EACCES, no change."""
    w, tok = adm_world(mask=D.TOKEN_QUERY | D.TOKEN_ADJUST_GROUPS)
    sim = Simulator(w)
    before = v(sim, "token_privs_enabled", tok)
    assert privs_call(sim, enable=SHUTDOWN).errno == D.EACCES
    assert v(sim, "token_privs_enabled", tok) == before


def test_adjust_privs_bad_entries_ADJ09_IOCTL23(adm):
    """§4.5, Appendix A (ADJ-09, IOCTL-23): a malformed entry array (parser
    verdict) fails the whole request with no state change."""
    sim, tok = adm
    before = v(sim, "token_privs_enabled", tok)
    assert privs_call(sim, enable=SHUTDOWN, entries_ok=False).errno == D.EINVAL
    assert v(sim, "token_privs_enabled", tok) == before
    assert v(sim, "token_modified_id", tok) == 0


@pytest.mark.parametrize("masks", [
    {"enable": SHUTDOWN, "disable": SHUTDOWN},
    {"enable": SHUTDOWN, "remove": SHUTDOWN},
    {"disable": NOTIFY, "remove": NOTIFY | BACKUP},
])
def test_adjust_privs_duplicate_privilege_ADJ09(adm, masks):
    """§4.5 (ADJ-09): one privilege named twice in a request is EINVAL; nothing applies."""
    sim, tok = adm
    before = (v(sim, "token_privs_present", tok), v(sim, "token_privs_enabled", tok))
    assert privs_call(sim, **masks).errno == D.EINVAL
    assert (v(sim, "token_privs_present", tok), v(sim, "token_privs_enabled", tok)) == before


def test_adjust_privs_reset_only_alone_IOCTL22(adm):
    """Appendix A (IOCTL-22): the reset sentinel with any other entry is invalid;
    an empty request (count = 0) is invalid too."""
    sim, tok = adm
    assert privs_call(sim, reset=True, disable=NOTIFY).errno == D.EINVAL
    assert privs_call(sim).errno == D.EINVAL
    assert v(sim, "token_modified_id", tok) == 0


def test_adjust_privs_enable_absent_is_einval_ADJ04(adm):
    """§4.5 (ADJ-04, PRIV-01): enabling a privilege not present is EINVAL: it cannot be granted."""
    sim, tok = adm
    rec = privs_call(sim, enable=DEBUG | SHUTDOWN)
    assert rec.errno == D.EINVAL
    assert v(sim, "token_privs_present", tok) & int(DEBUG) == 0
    assert v(sim, "token_privs_enabled", tok) & int(SHUTDOWN) == 0


def test_adjust_privs_disable_or_remove_absent_is_noop_ADJ05(adm):
    """§4.5 (ADJ-05): disabling or removing an absent privilege succeeds and changes no privilege."""
    sim, tok = adm
    before = {f: v(sim, f, tok) for f in ("token_privs_present", "token_privs_enabled", "token_privs_default")}
    assert privs_call(sim, disable=DEBUG).errno == 0
    assert privs_call(sim, remove=P("SeLoadDriverPrivilege")).errno == 0
    assert {f: v(sim, f, tok) for f in before} == before


def test_adjust_privs_reset_restores_defaults_ADJ06(adm):
    """§4.5 (ADJ-06): reset sets enabled := enabled_by_default."""
    sim, tok = adm
    assert privs_call(sim, enable=SHUTDOWN, disable=NOTIFY).errno == 0
    rec = privs_call(sim, reset=True)
    assert rec.errno == 0
    assert v(sim, "token_privs_enabled", tok) == int(NOTIFY | BACKUP)
    assert rec.outcome.ret["previous"] == int(SHUTDOWN | RESTORE)


def test_remove_is_permanent_and_reset_does_not_restore_ADJ07_ADJ08(adm):
    """§4.5 (ADJ-07, ADJ-08): removal clears present, enabled and default; the
    privilege cannot be enabled again and reset does not bring it back."""
    sim, tok = adm
    assert privs_call(sim, remove=NOTIFY | BACKUP).errno == 0
    for f in ("token_privs_present", "token_privs_enabled", "token_privs_default"):
        assert v(sim, f, tok) & int(NOTIFY | BACKUP) == 0, f
    assert privs_call(sim, enable=NOTIFY).errno == D.EINVAL
    assert privs_call(sim, reset=True).errno == 0
    assert v(sim, "token_privs_enabled", tok) & int(NOTIFY | BACKUP) == 0
    assert v(sim, "token_privs_present", tok) & int(NOTIFY | BACKUP) == 0


def test_reset_never_enables_an_absent_privilege_IOCTL22():
    """Appendix A (IOCTL-22, ADJ-07): "privileges absent from privileges_present
    remain absent" even if enabled-by-default (by a bug elsewhere) still named one."""
    w, tok = adm_world()
    w.state.set("token_privs_default", tok, int(NOTIFY | DEBUG))
    sim = Simulator(w)
    assert privs_call(sim, reset=True).errno == 0
    assert v(sim, "token_privs_enabled", tok) == int(NOTIFY)


def test_remove_keeps_used_bit_PRIV04(adm):
    """§7.1 Lifecycle (PRIV-04): removal keeps the used bit for audit."""
    sim, tok = adm
    assert v(sim, "token_privs_used", tok) & int(RESTORE)
    assert privs_call(sim, remove=RESTORE).errno == 0
    assert v(sim, "token_privs_present", tok) & int(RESTORE) == 0
    assert v(sim, "token_privs_used", tok) & int(RESTORE)


def test_adjust_privs_on_shared_token_visible_to_all_threads_ADJ02(world):
    """§4.5 (ADJ-02): adjusting the shell's primary token in place is what both
    threads of the process see (they share one token object)."""
    shell = world.names["Process"]["shell"]
    alice = world.names["Token"]["alice"]
    world.add_fd(shell, alice, int(D.TOKEN_ADJUST_PRIVILEGES))
    sim = Simulator(world)
    assert privs_call(sim, disable=NOTIFY, actor="sh2").errno == 0
    for th in ("sh1", "sh2"):
        tid = world.names["Thread"][th]
        assert v(sim, "token_privs_enabled", v(sim, "thread_real", tid)) & int(NOTIFY) == 0


# ====================================================================== AdjustGroups
def test_adjust_groups_enable_and_disable_IOCTL24(adm):
    """§4.5 AdjustGroups (ADJ-11, IOCTL-24): enable a disabled optional group,
    disable an enabled one; previous enabled mask returned (ADJ-18)."""
    sim, tok = adm
    before = v(sim, "token_g_enabled", tok)
    rec = groups_call(sim, enable=bits(G_OPTIONAL), disable=bits(G_USERS))
    assert rec.errno == 0
    assert rec.outcome.ret["previous"] == before
    after = v(sim, "token_g_enabled", tok)
    assert after & bits(G_OPTIONAL) and not after & bits(G_USERS)
    assert v(sim, "token_modified_id", tok) == 1


def test_adjust_groups_ebadf_and_eacces_ADJ11():
    """§4.5 (ADJ-11): EBADF for a closed fd; EACCES without TOKEN_ADJUST_GROUPS."""
    w, tok = adm_world(mask=D.TOKEN_ADJUST_PRIVILEGES)
    sim = Simulator(w)
    assert groups_call(sim, fd=7, disable=bits(G_USERS)).errno == D.EBADF
    assert groups_call(sim, disable=bits(G_USERS)).errno == D.EACCES
    assert v(sim, "token_g_enabled", tok) & bits(G_USERS)


@pytest.mark.parametrize("call", [
    {"disable": bits(G_USERS), "entries_ok": False},          # parser: count 0 / > 64 / duplicate index
    {"enable": bits(G_OPTIONAL), "disable": bits(G_OPTIONAL)},  # one index twice
    {"reset": True, "enable": bits(G_OPTIONAL)},             # sentinel not alone
    {},                                                      # empty request
    {"disable": bits(7)},                                    # slot 7: not a group of the token
])
def test_adjust_groups_malformed_requests_ADJ17_IOCTL26(adm, call):
    """§4.5, Appendix A (ADJ-17, IOCTL-25, IOCTL-26): malformed requests are
    EINVAL and change nothing."""
    sim, tok = adm
    before = v(sim, "token_g_enabled", tok)
    assert groups_call(sim, **call).errno == D.EINVAL
    assert v(sim, "token_g_enabled", tok) == before
    assert v(sim, "token_modified_id", tok) == 0


@pytest.mark.parametrize("slot,clause", [(G_EVERYONE_MAND, "ADJ-12"), (G_LOGON, "ADJ-14")])
def test_mandatory_and_logon_groups_cannot_be_disabled(adm, slot, clause):
    """§4.5 (ADJ-12 mandatory, ADJ-14 logon SID): disabling is EINVAL, the group
    stays enabled, and the whole request fails (valid entries do not apply)."""
    sim, tok = adm
    rec = groups_call(sim, disable=bits(slot, G_USERS))
    assert rec.errno == D.EINVAL, clause
    assert v(sim, "token_g_enabled", tok) & bits(slot, G_USERS) == bits(slot, G_USERS)


def test_any_entry_on_mandatory_group_is_einval_IOCTL25(adm):
    """Appendix A KACS_IOC_ADJUST_GROUPS (IOCTL-25): even enabling an already
    enabled mandatory group is an invalid entry (stricter than §4.5)."""
    sim, tok = adm
    assert groups_call(sim, enable=bits(G_EVERYONE_MAND)).errno == D.EINVAL


def test_deny_only_group_cannot_be_enabled_ADJ13(adm):
    """§4.5 (ADJ-13): a USE_FOR_DENY_ONLY group cannot be re-enabled."""
    sim, tok = adm
    assert groups_call(sim, enable=bits(G_ADMINS_DENY)).errno == D.EINVAL
    assert not v(sim, "token_g_enabled", tok) & bits(G_ADMINS_DENY)


def test_user_sid_group_cannot_be_disabled_ADJ15(adm):
    """§4.5 (ADJ-15): a group entry carrying the user SID cannot be disabled (it may be enabled)."""
    sim, tok = adm
    assert v(sim, "token_group_sid4", tok) == ALICE
    assert groups_call(sim, disable=bits(G_SELF)).errno == D.EINVAL
    assert v(sim, "token_g_enabled", tok) & bits(G_SELF)
    assert groups_call(sim, enable=bits(G_SELF)).errno == 0


def test_reset_restores_defaults_and_keeps_deny_only_disabled_ADJ16(adm):
    """§4.5 (ADJ-16, IOCTL-26): reset restores creation-time enabled state; a
    deny-only group stays disabled even though it is enabled-by-default."""
    sim, tok = adm
    assert v(sim, "token_g_default", tok) & bits(G_ADMINS_DENY)
    assert groups_call(sim, enable=bits(G_OPTIONAL), disable=bits(G_USERS)).errno == 0
    rec = groups_call(sim, reset=True)
    assert rec.errno == 0
    en = v(sim, "token_g_enabled", tok)
    assert en & bits(G_USERS) and not en & bits(G_OPTIONAL)
    assert not en & bits(G_ADMINS_DENY)
    assert v(sim, "token_g_deny_only", tok) & bits(G_ADMINS_DENY)
    assert en == bits(G_USERS, G_EVERYONE_MAND, G_SELF, G_LOGON)
    assert v(sim, "token_modified_id", tok) == 2


# ====================================================================== AdjustDefault
def test_adjust_default_all_fields_ADJ21(adm):
    """§4.5 AdjustDefault (ADJ-21, ADJ-22, ADJ-23, IOCTL-28): DACL, owner index
    (a group with SE_GROUP_OWNER) and primary group index change; modified_id bumps."""
    sim, tok = adm
    rec = default_call(sim, set_dacl=True, dacl=7, set_owner=True, owner_index=G_OWNERGRP + 1,
                       set_group=True, group_index=G_OPTIONAL + 1)
    assert rec.errno == 0
    assert v(sim, "token_default_dacl", tok) == 7
    assert v(sim, "token_owner_index", tok) == G_OWNERGRP + 1
    assert v(sim, "token_group_index", tok) == G_OPTIONAL + 1
    assert v(sim, "token_modified_id", tok) == 1


def test_adjust_default_only_requested_fields_IOCTL28(adm):
    """Appendix A (IOCTL-28): each field is independently optional."""
    sim, tok = adm
    assert default_call(sim, set_owner=True, owner_index=G_OWNERGRP + 1, set_group=True,
                        group_index=G_USERS + 1).errno == 0
    rec = default_call(sim, set_dacl=True, dacl=3, owner_index=99, group_index=99)
    assert rec.errno == 0
    assert v(sim, "token_owner_index", tok) == G_OWNERGRP + 1
    assert v(sim, "token_group_index", tok) == G_USERS + 1
    assert v(sim, "token_default_dacl", tok) == 3
    assert default_call(sim, set_owner=True, owner_index=0, set_group=True, group_index=0).errno == 0
    assert (v(sim, "token_owner_index", tok), v(sim, "token_group_index", tok)) == (0, 0)
    assert v(sim, "token_default_dacl", tok) == 3


@pytest.mark.parametrize("owner_index", [G_USERS + 1, G_LOGON + 1, 8, 200])
def test_adjust_default_owner_must_be_user_or_owner_group_ADJ22(adm, owner_index):
    """§4.5 (ADJ-22): an owner index naming a group without SE_GROUP_OWNER, or
    no group at all, is EINVAL; nothing changes."""
    sim, tok = adm
    rec = default_call(sim, set_dacl=True, dacl=5, set_owner=True, owner_index=owner_index)
    assert rec.errno == D.EINVAL
    assert v(sim, "token_owner_index", tok) == 0
    assert v(sim, "token_default_dacl", tok) == 0
    assert v(sim, "token_modified_id", tok) == 0


@pytest.mark.parametrize("group_index", [8, 9, 255])
def test_adjust_default_group_must_be_on_token_ADJ23(adm, group_index):
    """§4.5 (ADJ-23): a primary group index past the token's groups is EINVAL."""
    sim, tok = adm
    assert default_call(sim, set_group=True, group_index=group_index).errno == D.EINVAL
    assert v(sim, "token_group_index", tok) == 0


def test_adjust_default_errnos_ADJ21():
    """§4.5 (ADJ-21): EBADF for a closed fd, EACCES without TOKEN_ADJUST_DEFAULT."""
    w, tok = adm_world(mask=D.TOKEN_ADJUST_PRIVILEGES | D.TOKEN_ADJUST_GROUPS)
    sim = Simulator(w)
    assert default_call(sim, fd=4, set_dacl=True, dacl=1).errno == D.EBADF
    assert default_call(sim, set_dacl=True, dacl=1).errno == D.EACCES
    assert v(sim, "token_default_dacl", tok) == 0


# ====================================================================== interactivity scope
def _scope_world(holder="shell", mask=D.TOKEN_ADJUST_INTERACTIVITY_SCOPE):
    w = standard_world()
    alice = w.names["Token"]["alice"]
    w.add_fd(w.names["Process"][holder], alice, int(mask))
    return w, alice


def test_interactivity_scope_with_tcb_IOCTL27():
    """§4.5 AdjustSessionID, Appendix A (ADJ-19, IOCTL-27, TOK-47): SYSTEM (real
    token holds SeTcbPrivilege) sets the scope; modified_id bumps; SeTcb marked used."""
    w, alice = _scope_world(holder="init")
    sim = Simulator(w)
    system = w.names["Token"]["system"]
    rec = sim.call("ioctl_adjust_interactivity_scope", "init", fd=3, scope=5)
    assert rec.errno == 0
    assert v(sim, "token_scope", alice) == 5
    assert v(sim, "token_modified_id", alice) == 1
    assert v(sim, "token_privs_used", system) & int(D.SE_TCB)


def test_interactivity_scope_changes_only_scope_ADJ20():
    """§4.5 (ADJ-20): only the scope (and modified_id) change."""
    w, alice = _scope_world(holder="init")
    sim = Simulator(w)
    before = sim.state.snapshot()
    assert sim.call("ioctl_adjust_interactivity_scope", "init", fd=3, scope=2).errno == 0
    after = sim.state.snapshot()
    changed = {(f, k) for f in after for k in after[f] if after[f][k] != before[f].get(k)}
    system = w.names["Token"]["system"]
    assert changed == {("token_scope", (alice,)), ("token_modified_id", (alice,)), ("token_privs_used", (system,))}


def test_interactivity_scope_errnos_IOCTL27():
    """Appendix A (IOCTL-27): EBADF; EACCES without TOKEN_ADJUST_INTERACTIVITY_SCOPE;
    EPERM without SeTcbPrivilege (alice)."""
    w, alice = _scope_world(mask=D.TOKEN_ADJUST_DEFAULT)
    w.add_fd(w.names["Process"]["shell"], alice, int(D.TOKEN_ADJUST_INTERACTIVITY_SCOPE))
    sim = Simulator(w)
    assert sim.call("ioctl_adjust_interactivity_scope", "sh1", fd=9, scope=1).errno == D.EBADF
    assert sim.call("ioctl_adjust_interactivity_scope", "sh1", fd=3, scope=1).errno == D.EACCES
    assert sim.call("ioctl_adjust_interactivity_scope", "sh1", fd=4, scope=1).errno == D.EPERM
    assert v(sim, "token_scope", alice) == 0
    assert v(sim, "token_modified_id", alice) == 0


def test_interactivity_scope_judges_real_token_not_impersonation_ADJ19():
    """§4.5 (ADJ-19): SeTcbPrivilege is required on the caller's *real* token;
    a thread of alice impersonating SYSTEM still gets EPERM."""
    w, alice = _scope_world()
    sh1 = w.names["Thread"]["sh1"]
    w.state.set("thread_impersonating", sh1, True)
    w.state.set("thread_imp_token", sh1, w.names["Token"]["system"])
    w.state.set("thread_imp_level", sh1, int(D.IMPERSONATION))
    sim = Simulator(w)
    assert sim.call("ioctl_adjust_interactivity_scope", "sh1", fd=3, scope=1).errno == D.EPERM
    assert v(sim, "token_scope", alice) == 0


# ====================================================================== kacs_privilege_check
def test_privilege_check_marks_used_without_bumping_TOK46(adm):
    """Appendix A kacs_privilege_check, §4.2 (PRIV-02, TOK-46): success marks the
    privileges used and does not bump modified_id."""
    sim, _ = adm
    alice = v(sim, "thread_real", sim.world.names["Thread"]["sh1"])
    assert not v(sim, "token_privs_used", alice) & int(NOTIFY)
    rec = sim.call("kacs_privilege_check", "sh1", privileges=NOTIFY)
    assert rec.errno == 0
    assert v(sim, "token_privs_used", alice) & int(NOTIFY)
    assert v(sim, "token_modified_id", alice) == 0


def test_privilege_check_failure_marks_nothing_PRIV05(world):
    """Appendix A kacs_privilege_check (PRIV-05): one missing privilege of the
    set is EPERM, and none of the set is marked used."""
    sim = Simulator(world)
    alice = world.names["Token"]["alice"]
    rec = sim.call("kacs_privilege_check", "sh1", privileges=NOTIFY | D.SE_TCB)
    assert rec.errno == D.EPERM
    assert v(sim, "token_privs_used", alice) == 0


def test_privilege_check_disabled_privilege_is_eperm_PRIV05(world):
    """§7.1 (PRIV-05): present but disabled does not pass the gate."""
    sim = Simulator(world)
    alice = world.names["Token"]["alice"]
    shell = world.names["Process"]["shell"]
    world.add_fd(shell, alice, int(D.TOKEN_ADJUST_PRIVILEGES))
    assert privs_call(sim, disable=NOTIFY).errno == 0
    assert sim.call("kacs_privilege_check", "sh1", privileges=NOTIFY).errno == D.EPERM
    assert v(sim, "token_privs_used", alice) == 0


def test_privilege_check_uses_effective_token_PRIV05(world):
    """§7.1 (PRIV-05): the calling thread's effective token is judged: alice's
    thread impersonating SYSTEM passes, and SYSTEM's token records the use."""
    sh1 = world.names["Thread"]["sh1"]
    system, alice = world.names["Token"]["system"], world.names["Token"]["alice"]
    world.state.set("thread_impersonating", sh1, True)
    world.state.set("thread_imp_token", sh1, system)
    world.state.set("thread_imp_level", sh1, int(D.IMPERSONATION))
    sim = Simulator(world)
    assert sim.call("kacs_privilege_check", "sh1", privileges=D.SE_TCB).errno == 0
    assert v(sim, "token_privs_used", system) & int(D.SE_TCB)
    assert not v(sim, "token_privs_used", alice) & int(D.SE_TCB)
    assert sim.call("kacs_privilege_check", "sh2", privileges=D.SE_TCB).errno == D.EPERM


# ====================================================================== hypothesis: rule facts
priv_masks = hs.integers(0, 2**64 - 1) | hs.sampled_from([0, int(SHUTDOWN), int(NOTIFY), int(BACKUP | RESTORE)])


@given(enable=priv_masks, disable=priv_masks, remove=priv_masks, reset=hs.booleans(), ok=hs.booleans(),
       check=priv_masks)
def test_privileges_never_grow_and_used_is_monotonic_PRIV01_ADJ08(enable, disable, remove, reset, ok, check):
    """§7.1 (PRIV-01), §4.5 (ADJ-04, ADJ-08), §4.2 (TOK-46): for any request,
    adjust_privs never adds a present privilege, enabled stays within present,
    used never shrinks, and privilege_check never clears a used bit or bumps
    modified_id."""
    w, tok = adm_world()
    sim = Simulator(w)
    pre = {f: v(sim, f, tok) for f in ("token_privs_present", "token_privs_enabled",
                                      "token_privs_default", "token_privs_used", "token_modified_id")}
    rec = privs_call(sim, enable=enable, disable=disable, remove=remove, reset=reset, entries_ok=ok)
    present, enabled = v(sim, "token_privs_present", tok), v(sim, "token_privs_enabled", tok)
    assert present & ~pre["token_privs_present"] == 0
    assert enabled & ~present == 0
    assert v(sim, "token_privs_default", tok) & ~pre["token_privs_default"] == 0
    assert v(sim, "token_privs_used", tok) == pre["token_privs_used"]
    assert v(sim, "token_modified_id", tok) == pre["token_modified_id"] + (rec.errno == 0)
    if rec.errno == 0:
        assert present & remove == 0
    else:
        assert enabled == pre["token_privs_enabled"] and present == pre["token_privs_present"]
    used = v(sim, "token_privs_used", tok)
    mid = v(sim, "token_modified_id", tok)
    rec2 = sim.call("kacs_privilege_check", "sh1", privileges=check)
    alice = w.names["Token"]["alice"]
    assert v(sim, "token_privs_used", tok) == used
    assert v(sim, "token_modified_id", tok) == mid
    assert (rec2.errno == 0) == (check & ~(v(sim, "token_privs_enabled", alice)
                                           & v(sim, "token_privs_present", alice)) == 0)


@given(enable=hs.integers(0, 255), disable=hs.integers(0, 255), reset=hs.booleans(), ok=hs.booleans())
def test_adjust_groups_never_enables_deny_only_nor_disables_protected_ADJ12_ADJ13(enable, disable, reset, ok):
    """§4.5 (ADJ-12, ADJ-13, ADJ-14, ADJ-16): for any request, no deny-only
    group ends up enabled, mandatory and logon-SID groups stay enabled, only
    group slots can be enabled, and a failed request changes nothing."""
    w, tok = adm_world()
    sim = Simulator(w)
    pre = v(sim, "token_g_enabled", tok)
    rec = groups_call(sim, enable=enable, disable=disable, reset=reset, entries_ok=ok)
    en = v(sim, "token_g_enabled", tok)
    assert en & v(sim, "token_g_deny_only", tok) == 0
    assert en & bits(G_EVERYONE_MAND, G_LOGON) == bits(G_EVERYONE_MAND, G_LOGON)
    assert en & ~v(sim, "token_groups", tok) == 0
    if rec.errno != 0:
        assert en == pre
