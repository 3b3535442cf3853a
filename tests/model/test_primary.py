"""Primary-token replacement (§4.3, Appendix A §13.2): KACS_IOC_INSTALL, the
siblings' queued install work, and external token replacement, on the
standard world: every success and errno path."""

from __future__ import annotations

import pytest

from model import domain as D
from model.access import read_sd
from model.rules.common import effective_token
from model.scenarios import user_token_spec
from model.sim import ModelPreconditionError, Simulator
from model.world import SYSTEM_TOKEN_SPEC

OK, EPERM, ESRCH, EBADF, EACCES, EINVAL = (int(e) for e in (D.OK, D.EPERM, D.ESRCH, D.EBADF, D.EACCES, D.EINVAL))
ASSIGN = int(D.TOKEN_ASSIGN_PRIMARY | D.TOKEN_QUERY)


def P(w, name):
    return w.names["Process"][name]


def T(w, name):
    return w.names["Thread"][name]


def K(w, name):
    return w.names["Token"][name]


def v(sim, field, key=None):
    return sim.state.value(field, key)


def eff(sim, thread):
    return effective_token(sim.state, T(sim.world, thread))


def used(sim, tok, priv):
    return bool(v(sim, "token_privs_used", tok) & int(priv))


def proc_sd(sim, p):
    return read_sd(sim.state, "proc_sd", p)


def impersonate_alice(sim, thread, server):
    """``thread`` (of process ``server``) impersonates alice through a socket (§9.3)."""
    k = sim.call("socket_create", "sh1", server=P(sim.world, server), capturing=True).outcome.ret["socket"]
    assert sim.call("socket_connect", "sh1", socket=k).errno == OK
    rec = sim.call("kacs_impersonate_peer", thread, socket=k)
    assert rec.errno == OK
    return eff(sim, thread)


def assigner(world, privileges, session="svc-session"):
    """A svc-user process "asg" (thread a1) holding ``privileges``."""
    tok = world.add_token("asg", user_token_spec("svc", session, integrity="High",
                                                 privileges={p: ["enabled"] for p in privileges}))
    world.add_process("asg", tok, ["a1"])
    return tok


# ------------------------------------------------------------------ KACS_IOC_INSTALL
def test_install_other_user_with_tcb_switches_caller_and_regenerates_sd_life11(world):
    """§4.3 Self-install / LIFE-08, LIFE-11, IOCTL-11, IOCTL-13, IOCTL-14: SYSTEM's init installs
    bob's token (another user and session, waived by SeTcbPrivilege): the process primary and the
    caller switch at once, and the process SD is regenerated owned by bob at bob's integrity."""
    init = P(world, "init")
    fd = world.add_fd(init, K(world, "bob"), ASSIGN)
    sim = Simulator(world)
    assert proc_sd(sim, init).label_level == int(D.IL_SYSTEM)
    rec = sim.call("ioctl_install", "init", fd=fd)
    assert rec.errno == OK
    assert v(sim, "proc_primary", init) == K(world, "bob")
    assert v(sim, "thread_real", T(world, "init")) == K(world, "bob")
    assert eff(sim, "init") == K(world, "bob")
    sd = proc_sd(sim, init)
    assert sd.owner == v(sim, "token_user", K(world, "bob"))
    assert sd.label_level == int(D.IL_MEDIUM)
    assert sd.aces[0].sid == v(sim, "token_user", K(world, "bob"))


def test_install_marks_privileges_used_priv03(world):
    """§7.1 Lifecycle / PRIV-03: SeAssignPrimaryTokenPrivilege and (when it waived a mismatch)
    SeTcbPrivilege are recorded as used."""
    init = P(world, "init")
    fd = world.add_fd(init, K(world, "bob"), ASSIGN)
    sim = Simulator(world)
    system = K(world, "system")
    assert sim.call("ioctl_install", "init", fd=fd).errno == OK
    assert used(sim, system, D.SE_ASSIGN_PRIMARY) and used(sim, system, D.SE_TCB)


