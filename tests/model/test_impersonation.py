"""Impersonation rules (§9.1-§9.3, Appendix A §13.1, §13.2) on the standard world.

Every success and errno path of socket_create, kacs_set_impersonation_level,
socket_connect, socket_close, kacs_impersonate_peer, ioctl_impersonate and
kacs_revert; plus hypothesis checks of the gate facts (IMP-02, IMP-16/18/31)
against an oracle written from the spec text.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model import domain as D
from model.rules.common import effective_token
from model.rules.impersonation import impersonation_gates
from model.scenarios import user_token_spec
from model.sim import ModelPreconditionError, Simulator

OK, EPERM, ESRCH, EBADF, EACCES, EINVAL = (int(e) for e in (D.OK, D.EPERM, D.ESRCH, D.EBADF, D.EACCES, D.EINVAL))
IMPERSONATE_MASK = int(D.TOKEN_IMPERSONATE | D.TOKEN_QUERY)


# ------------------------------------------------------------------ helpers
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


def open_socket(sim, client="sh1", server="server", level=None, capturing=True, connect=True):
    """A socket from ``client``'s thread to process ``server``; optionally sets the level and connects."""
    rec = sim.call("socket_create", client, server=P(sim.world, server), capturing=capturing)
    assert rec.errno == OK
    k = rec.outcome.ret["socket"]
    if level is not None:
        assert sim.call("kacs_set_impersonation_level", client, socket=k, level=level).errno == OK
    if connect:
        assert sim.call("socket_connect", client, socket=k).errno == OK
    return k


def add_principal(w, name, spec, threads):
    """A token ``name`` and a process ``name`` running it with ``threads``."""
    tok = w.add_token(name, spec)
    w.add_process(name, tok, threads)
    return tok


def alice_restricted(w):
    """A restricted (sandboxed) token of alice, same user and session (§4.4 restricted tokens)."""
    return user_token_spec("alice", "alice-session", restricted_sids=["Everyone"])


def assert_acting_level_invariant(sim, thread):
    """The design decision: the token in force is impersonation-type at exactly the level in force."""
    th = T(sim.world, thread)
    tok = v(sim, "thread_imp_token", th)
    assert v(sim, "thread_impersonating", th)
    assert v(sim, "token_alive", tok)
    assert not v(sim, "token_primary", tok)
    assert v(sim, "token_level", tok) == v(sim, "thread_imp_level", th)


# ------------------------------------------------------------------ sockets
def test_socket_create_defaults_to_impersonation_level_imp08(sim, world):
    """§9.1 / IMP-08: a new socket is at Impersonation level, unconnected, with no peer snapshot."""
    k = open_socket(sim, connect=False)
    assert v(sim, "sock_alive", k)
    assert v(sim, "sock_level", k) == int(D.IMPERSONATION)
    assert not v(sim, "sock_connected", k)
    assert not v(sim, "sock_has_peer", k)
    assert v(sim, "sock_server", k) == P(world, "server")


def test_socket_create_to_dead_server_is_esrch(sim, world):
    """§9.3 (model operation; DECISIONS.md): ESRCH if the server process does not exist."""
    assert sim.call("process_exit", "bob1").errno == OK
    rec = sim.call("socket_create", "sh1", server=P(world, "bobsh"), capturing=True)
    assert rec.errno == ESRCH
    assert not v(sim, "sock_alive", rec.args["socket"])


def test_set_impersonation_level_before_connect_imp08(sim):
    """§13.1 kacs_set_impersonation_level / IMP-08: the client sets the level before connect()."""
    k = open_socket(sim, connect=False)
    assert sim.call("kacs_set_impersonation_level", "sh1", socket=k, level=int(D.DELEGATION)).errno == OK
    assert v(sim, "sock_level", k) == int(D.DELEGATION)


def test_set_impersonation_level_after_connect_is_einval(sim):
    """§13.1 kacs_set_impersonation_level (unconnected socket only) / IMP-08: EINVAL once connected."""
    k = open_socket(sim)
    rec = sim.call("kacs_set_impersonation_level", "sh1", socket=k, level=int(D.DELEGATION))
    assert rec.errno == EINVAL
    assert v(sim, "sock_level", k) == int(D.IMPERSONATION)