def test_install_same_user_keeps_process_sd_life11(world):
    """§4.3 Self-install / LIFE-11, IOCTL-11: the user SID does not change, so the SD is preserved,
    and SeTcbPrivilege was not needed (not marked used)."""
    init = P(world, "init")
    sys2 = world.add_token("system-high", {**SYSTEM_TOKEN_SPEC, "integrity": "High"})
    fd = world.add_fd(init, sys2, ASSIGN)
    sim = Simulator(world)
    before = proc_sd(sim, init)
    assert sim.call("ioctl_install", "init", fd=fd).errno == OK
    assert v(sim, "proc_primary", init) == sys2
    assert proc_sd(sim, init) == before and before.label_level == int(D.IL_SYSTEM)
    assert used(sim, K(world, "system"), D.SE_ASSIGN_PRIMARY)
    assert not used(sim, K(world, "system"), D.SE_TCB)


def test_install_queues_work_on_siblings_and_they_converge_life10(world):
    """§4.3 Self-install / LIFE-10, IOCTL-10: siblings keep the old primary until they run their
    queued install work (install_converge); they make no syscall before it."""
    init = P(world, "init")
    world.add_thread("init2", init)
    fd = world.add_fd(init, K(world, "bob"), ASSIGN)
    sim = Simulator(world)
    assert sim.call("ioctl_install", "init", fd=fd).errno == OK
    i2 = T(world, "init2")
    assert v(sim, "thread_install_pending", i2)
    assert v(sim, "thread_real", i2) == K(world, "system")  # the transition window
    assert not v(sim, "thread_install_pending", T(world, "init"))
    with pytest.raises(ModelPreconditionError):
        sim.call("kacs_revert", "init2")
    assert sim.call("install_converge", "init2").errno == OK
    assert v(sim, "thread_real", i2) == K(world, "bob")
    assert not v(sim, "thread_install_pending", i2)
    assert not v(sim, "token_alive", K(world, "system"))  # the old primary is no longer referenced


def test_install_converge_needs_pending_work_life10(sim):
    """§4.3 Self-install / LIFE-10: a thread without queued install work has nothing to run."""
    with pytest.raises(ModelPreconditionError):
        sim.call("install_converge", "sh1")


def test_install_keeps_sibling_impersonation_revert_lands_on_new_primary_life09(world):
    """§4.3 Self-install / LIFE-09, IOCTL-10: an impersonating sibling keeps its impersonation across
    the install and its convergence; a later revert lands on the new primary."""
    init = P(world, "init")
    world.add_thread("init2", init)
    fd = world.add_fd(init, K(world, "bob"), ASSIGN)
    sim = Simulator(world)
    imp = impersonate_alice(sim, "init2", "init")
    assert sim.call("ioctl_install", "init", fd=fd).errno == OK
    assert eff(sim, "init2") == imp
    assert sim.call("install_converge", "init2").errno == OK
    assert eff(sim, "init2") == imp and v(sim, "thread_impersonating", T(world, "init2"))
    assert sim.call("kacs_revert", "init2").errno == OK
    assert eff(sim, "init2") == K(world, "bob")


def test_install_keeps_caller_impersonation_life09(world):
    """§4.3 Self-install / LIFE-09: the impersonating caller changes real_cred only; revert lands on
    the new primary, not the old one."""
    init = P(world, "init")
    fd = world.add_fd(init, K(world, "bob"), ASSIGN)
    sim = Simulator(world)
    imp = impersonate_alice(sim, "init", "init")
    assert sim.call("ioctl_install", "init", fd=fd).errno == OK
    assert eff(sim, "init") == imp
    assert v(sim, "thread_real", T(world, "init")) == K(world, "bob")
    assert sim.call("kacs_revert", "init").errno == OK
    assert eff(sim, "init") == K(world, "bob")


def test_install_closed_fd_is_ebadf(sim):
    """§13.2 KACS_IOC_INSTALL: an fd that is not an open token handle is EBADF."""
    assert sim.call("ioctl_install", "init", fd=5).errno == EBADF


def test_install_without_assign_primary_right_is_eacces_ioctl12(world):
    """§13.2 Requirements / IOCTL-12: TOKEN_ASSIGN_PRIMARY on the handle (checked first)."""
    fd = world.add_fd(P(world, "init"), K(world, "bob"), int(D.TOKEN_QUERY | D.TOKEN_IMPERSONATE))
    sim = Simulator(world)
    assert sim.call("ioctl_install", "init", fd=fd).errno == EACCES
    assert v(sim, "proc_primary", P(world, "init")) == K(world, "system")


def test_install_without_privilege_is_eperm_ioctl12(world):
    """§13.2 Requirements / IOCTL-12: alice lacks SeAssignPrimaryTokenPrivilege: EPERM, nothing changes."""
    shell = P(world, "shell")
    fd = world.add_fd(shell, K(world, "alice"), ASSIGN)
    sim = Simulator(world)
    rec = sim.call("ioctl_install", "sh1", fd=fd)
    assert rec.errno == EPERM
    assert rec.outcome.post is rec.outcome.pre


def test_install_privilege_judged_on_real_token_not_impersonation_ioctl12(world):
    """§13.2 Requirements / IOCTL-12: the privilege must be on the caller's *real* token: svc
    impersonating SYSTEM-like privileges does not help (svc impersonates a SYSTEM copy at
    Impersonation level and still gets EPERM)."""
    server = P(world, "server")
    sys_imp = world.add_token("sys-imp", {**SYSTEM_TOKEN_SPEC, "type": "impersonation", "level": "Impersonation",
                                          "integrity": "High"})
    imp_fd = world.add_fd(server, sys_imp, int(D.TOKEN_IMPERSONATE))
    fd = world.add_fd(server, K(world, "svc"), ASSIGN)
    sim = Simulator(world)
    assert sim.call("ioctl_impersonate", "srv1", fd=imp_fd).errno == OK
    assert eff(sim, "srv1") == sys_imp
    assert sim.call("ioctl_install", "srv1", fd=fd).errno == EPERM


def test_install_impersonation_token_is_einval_ioctl09(world):
    """§13.2 KACS_IOC_INSTALL / IOCTL-09: only primary tokens can be installed."""
    tok = world.add_token("sys-imp", {**SYSTEM_TOKEN_SPEC, "type": "impersonation", "level": "Impersonation"})
    fd = world.add_fd(P(world, "init"), tok, ASSIGN)
    sim = Simulator(world)
    assert sim.call("ioctl_install", "init", fd=fd).errno == EINVAL


def test_install_other_user_without_tcb_is_eperm_ioctl13(world):
    """§13.2 Requirements / IOCTL-13: a different user SID needs SeTcbPrivilege; the
    SeAssignPrimaryTokenPrivilege gate already accepted, so it is marked used (PRIV-03)."""
    asg = assigner(world, ["SeAssignPrimaryTokenPrivilege"])
    bob_in_svc = world.add_token("bob-in-svc", user_token_spec("bob", "svc-session"))  # same session
    fd = world.add_fd(P(world, "asg"), bob_in_svc, ASSIGN)
    sim = Simulator(world)
    assert sim.call("ioctl_install", "a1", fd=fd).errno == EPERM
    assert v(sim, "proc_primary", P(world, "asg")) == asg
    assert used(sim, asg, D.SE_ASSIGN_PRIMARY)


def test_install_other_session_without_tcb_is_eperm_ioctl14(world):
    """§13.2 Requirements / IOCTL-14: same user, different LogonSession, no SeTcbPrivilege: EPERM."""
    assigner(world, ["SeAssignPrimaryTokenPrivilege"])
    svc_sys = world.add_token("svc-in-system", user_token_spec("svc", "system", integrity="High"))
    fd = world.add_fd(P(world, "asg"), svc_sys, ASSIGN)
    sim = Simulator(world)
    assert sim.call("ioctl_install", "a1", fd=fd).errno == EPERM


def test_install_same_user_and_session_without_tcb_is_ok_ioctl13(world):
    """§13.2 Requirements / IOCTL-13, IOCTL-14: same user and LogonSession need no SeTcbPrivilege."""
    assigner(world, ["SeAssignPrimaryTokenPrivilege"])
    fd = world.add_fd(P(world, "asg"), K(world, "svc"), ASSIGN)
    sim = Simulator(world)
    assert sim.call("ioctl_install", "a1", fd=fd).errno == OK
    assert v(sim, "proc_primary", P(world, "asg")) == K(world, "svc")


def test_install_dead_session_is_eacces_even_with_tcb_ioctl15(world):
    """§13.2 Requirements / IOCTL-15 (errno: DECISIONS.md): a dead LogonSession is refused even
    for SeTcbPrivilege."""
    world.state.set("sess_dead", world.names["Session"]["bob-session"], True)
    fd = world.add_fd(P(world, "init"), K(world, "bob"), ASSIGN)
    sim = Simulator(world)
    assert sim.call("ioctl_install", "init", fd=fd).errno == EACCES
    assert v(sim, "proc_primary", P(world, "init")) == K(world, "system")