def test_set_impersonation_level_on_missing_socket_is_ebadf(sim):
    """§13.1 kacs_set_impersonation_level: EBADF for a socket that does not exist."""
    assert sim.call("kacs_set_impersonation_level", "sh1", socket=42, level=0).errno == EBADF


def test_connect_captures_effective_token_imp20(sim, world):
    """§9.3 step 2 / IMP-20: connect() stores the client's effective token at the socket's level."""
    k = open_socket(sim, level=int(D.IDENTIFICATION))
    assert v(sim, "sock_connected", k) and v(sim, "sock_has_peer", k)
    assert v(sim, "sock_peer_token", k) == K(world, "alice")
    assert v(sim, "sock_peer_level", k) == int(D.IDENTIFICATION)


def test_connect_at_anonymous_stores_the_anonymous_token_imp04(sim, world):
    """§9.3 step 2 / IMP-04, IMP-25: at Anonymous the client's identity is not recorded."""
    k = open_socket(sim, level=int(D.ANONYMOUS))
    assert v(sim, "sock_peer_token", k) == v(sim, "anon_token")
    assert v(sim, "sock_peer_level", k) == int(D.ANONYMOUS)


def test_connect_of_datagram_socket_installs_no_snapshot_imp32(sim):
    """§9.3 Supported transports / IMP-32: datagram and socketpair sockets carry no peer snapshot."""
    k = open_socket(sim, capturing=False)
    assert v(sim, "sock_connected", k)
    assert not v(sim, "sock_has_peer", k)


def test_connect_twice_is_einval_and_missing_socket_ebadf(sim):
    """§9.3 step 1 (DECISIONS.md): EINVAL for a second connect(), EBADF for a missing socket."""
    k = open_socket(sim)
    assert sim.call("socket_connect", "sh1", socket=k).errno == EINVAL
    assert sim.call("socket_connect", "sh1", socket=77).errno == EBADF


def test_impersonated_identity_flows_through_connect_imp20(sim, world):
    """§9.3 step 2 / IMP-20, IMP-07: a connecting thread that impersonates passes the client on."""
    k1 = open_socket(sim)  # alice -> svc
    assert sim.call("kacs_impersonate_peer", "srv1", socket=k1).errno == OK
    imp = v(sim, "thread_imp_token", T(world, "srv1"))
    k2 = open_socket(sim, client="srv1", server="bobsh")  # svc (as alice) -> bob
    assert v(sim, "sock_peer_token", k2) == imp
    assert v(sim, "token_user", v(sim, "sock_peer_token", k2)) == v(sim, "token_user", K(world, "alice"))


def test_socket_close_drops_socket_and_missing_socket_ebadf(sim):
    """§9.3 (DECISIONS.md): close() drops the socket; EBADF if it does not exist."""
    k = open_socket(sim)
    assert sim.call("socket_close", "sh1", socket=k).errno == OK
    assert not v(sim, "sock_alive", k)
    assert sim.call("socket_close", "sh1", socket=k).errno == EBADF


# ------------------------------------------------------------------ kacs_impersonate_peer
def test_privileged_server_impersonates_at_impersonation_imp10(sim, world):
    """§9.2 / IMP-10, IMP-19, §13.1: svc holds SeImpersonatePrivilege and alice (Medium) <= svc (High)."""
    k = open_socket(sim)
    next_id = v(sim, "next_token_id")
    rec = sim.call("kacs_impersonate_peer", "srv1", socket=k)
    assert rec.errno == OK
    assert rec.outcome.ret["level"] == int(D.IMPERSONATION)
    assert v(sim, "next_token_id") == next_id + 1  # one new token object (§4.2 token_guid)
    th = T(world, "srv1")
    assert v(sim, "thread_imp_level", th) == int(D.IMPERSONATION)
    tok = eff(sim, "srv1")
    assert v(sim, "token_user", tok) == v(sim, "token_user", K(world, "alice"))
    assert_acting_level_invariant(sim, "srv1")
    # the snapshot is alice's primary: the thread gets a fresh impersonation copy, not the primary itself
    assert tok != K(world, "alice")
    # the other server thread is untouched (per-thread impersonation, LIFE-04)
    assert not v(sim, "thread_impersonating", T(world, "srv2"))


def test_privilege_used_bit_set_when_it_decides_identity_gate_priv03(sim, world):
    """§7.1 Lifecycle / PRIV-03, IMP-30: SeImpersonatePrivilege decided the gate, so it is marked used."""
    assert not v(sim, "token_privs_used", K(world, "svc")) & int(D.SE_IMPERSONATE)
    k = open_socket(sim)
    assert sim.call("kacs_impersonate_peer", "srv1", socket=k).errno == OK
    assert v(sim, "token_privs_used", K(world, "svc")) & int(D.SE_IMPERSONATE)


@pytest.mark.parametrize("level", [D.IDENTIFICATION, D.IMPERSONATION, D.DELEGATION])
def test_server_gets_exactly_the_client_level_when_gates_pass_imp02(sim, world, level):
    """§9.1 / IMP-02, IMP-19: the effective level is the client's level when both gates pass."""
    k = open_socket(sim, level=int(level))
    rec = sim.call("kacs_impersonate_peer", "srv1", socket=k)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(level)
    assert_acting_level_invariant(sim, "srv1")


def test_anonymous_level_uses_global_token_without_gates_imp24(sim, world):
    """§9.3 Anonymous semantics / IMP-24, LIFE-19: bob (no privilege) impersonates at Anonymous."""
    k = open_socket(sim, server="bobsh", level=int(D.ANONYMOUS))
    rec = sim.call("kacs_impersonate_peer", "bob1", socket=k)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.ANONYMOUS)
    assert eff(sim, "bob1") == v(sim, "anon_token")
    assert v(sim, "token_user", eff(sim, "bob1")) == D.SID_ANONYMOUS
    assert_acting_level_invariant(sim, "bob1")


def test_server_without_privilege_is_capped_to_identification_imp12(sim, world):
    """§9.2 identity gate / IMP-10, IMP-12, IMP-15: bob lacks SeImpersonatePrivilege: silently Identification."""
    k = open_socket(sim, server="bobsh")
    rec = sim.call("kacs_impersonate_peer", "bob1", socket=k)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IDENTIFICATION)
    tok = eff(sim, "bob1")
    assert v(sim, "token_user", tok) == v(sim, "token_user", K(world, "alice"))
    assert v(sim, "token_level", tok) == int(D.IDENTIFICATION)
    assert_acting_level_invariant(sim, "bob1")


def test_same_user_needs_no_privilege_imp10(sim, world):
    """§9.2 identity gate condition 1 / IMP-10: same user, same restriction status, no privilege."""
    k = open_socket(sim, server="shell")
    rec = sim.call("kacs_impersonate_peer", "sh2", socket=k)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IMPERSONATION)
    assert_acting_level_invariant(sim, "sh2")


def test_integrity_ceiling_not_lifted_by_privilege_imp31(sim, world):
    """§9.2 integrity ceiling / IMP-16, IMP-18, IMP-31: a Low server with SeImpersonatePrivilege
    impersonating a Medium client is capped to Identification."""
    add_principal(world, "lowsvc", user_token_spec(
        "svc", "svc-session", integrity="Low",
        privileges={"SeImpersonatePrivilege": ["enabled", "default"]}), ["low1"])
    k = open_socket(sim, server="lowsvc")
    rec = sim.call("kacs_impersonate_peer", "low1", socket=k)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IDENTIFICATION)
    tok = eff(sim, "low1")
    # the copy may keep the client's literal label (§9.2), but it cannot act
    assert v(sim, "token_integrity", tok) == int(D.IL_MEDIUM)
    assert_acting_level_invariant(sim, "low1")


def test_integrity_ceiling_applies_to_same_user_imp16(sim, world):
    """§9.2 integrity ceiling / IMP-16: a High client of the same user is capped for a Medium server."""
    add_principal(world, "alice-high", user_token_spec("alice", "alice-session", integrity="High"), ["hi1"])
    k = open_socket(sim, client="hi1", server="shell")
    rec = sim.call("kacs_impersonate_peer", "sh1", socket=k)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IDENTIFICATION)


def test_disabled_privilege_does_not_pass_identity_gate_imp30(sim, world):
    """§9.3 SeImpersonatePrivilege / IMP-30: the privilege must be enabled at call time."""
    add_principal(world, "svc-off", user_token_spec(
        "svc", "svc-session", integrity="High",
        privileges={"SeImpersonatePrivilege": []}), ["off1"])
    k = open_socket(sim, server="svc-off")
    rec = sim.call("kacs_impersonate_peer", "off1", socket=k)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IDENTIFICATION)