# ------------------------------------------------------------------ external replacement
def test_external_replace_by_tcb_queues_every_target_thread_life21(world):
    """§4.3 External token replacement / LIFE-21, LIFE-22, LIFE-23: SYSTEM replaces bob's
    process's primary with alice's; each target thread swaps in its own context; the process SD
    is kept (DECISIONS.md)."""
    bobsh = P(world, "bobsh")
    fd = world.add_fd(P(world, "init"), K(world, "alice"), ASSIGN)
    sim = Simulator(world)
    before = proc_sd(sim, bobsh)
    rec = sim.call("external_replace_primary", "init", target=bobsh, fd=fd)
    assert rec.errno == OK
    assert v(sim, "proc_primary", bobsh) == K(world, "alice")
    b1 = T(world, "bob1")
    assert v(sim, "thread_install_pending", b1) and v(sim, "thread_real", b1) == K(world, "bob")
    assert sim.call("install_converge", "bob1").errno == OK
    assert v(sim, "thread_real", b1) == K(world, "alice")
    assert proc_sd(sim, bobsh) == before
    assert used(sim, K(world, "system"), D.SE_ASSIGN_PRIMARY) and used(sim, K(world, "system"), D.SE_TCB)
    # the caller's own process is untouched
    assert v(sim, "proc_primary", P(world, "init")) == K(world, "system")


def test_external_replace_keeps_target_impersonation_life22(world):
    """§4.3 External token replacement / LIFE-22: an impersonating target thread keeps its
    impersonation; only real_cred changes."""
    server = P(world, "server")
    fd = world.add_fd(P(world, "init"), K(world, "bob"), ASSIGN)
    sim = Simulator(world)
    imp = impersonate_alice(sim, "srv1", "server")
    assert sim.call("external_replace_primary", "init", target=server, fd=fd).errno == OK
    assert sim.call("install_converge", "srv1").errno == OK
    assert eff(sim, "srv1") == imp
    assert sim.call("kacs_revert", "srv1").errno == OK
    assert eff(sim, "srv1") == K(world, "bob")


def test_external_replace_closed_fd_is_ebadf(sim, world):
    """§4.3 External token replacement: a closed fd is EBADF."""
    assert sim.call("external_replace_primary", "init", target=P(world, "bobsh"), fd=9).errno == EBADF


def test_external_replace_without_handle_right_is_eacces_life23(world):
    """§4.3 Requirements / LIFE-23: TOKEN_ASSIGN_PRIMARY on the token fd."""
    fd = world.add_fd(P(world, "init"), K(world, "alice"), int(D.TOKEN_QUERY))
    sim = Simulator(world)
    assert sim.call("external_replace_primary", "init", target=P(world, "bobsh"), fd=fd).errno == EACCES


def test_external_replace_without_privilege_is_eperm_life23(world):
    """§4.3 Requirements / LIFE-23: SeAssignPrimaryTokenPrivilege on the caller's real token."""
    shell = P(world, "shell")
    fd = world.add_fd(shell, K(world, "alice"), ASSIGN)
    sim = Simulator(world)
    assert sim.call("external_replace_primary", "sh1", target=shell, fd=fd).errno == EPERM


def test_external_replace_dead_target_is_esrch(world):
    """§4.3 External token replacement (DECISIONS.md): the target process must exist: ESRCH."""
    fd = world.add_fd(P(world, "init"), K(world, "alice"), ASSIGN)
    sim = Simulator(world)
    assert sim.call("process_exit", "bob1").errno == OK
    assert sim.call("external_replace_primary", "init", target=P(world, "bobsh"), fd=fd).errno == ESRCH


def test_external_replace_needs_process_set_information_life23(world):
    """§4.3 Requirements / LIFE-23, §5.3: svc's assigner is not granted PROCESS_SET_INFORMATION on
    alice's process SD: EACCES, after SeAssignPrimaryTokenPrivilege was exercised (PRIV-03)."""
    asg = assigner(world, ["SeAssignPrimaryTokenPrivilege", "SeTcbPrivilege"])
    fd = world.add_fd(P(world, "asg"), K(world, "bob"), ASSIGN)
    sim = Simulator(world)
    rec = sim.call("external_replace_primary", "a1", target=P(world, "shell"), fd=fd)
    assert rec.errno == EACCES
    assert v(sim, "proc_primary", P(world, "shell")) == K(world, "alice")
    assert used(sim, asg, D.SE_ASSIGN_PRIMARY)
    assert not used(sim, asg, D.SE_TCB)