def test_restricted_server_unrestricted_same_user_is_eperm_imp13(sim, world):
    """§9.2 / IMP-11, IMP-13: restricted server -> unrestricted client of the same user: -EPERM,
    and nothing changes."""
    add_principal(world, "sandbox", alice_restricted(world), ["sb1"])
    k = open_socket(sim, server="sandbox")
    rec = sim.call("kacs_impersonate_peer", "sb1", socket=k)
    assert rec.errno == EPERM
    assert not v(sim, "thread_impersonating", T(world, "sb1"))
    assert rec.outcome.post is rec.outcome.pre  # no effect at all


def test_restricted_server_with_privilege_is_still_eperm_imp13(sim, world):
    """§9.2 / IMP-13: the hard deny is not waived by SeImpersonatePrivilege."""
    add_principal(world, "sandbox", user_token_spec(
        "alice", "alice-session", restricted_sids=["Everyone"],
        privileges={"SeImpersonatePrivilege": ["enabled", "default"]}), ["sb1"])
    k = open_socket(sim, server="sandbox")
    assert sim.call("kacs_impersonate_peer", "sb1", socket=k).errno == EPERM


def test_unrestricted_server_restricted_client_is_capped_imp13(sim, world):
    """§9.2 / IMP-13 (reverse direction): unrestricted -> restricted same user uses the normal cap."""
    add_principal(world, "sandbox", alice_restricted(world), ["sb1"])
    k = open_socket(sim, client="sb1", server="shell")
    rec = sim.call("kacs_impersonate_peer", "sh1", socket=k)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IDENTIFICATION)


def test_restricted_server_at_anonymous_is_not_denied_imp24(sim, world):
    """§9.3 Anonymous semantics / IMP-24: Anonymous needs no gate, so no hard deny either."""
    add_principal(world, "sandbox", alice_restricted(world), ["sb1"])
    k = open_socket(sim, server="sandbox", level=int(D.ANONYMOUS))
    rec = sim.call("kacs_impersonate_peer", "sb1", socket=k)
    assert rec.errno == OK and eff(sim, "sb1") == v(sim, "anon_token")


def test_impersonate_peer_by_non_server_is_ebadf(sim, world):
    """§13.1 kacs_impersonate_peer (DECISIONS.md): EBADF unless the caller's process is the socket's server."""
    k = open_socket(sim)
    assert sim.call("kacs_impersonate_peer", "bob1", socket=k).errno == EBADF
    assert sim.call("kacs_impersonate_peer", "srv1", socket=99).errno == EBADF


def test_impersonate_peer_on_closed_socket_is_ebadf(sim):
    """§13.1 kacs_impersonate_peer: a closed socket is EBADF."""
    k = open_socket(sim)
    assert sim.call("socket_close", "sh1", socket=k).errno == OK
    assert sim.call("kacs_impersonate_peer", "srv1", socket=k).errno == EBADF


@pytest.mark.parametrize("capturing,connect", [(False, True), (True, False)])
def test_impersonate_peer_without_snapshot_is_eacces_imp32(sim, capturing, connect):
    """§13.1 kacs_impersonate_peer / IMP-32: no KACS peer snapshot (datagram, or not connected): -EACCES."""
    k = open_socket(sim, capturing=capturing, connect=connect)
    rec = sim.call("kacs_impersonate_peer", "srv1", socket=k)
    assert rec.errno == EACCES
    assert not v(sim, "thread_impersonating", T(sim.world, "srv1"))


def test_gates_judge_the_primary_not_the_current_impersonation_imp14(sim, world):
    """§9.2 / IMP-14, IMP-27: srv1 first impersonates bob at Identification (a token without the
    privilege); the next impersonation is still judged on svc's primary and reaches Impersonation."""
    kb = open_socket(sim, client="bob1", level=int(D.IDENTIFICATION))
    assert sim.call("kacs_impersonate_peer", "srv1", socket=kb).errno == OK
    assert v(sim, "token_user", eff(sim, "srv1")) == v(sim, "token_user", K(world, "bob"))
    ka = open_socket(sim)
    rec = sim.call("kacs_impersonate_peer", "srv1", socket=ka)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IMPERSONATION)
    assert v(sim, "token_user", eff(sim, "srv1")) == v(sim, "token_user", K(world, "alice"))
    assert_acting_level_invariant(sim, "srv1")