def test_external_replace_process_sd_check_uses_effective_token_life23(world):
    """§4.3 Requirements / LIFE-23 (DECISIONS.md): the process SD AccessCheck evaluates the
    caller's effective token: SYSTEM's init impersonating alice at Identification level is denied."""
    fd = world.add_fd(P(world, "init"), K(world, "alice"), ASSIGN)
    sim = Simulator(world)
    k = sim.call("socket_create", "sh1", server=P(world, "init"), capturing=True).outcome.ret["socket"]
    assert sim.call("kacs_set_impersonation_level", "sh1", socket=k, level=int(D.IDENTIFICATION)).errno == OK
    assert sim.call("socket_connect", "sh1", socket=k).errno == OK
    assert sim.call("kacs_impersonate_peer", "init", socket=k).errno == OK
    target = P(world, "bobsh")
    assert sim.call("external_replace_primary", "init", target=target, fd=fd).errno == EACCES
    assert sim.call("kacs_revert", "init").errno == OK
    assert sim.call("external_replace_primary", "init", target=target, fd=fd).errno == OK


def test_external_replace_impersonation_token_is_einval(world):
    """§4.3 External token replacement: only a primary token can become a primary: EINVAL."""
    tok = world.add_token("bob-imp", user_token_spec("bob", "bob-session", type="impersonation",
                                                     level="Impersonation"))
    fd = world.add_fd(P(world, "init"), tok, ASSIGN)
    sim = Simulator(world)
    assert sim.call("external_replace_primary", "init", target=P(world, "bobsh"), fd=fd).errno == EINVAL


def test_external_replace_other_user_without_tcb_is_eperm_life24(world):
    """§4.3 Requirements / LIFE-24: the new user SID must match the target's current primary's."""
    assigner(world, ["SeAssignPrimaryTokenPrivilege"])
    bob_in_svc = world.add_token("bob-in-svc", user_token_spec("bob", "svc-session"))  # same session
    fd = world.add_fd(P(world, "asg"), bob_in_svc, ASSIGN)
    sim = Simulator(world)
    assert sim.call("external_replace_primary", "a1", target=P(world, "asg"), fd=fd).errno == EPERM


def test_external_replace_other_session_without_tcb_is_eperm_life25(world):
    """§4.3 Requirements / LIFE-25: the new auth_id must match the target's current primary's."""
    assigner(world, ["SeAssignPrimaryTokenPrivilege"])
    svc_sys = world.add_token("svc-in-system", user_token_spec("svc", "system", integrity="High"))
    fd = world.add_fd(P(world, "asg"), svc_sys, ASSIGN)
    sim = Simulator(world)
    assert sim.call("external_replace_primary", "a1", target=P(world, "asg"), fd=fd).errno == EPERM


def test_external_replace_same_user_and_session_without_tcb_is_ok_life24(world):
    """§4.3 Requirements / LIFE-24, LIFE-25: matching user and LogonSession need no SeTcbPrivilege;
    the caller's own thread is queued like every other target thread."""
    assigner(world, ["SeAssignPrimaryTokenPrivilege"])
    asg = P(world, "asg")
    fd = world.add_fd(asg, K(world, "svc"), ASSIGN)
    sim = Simulator(world)
    assert sim.call("external_replace_primary", "a1", target=asg, fd=fd).errno == OK
    assert v(sim, "proc_primary", asg) == K(world, "svc")
    assert v(sim, "thread_install_pending", T(world, "a1"))


def test_external_replace_has_no_dead_session_check_life23(world):
    """§4.3 Requirements / LIFE-23..25 (DECISIONS.md, flagged): the section lists no
    dead-LogonSession check, and the model follows the text literally."""
    world.state.set("sess_dead", world.names["Session"]["alice-session"], True)
    fd = world.add_fd(P(world, "init"), K(world, "alice"), ASSIGN)
    sim = Simulator(world)
    assert sim.call("external_replace_primary", "init", target=P(world, "bobsh"), fd=fd).errno == OK