def test_double_impersonation_replaces_then_revert_lands_on_primary_imp27(sim, world):
    """§9.3 Double impersonation / IMP-27, IMP-23: the second impersonation replaces the first;
    revert restores the primary."""
    ka = open_socket(sim)
    kb = open_socket(sim, client="bob1")
    assert sim.call("kacs_impersonate_peer", "srv1", socket=ka).errno == OK
    assert sim.call("kacs_impersonate_peer", "srv1", socket=kb).errno == OK
    assert v(sim, "token_user", eff(sim, "srv1")) == v(sim, "token_user", K(world, "bob"))
    assert sim.call("kacs_revert", "srv1").errno == OK
    assert not v(sim, "thread_impersonating", T(world, "srv1"))
    assert eff(sim, "srv1") == K(world, "svc")


def test_failed_impersonation_keeps_the_previous_one_imp27(sim, world):
    """§9.3 Double impersonation (DECISIONS.md): a call that fails changes nothing."""
    add_principal(world, "sandbox", alice_restricted(world), ["sb1"])
    k_anon = open_socket(sim, server="sandbox", level=int(D.ANONYMOUS))
    k = open_socket(sim, server="sandbox")
    assert sim.call("kacs_impersonate_peer", "sb1", socket=k_anon).errno == OK
    assert sim.call("kacs_impersonate_peer", "sb1", socket=k).errno == EPERM
    assert eff(sim, "sb1") == v(sim, "anon_token")


def test_snapshot_at_its_own_level_is_referenced_not_copied_imp20(sim, world):
    """§9.3 step 3 (design decision in DECISIONS.md), IMP-20: srv1 acts as alice (an Impersonation
    token) and connects to its own server; srv2 impersonating that snapshot at the same level
    references the very same token object."""
    k1 = open_socket(sim)
    assert sim.call("kacs_impersonate_peer", "srv1", socket=k1).errno == OK
    imp = eff(sim, "srv1")
    k2 = open_socket(sim, client="srv1", server="server")
    next_id = v(sim, "next_token_id")
    rec = sim.call("kacs_impersonate_peer", "srv2", socket=k2)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IMPERSONATION)
    assert eff(sim, "srv2") == imp
    assert v(sim, "next_token_id") == next_id
    assert not v(sim, "token_alive", rec.args["imp_copy"])


def test_closing_the_socket_does_not_revoke_impersonation_imp21(sim, world):
    """§9.3 step 3 / IMP-21: the credential holds its own reference; closing the socket keeps it."""
    k = open_socket(sim)
    assert sim.call("kacs_impersonate_peer", "srv1", socket=k).errno == OK
    tok = eff(sim, "srv1")
    assert sim.call("socket_close", "sh1", socket=k).errno == OK
    assert sim.call("process_exit", "sh1").errno == OK  # alice's process (and primary reference) gone
    assert v(sim, "token_alive", tok)
    assert v(sim, "thread_impersonating", T(world, "srv1")) and eff(sim, "srv1") == tok


# ------------------------------------------------------------------ KACS_IOC_IMPERSONATE
def imp_token_spec(user="alice", session="alice-session", level="Impersonation", **extra):
    return user_token_spec(user, session, type="impersonation", level=level, **extra)


def test_ioctl_impersonate_references_the_token_itself_imp34(world):
    """§13.2 KACS_IOC_IMPERSONATE / IMP-34, IOCTL-08: gates pass, so the level is the token's own
    and the thread references the fd's token."""
    tok = world.add_token("alice-imp", imp_token_spec())
    fd = world.add_fd(P(world, "server"), tok, IMPERSONATE_MASK)
    sim = Simulator(world)
    rec = sim.call("ioctl_impersonate", "srv1", fd=fd)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IMPERSONATION)
    assert eff(sim, "srv1") == tok
    assert_acting_level_invariant(sim, "srv1")


def test_ioctl_impersonate_level_is_min_of_token_and_gates_ioctl08(world):
    """§13.2 / IOCTL-08, IMP-35, IOCTL-07: bob (no privilege) and alice's Delegation token:
    min(Delegation, Identification) = Identification, through a capped copy."""
    tok = world.add_token("alice-del", imp_token_spec(level="Delegation"))
    fd = world.add_fd(P(world, "bobsh"), tok, IMPERSONATE_MASK)
    sim = Simulator(world)
    next_id = v(sim, "next_token_id")
    rec = sim.call("ioctl_impersonate", "bob1", fd=fd)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IDENTIFICATION)
    copy = eff(sim, "bob1")
    assert copy != tok
    # a new token object with its own id (§4.2 token_guid, DuplicateToken semantics §4.4)
    assert v(sim, "token_id", copy) == next_id and v(sim, "next_token_id") == next_id + 1
    assert v(sim, "token_user", copy) == v(sim, "token_user", tok)
    assert v(sim, "token_level", tok) == int(D.DELEGATION)  # the source is untouched
    assert_acting_level_invariant(sim, "bob1")


def test_ioctl_impersonate_never_raises_the_token_level_imp35(world):
    """§9.3 Per-call level constraint / IMP-35: an Identification token stays Identification for svc."""
    tok = world.add_token("alice-id", imp_token_spec(level="Identification"))
    fd = world.add_fd(P(world, "server"), tok, IMPERSONATE_MASK)
    sim = Simulator(world)
    rec = sim.call("ioctl_impersonate", "srv1", fd=fd)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IDENTIFICATION)
    assert eff(sim, "srv1") == tok


def test_ioctl_impersonate_ceiling_with_privilege_imp31(world):
    """§13.2 Gate 2 / IMP-31, IOCTL-07: a Low server with SeImpersonatePrivilege is capped."""
    add_principal(world, "lowsvc", user_token_spec(
        "svc", "svc-session", integrity="Low",
        privileges={"SeImpersonatePrivilege": ["enabled", "default"]}), ["low1"])
    tok = world.add_token("alice-imp", imp_token_spec())
    fd = world.add_fd(P(world, "lowsvc"), tok, IMPERSONATE_MASK)
    sim = Simulator(world)
    rec = sim.call("ioctl_impersonate", "low1", fd=fd)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IDENTIFICATION)
    assert_acting_level_invariant(sim, "low1")
    # the privilege passed the identity gate, so it was exercised (§7.1, PRIV-03)
    assert v(sim, "token_privs_used", K(world, "lowsvc")) & int(D.SE_IMPERSONATE)


def test_ioctl_impersonate_anonymous_token_uses_global_anonymous_imp24(world):
    """§9.3 Anonymous semantics / IMP-24, IMP-25 (DECISIONS.md): an Anonymous-level token needs no
    gate (not even the hard deny) and is impersonated as the global Anonymous token."""
    add_principal(world, "sandbox", alice_restricted(world), ["sb1"])
    tok = world.add_token("alice-anon", imp_token_spec(level="Anonymous"))
    fd = world.add_fd(P(world, "sandbox"), tok, IMPERSONATE_MASK)
    sim = Simulator(world)
    rec = sim.call("ioctl_impersonate", "sb1", fd=fd)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.ANONYMOUS)
    assert eff(sim, "sb1") == v(sim, "anon_token")


def test_ioctl_impersonate_gates_judge_the_primary_imp14(world):
    """§13.2 (real_cred is the server) / IMP-14, IOCTL-07: srv1 already impersonates bob at
    Identification; KACS_IOC_IMPERSONATE of alice's token is judged on svc's primary (with
    SeImpersonatePrivilege), not on the current impersonation, and reaches Impersonation."""
    tok = world.add_token("alice-imp", imp_token_spec())
    fd = world.add_fd(P(world, "server"), tok, IMPERSONATE_MASK)
    sim = Simulator(world)
    kb = open_socket(sim, client="bob1", level=int(D.IDENTIFICATION))
    assert sim.call("kacs_impersonate_peer", "srv1", socket=kb).errno == OK
    rec = sim.call("ioctl_impersonate", "srv1", fd=fd)
    assert rec.errno == OK and rec.outcome.ret["level"] == int(D.IMPERSONATION)
    assert eff(sim, "srv1") == tok


def test_ioctl_impersonate_closed_fd_is_ebadf(sim):
    """§13.2 KACS_IOC_IMPERSONATE: an fd that is not an open token handle is EBADF."""
    assert sim.call("ioctl_impersonate", "srv1", fd=3).errno == EBADF


def test_ioctl_impersonate_without_right_is_eacces_ioctl06(world):
    """§13.2 / IOCTL-06: TOKEN_IMPERSONATE is required on the handle (checked before the token type)."""
    tok = world.add_token("alice-imp", imp_token_spec())
    fd = world.add_fd(P(world, "server"), tok, int(D.TOKEN_QUERY))
    fd2 = world.add_fd(P(world, "server"), K(world, "alice"), int(D.TOKEN_QUERY))
    sim = Simulator(world)
    assert sim.call("ioctl_impersonate", "srv1", fd=fd).errno == EACCES
    assert sim.call("ioctl_impersonate", "srv1", fd=fd2).errno == EACCES


def test_ioctl_impersonate_primary_token_is_einval_ioctl06(world):
    """§13.2 / IOCTL-06: the token must be an impersonation token."""
    fd = world.add_fd(P(world, "server"), K(world, "alice"), IMPERSONATE_MASK)
    sim = Simulator(world)
    assert sim.call("ioctl_impersonate", "srv1", fd=fd).errno == EINVAL
    assert not v(sim, "thread_impersonating", T(world, "srv1"))


def test_ioctl_impersonate_restricted_same_user_is_eperm_ioctl07(world):
    """§13.2 Gate 1 / IOCTL-07, IMP-13: restricted server -> unrestricted same-user token: -EPERM."""
    add_principal(world, "sandbox", alice_restricted(world), ["sb1"])
    tok = world.add_token("alice-imp", imp_token_spec())
    fd = world.add_fd(P(world, "sandbox"), tok, IMPERSONATE_MASK)
    sim = Simulator(world)
    assert sim.call("ioctl_impersonate", "sb1", fd=fd).errno == EPERM
    assert not v(sim, "thread_impersonating", T(world, "sb1"))


# ------------------------------------------------------------------ kacs_revert
def test_revert_when_not_impersonating_succeeds_imp23(sim, world):
    """§13.1 kacs_revert / IMP-23: returns 0 even when not impersonating."""
    rec = sim.call("kacs_revert", "sh1")
    assert rec.errno == OK
    assert eff(sim, "sh1") == K(world, "alice")


def test_revert_restores_real_cred_and_drops_reference_imp23(sim, world):
    """§9.3 step 5 / IMP-23: revert restores real_cred and drops the impersonation reference."""
    k = open_socket(sim)
    assert sim.call("kacs_impersonate_peer", "srv1", socket=k).errno == OK
    tok = eff(sim, "srv1")
    assert sim.call("socket_close", "sh1", socket=k).errno == OK
    assert sim.call("kacs_revert", "srv1").errno == OK
    assert eff(sim, "srv1") == K(world, "svc")
    assert not v(sim, "token_alive", tok)  # the copy was only held by the credential: reclaimed


def test_dead_thread_cannot_impersonate(sim, world):
    """§9.3 (model precondition): a thread that exited makes no syscall."""
    k = open_socket(sim)
    assert sim.call("thread_exit", "srv2").errno == OK
    with pytest.raises(ModelPreconditionError):
        sim.call("kacs_impersonate_peer", "srv2", socket=k)


# ------------------------------------------------------------------ hypothesis: gate facts
LEVELS = [int(x) for x in (D.ANONYMOUS, D.IDENTIFICATION, D.IMPERSONATION, D.DELEGATION)]
ILS = ["Untrusted", "Low", "Medium", "High", "System"]
USERS = ["alice", "bob"]

principal = st.fixed_dictionaries({
    "user": st.sampled_from(USERS),
    "restricted": st.booleans(),
    "integrity": st.sampled_from(ILS),
    "priv": st.sampled_from(["none", "disabled", "enabled"]),
})


def spec_of(p, **extra):
    privs = {"none": {}, "disabled": {"SeImpersonatePrivilege": []},
             "enabled": {"SeImpersonatePrivilege": ["enabled"]}}[p["priv"]]
    spec = user_token_spec(p["user"], f"{p['user']}-session", integrity=p["integrity"], privileges=privs, **extra)
    if p["restricted"]:
        spec["restricted_sids"] = ["Everyone"]
    return spec


def oracle(server, client, requested):
    """The spec text of §9.2 / §9.3, independently of the model: (eperm, level)."""
    il = {n: i for i, n in enumerate(ILS)}
    if requested == int(D.ANONYMOUS):
        return False, requested
    same = server["user"] == client["user"]
    if same and server["restricted"] and not client["restricted"]:
        return True, None
    identity = (same and server["restricted"] == client["restricted"]) or server["priv"] == "enabled"
    ceiling = il[client["integrity"]] <= il[server["integrity"]]
    if requested >= int(D.IMPERSONATION) and not (identity and ceiling):
        return False, int(D.IDENTIFICATION)
    return False, requested


def ioctl_world(server, client, level):
    from model.scenarios import standard

    w = standard()
    add_principal(w, "srvp", spec_of(server), ["t1"])
    tok = w.add_token("cli", spec_of(client, type="impersonation", level=level))
    fd = w.add_fd(P(w, "srvp"), tok, IMPERSONATE_MASK)
    return w, tok, fd


@given(server=principal, client=principal, level=st.sampled_from(LEVELS))
def test_ioctl_impersonate_matches_the_gate_oracle_imp19(server, client, level):
    """§9.2 Gate composition / IMP-02, IMP-13, IMP-19, IOCTL-08: KACS_IOC_IMPERSONATE's errno and
    level agree with the spec text; the level never exceeds the token's own level."""
    w, tok, fd = ioctl_world(server, client, level)
    sim = Simulator(w)
    rec = sim.call("ioctl_impersonate", "t1", fd=fd)
    eperm, expected = oracle(server, client, level)
    if eperm:
        assert rec.errno == EPERM
        return
    assert rec.errno == OK
    got = rec.outcome.ret["level"]
    assert got == expected and got <= level
    assert_acting_level_invariant(sim, "t1")


@given(server=principal, client=principal, level=st.sampled_from(LEVELS))
def test_privilege_never_lifts_the_integrity_ceiling_imp31(server, client, level):
    """§9.2 integrity ceiling / IMP-18, IMP-31, IMP-28: whatever the server's SeImpersonatePrivilege,
    a client above the server's integrity is never acted as (level <= Identification)."""
    il = {n: i for i, n in enumerate(ILS)}
    results = []
    for priv in ("none", "enabled"):
        w, tok, fd = ioctl_world({**server, "priv": priv}, client, level)
        sim = Simulator(w)
        rec = sim.call("ioctl_impersonate", "t1", fd=fd)
        results.append(rec)
        if rec.errno == OK and il[client["integrity"]] > il[server["integrity"]]:
            assert rec.outcome.ret["level"] <= int(D.IDENTIFICATION)
            assert v(sim, "token_level", eff(sim, "t1")) <= int(D.IDENTIFICATION)
    # the privilege never changes the errno and may only raise the level
    assert results[0].errno == results[1].errno
    if results[0].errno == OK:
        assert results[0].outcome.ret["level"] <= results[1].outcome.ret["level"]


@given(server=principal, client=principal, level=st.sampled_from(LEVELS))
def test_peer_level_never_exceeds_the_client_socket_level_imp02(server, client, level):
    """§9.1 / IMP-02, IMP-19, IMP-20: through a socket, the acting level never exceeds the level the
    client set, and matches the spec oracle."""
    from model.scenarios import standard

    w = standard()
    add_principal(w, "srvp", spec_of(server), ["t1"])
    add_principal(w, "clip", spec_of(client), ["c1"])
    sim = Simulator(w)
    k = open_socket(sim, client="c1", server="srvp", level=level)
    rec = sim.call("kacs_impersonate_peer", "t1", socket=k)
    eperm, expected = oracle(server, client, level)
    if eperm:
        assert rec.errno == EPERM
        return
    assert rec.errno == OK
    assert rec.outcome.ret["level"] == expected <= level
    assert_acting_level_invariant(sim, "t1")


@given(server=principal, client=principal, level=st.sampled_from(LEVELS))
def test_gate_helper_matches_oracle_imp19(server, client, level):
    """§9.2 / IMP-09, IMP-19: ``impersonation_gates`` (shared with the NT profile) agrees with the oracle."""
    w, tok, _ = ioctl_world(server, client, level)
    eperm, got = impersonation_gates(w.state, K(w, "srvp"), tok, D.BV(level, D.LEVEL_W))
    exp_eperm, expected = oracle(server, client, level)
    assert bool(eperm) == exp_eperm
    if not exp_eperm:
        assert int(got) == expected

