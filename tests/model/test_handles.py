"""Opening token handles (§4.8, §13.1 / Appendix A §1): kacs_open_self_token,
kacs_open_process_token, kacs_open_thread_token and kacs_open_peer_token.
Every success path and every errno on the standard world, plus hypothesis
checks of rule facts (a self-open never exceeds the default SD's self rights,
the cached mask never exceeds what AccessCheck granted)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from model import domain as D
from model.access import access_check, read_sd
from model.rules.handles import PEER_TOKEN_MASK
from model.scenarios import SVC, standard
from model.sim import ModelPreconditionError, Simulator
from tests.scenario import standard_world


def ids(w, sort, *names):
    out = tuple(w.names[sort][n] for n in names)
    return out if len(out) > 1 else out[0]


def impersonate(w, thread, token):
    """Put ``thread`` into impersonation of ``token`` (state set-up only)."""
    th, tok = ids(w, "Thread", thread), ids(w, "Token", token)
    s = w.state
    s.set("thread_impersonating", th, True)
    s.set("thread_imp_token", th, tok)
    s.set("thread_imp_level", th, s.value("token_level", tok))


def fd_of(sim, rec):
    p = sim.state.value("thread_proc", rec.actor)
    fd = rec.outcome.ret["fd"]
    return p, fd


def open_fds(state):
    return {k for k, v in state.raw("fd_open").items() if v}


# ====================================================================== kacs_open_self_token
def test_self_open_query_succeeds_rights05(world, sim):
    """§4.8 Implicit access, RIGHTS-05/RIGHTS-16: alice opens her own token for
    TOKEN_QUERY through the default SD's self ACE; the fd caches the mask, is
    O_CLOEXEC (IOCTL-02) and refers to her primary token."""
    rec = sim.call("kacs_open_self_token", "sh1", real=False, access_mask=D.TOKEN_QUERY)
    assert rec.errno == 0
    p, fd = fd_of(sim, rec)
    s = sim.state
    assert s.value("fd_open", (p, fd)) and s.value("fd_cloexec", (p, fd))
    assert s.value("fd_token", (p, fd)) == ids(world, "Token", "alice")
    assert s.value("fd_mask", (p, fd)) == D.TOKEN_QUERY


@pytest.mark.parametrize("right", ["TOKEN_DUPLICATE", "TOKEN_IMPERSONATE", "WRITE_DAC", "TOKEN_ASSIGN_PRIMARY"])
def test_self_open_escalating_rights_denied_rights15(world, sim, right):
    """§4.8 Default token SD, RIGHTS-15: the token's subject is not granted
    TOKEN_DUPLICATE, TOKEN_IMPERSONATE or WRITE_DAC: EACCES, no fd."""
    before = open_fds(sim.state)
    rec = sim.call("kacs_open_self_token", "sh1", real=False, access_mask=D.RIGHT_NAMES[right])
    assert rec.errno == D.EACCES
    assert open_fds(sim.state) == before


def test_self_open_maximum_allowed_caches_self_rights_rights12(world, sim):
    """§4.8 Access check model, DECISIONS.md Cached masks: MAXIMUM_ALLOWED caches
    everything granted, i.e. exactly the self ACE's rights (RIGHTS-12)."""
    rec = sim.call("kacs_open_self_token", "sh1", real=False, access_mask=D.MAXIMUM_ALLOWED)
    assert rec.errno == 0
    assert sim.state.value("fd_mask", fd_of(sim, rec)) == D.TOKEN_SELF_RIGHTS


def test_self_open_generic_read_is_mapped_rights10(world, sim):
    """§4.8 Generic mapping, RIGHTS-10: GENERIC_READ maps to TOKEN_QUERY|READ_CONTROL;
    alice's token SD (creator SYSTEM) does not give her READ_CONTROL: EACCES."""
    rec = sim.call("kacs_open_self_token", "sh1", real=False, access_mask=D.GENERIC_READ)
    assert rec.errno == D.EACCES


def test_self_open_returns_impersonation_token_when_impersonating(world):
    """§13.1 kacs_open_self_token flags 0: the effective (impersonation) token."""
    impersonate(world, "srv1", "alice")
    sim = Simulator(world)
    rec = sim.call("kacs_open_self_token", "srv1", real=False, access_mask=D.TOKEN_QUERY)
    assert rec.errno == 0
    assert sim.state.value("fd_token", fd_of(sim, rec)) == ids(world, "Token", "alice")


def test_self_open_real_token_subject_is_effective_token(world):
    """§13.1 KACS_REAL_TOKEN returns the primary token; the AccessCheck subject
    stays the effective token (DECISIONS.md): svc's thread impersonating alice
    cannot open svc's own token (alice is not in svc's token SD) - EACCES; the
    same call without impersonation succeeds and names svc's token."""
    sim0 = Simulator(standard_world())
    ok = sim0.call("kacs_open_self_token", "srv1", real=True, access_mask=D.TOKEN_QUERY)
    assert ok.errno == 0
    assert sim0.state.value("fd_token", fd_of(sim0, ok)) == ids(sim0.world, "Token", "svc")
    impersonate(world, "srv1", "alice")
    sim = Simulator(world)
    rec = sim.call("kacs_open_self_token", "srv1", real=True, access_mask=D.TOKEN_QUERY)
    assert rec.errno == D.EACCES


def test_self_open_at_identification_level_fails_imp06(world):
    """§9.1, §10.10 step 1, IMP-06: an Identification-level effective token is
    never used for AccessCheck, so even a self-query open fails (EACCES)."""
    world.add_token("alice_id", {"user": "alice", "session": "alice-session", "type": "impersonation",
                                 "level": "Identification", "groups": ["Users", "Everyone"]})
    impersonate(world, "srv1", "alice_id")
    sim = Simulator(world)
    rec = sim.call("kacs_open_self_token", "srv1", real=False, access_mask=D.TOKEN_QUERY)
    assert rec.errno == D.EACCES


def test_self_open_dead_session_fails_sess13(world):
    """§4.7 Effects, SESS-13: AccessCheck denies a token of a dead LogonSession,
    so opening one's own token fails (EACCES)."""
    world.state.set("sess_dead", ids(world, "Session", "alice-session"), True)
    sim = Simulator(world)
    assert sim.call("kacs_open_self_token", "sh1", real=False, access_mask=D.TOKEN_QUERY).errno == D.EACCES


# ====================================================================== kacs_open_process_token
def test_system_opens_alice_process_token_rights02(world, sim):
    """§4.8, §13.1, RIGHTS-02: init (SYSTEM) has PROCESS_QUERY_INFORMATION on
    alice's shell and TOKEN_ALL_ACCESS on her token SD (SYSTEM ACE)."""
    shell = ids(world, "Process", "shell")
    rec = sim.call("kacs_open_process_token", "init", target=shell, access_mask=D.TOKEN_ALL_ACCESS)
    assert rec.errno == 0
    p, fd = fd_of(sim, rec)
    assert sim.state.value("fd_token", (p, fd)) == sim.state.value("proc_primary", shell)
    assert sim.state.value("fd_mask", (p, fd)) == D.TOKEN_ALL_ACCESS
    assert sim.state.value("fd_cloexec", (p, fd))


def test_bob_denied_query_information_on_alice_rights02(world, sim):
    """§13.1 check (1), RIGHTS-02: bob lacks PROCESS_QUERY_INFORMATION on alice's
    process SD (Everyone gets only PROCESS_QUERY_LIMITED): EACCES."""
    rec = sim.call("kacs_open_process_token", "bob1", target=ids(world, "Process", "shell"),
                   access_mask=D.TOKEN_QUERY)
    assert rec.errno == D.EACCES


def test_process_sd_check_runs_even_if_token_sd_grants(world):
    """§13.1 check (1): alice's shell with the alice ACE removed from its process
    SD; her own token SD would grant TOKEN_QUERY, but the open fails EACCES."""
    shell = ids(world, "Process", "shell")
    world.state.set("proc_sd_ace0_present", shell, False)
    sim = Simulator(world)
    rec = sim.call("kacs_open_process_token", "sh1", target=shell, access_mask=D.TOKEN_QUERY)
    assert rec.errno == D.EACCES


def test_own_process_token_checked_against_token_sd(world, sim):
    """§13.1 check (3): alice passes the process SD of her own shell; TOKEN_QUERY
    on her token succeeds, TOKEN_DUPLICATE is refused by the token SD (RIGHTS-15)."""
    shell = ids(world, "Process", "shell")
    assert sim.call("kacs_open_process_token", "sh1", target=shell, access_mask=D.TOKEN_QUERY).errno == 0
    assert sim.call("kacs_open_process_token", "sh1", target=shell,
                    access_mask=D.TOKEN_DUPLICATE).errno == D.EACCES


def test_process_token_dead_target_esrch(world):
    """§13.1: a pidfd naming a process that no longer exists: ESRCH."""
    bobsh = ids(world, "Process", "bobsh")
    world.state.set("proc_alive", bobsh, False)
    sim = Simulator(world)
    assert sim.call("kacs_open_process_token", "init", target=bobsh, access_mask=D.TOKEN_QUERY).errno == D.ESRCH


def test_process_token_is_committed_primary_not_impersonation(world):
    """§13.1: the target's primary token, even while its thread impersonates."""
    impersonate(world, "srv1", "alice")
    sim = Simulator(world)
    rec = sim.call("kacs_open_process_token", "init", target=ids(world, "Process", "server"),
                   access_mask=D.TOKEN_QUERY)
    assert rec.errno == 0
    assert sim.state.value("fd_token", fd_of(sim, rec)) == ids(world, "Token", "svc")


# ====================================================================== kacs_open_thread_token
def test_thread_token_not_impersonating_is_primary(world, sim):
    """§13.1 kacs_open_thread_token: a thread that does not impersonate yields
    its primary token."""
    rec = sim.call("kacs_open_thread_token", "init", target=ids(world, "Process", "shell"),
                   thread=ids(world, "Thread", "sh2"), access_mask=D.TOKEN_QUERY)
    assert rec.errno == 0
    assert sim.state.value("fd_token", fd_of(sim, rec)) == ids(world, "Token", "alice")


def test_thread_token_impersonating_is_impersonation_token(world):
    """§13.1: if the thread impersonates, the impersonation token."""
    impersonate(world, "srv2", "alice")
    sim = Simulator(world)
    rec = sim.call("kacs_open_thread_token", "init", target=ids(world, "Process", "server"),
                   thread=ids(world, "Thread", "srv2"), access_mask=D.TOKEN_QUERY)
    assert rec.errno == 0
    assert sim.state.value("fd_token", fd_of(sim, rec)) == ids(world, "Token", "alice")


@pytest.mark.parametrize("case", ["thread_elsewhere", "dead_thread", "dead_process"])
def test_thread_token_esrch(world, case):
    """§13.1: the thread must be a live thread of the live target process: ESRCH."""
    shell, bobsh = ids(world, "Process", "shell", "bobsh")
    sh2 = ids(world, "Thread", "sh2")
    target = shell
    if case == "thread_elsewhere":
        target = bobsh
    elif case == "dead_thread":
        world.state.set("thread_alive", sh2, False)
    else:
        world.state.set("proc_alive", shell, False)
    sim = Simulator(world)
    rec = sim.call("kacs_open_thread_token", "init", target=target, thread=sh2, access_mask=D.TOKEN_QUERY)
    assert rec.errno == D.ESRCH


def test_thread_token_needs_query_information(world, sim):
    """§13.1: PROCESS_QUERY_INFORMATION on the target's process SD (bob on alice): EACCES."""
    rec = sim.call("kacs_open_thread_token", "bob1", target=ids(world, "Process", "shell"),
                   thread=ids(world, "Thread", "sh2"), access_mask=D.TOKEN_QUERY)
    assert rec.errno == D.EACCES


def test_thread_token_desired_mask_on_token_sd(world, sim):
    """§13.1: the desired mask against the token's SD: alice may query her sibling
    thread's token but not duplicate it (RIGHTS-15)."""
    kw = dict(target=ids(world, "Process", "shell"), thread=ids(world, "Thread", "sh2"))
    assert sim.call("kacs_open_thread_token", "sh1", access_mask=D.TOKEN_QUERY, **kw).errno == 0
    assert sim.call("kacs_open_thread_token", "sh1", access_mask=D.TOKEN_DUPLICATE, **kw).errno == D.EACCES


# ====================================================================== kacs_open_peer_token
def peer_world(level=D.IMPERSONATION, client="alice", anon_everyone=False, has_peer=True):
    w = standard(anon_everyone)
    server = ids(w, "Process", "server")
    k = w.add_socket("sock", server)
    s = w.state
    s.set("sock_connected", k, True)
    s.set("sock_has_peer", k, has_peer)
    s.set("sock_peer_token", k, ids(w, "Token", client))
    s.set("sock_peer_level", k, int(level))
    return w, k


@pytest.mark.parametrize("level", [D.IDENTIFICATION, D.IMPERSONATION, D.DELEGATION])
def test_peer_token_is_copy_at_stored_level_rights03(level):
    """§13.1 kacs_open_peer_token, §4.8 RIGHTS-03: the fd caches exactly
    TOKEN_QUERY|TOKEN_IMPERSONATE and refers to a fresh impersonation token at
    the level stored on the socket (DECISIONS.md), a copy of the peer's identity
    with modified_id 0, Default elevation and a default SD created by the server."""
    w, k = peer_world(level)
    sim = Simulator(w)
    alice = ids(w, "Token", "alice")
    before = {f: sim.state.value(f, alice) for f in ("token_user", "token_groups", "token_level", "token_primary")}
    rec = sim.call("kacs_open_peer_token", "srv1", socket=k)
    assert rec.errno == 0
    s = sim.state
    p, fd = fd_of(sim, rec)
    t = rec.outcome.ret["token"]
    assert s.value("fd_token", (p, fd)) == t != alice
    assert s.value("fd_mask", (p, fd)) == PEER_TOKEN_MASK
    assert s.value("fd_cloexec", (p, fd))
    assert not s.value("token_primary", t) and s.value("token_level", t) == level
    for f in ("token_user", "token_groups", "token_g_enabled", "token_privs_present", "token_integrity",
              "token_session", "token_logon_sid", "token_group_sid0"):
        assert s.value(f, t) == s.value(f, alice), f
    assert s.value("token_modified_id", t) == 0 and s.value("token_elevation", t) == D.ELEV_DEFAULT
    assert s.value("token_sd_owner", t) == SVC
    assert {f: s.value(f, alice) for f in before} == before  # the stored token is unchanged


@pytest.mark.parametrize("everyone", [False, True])
def test_peer_token_anonymous_level_strips_identity_imp25(everyone):
    """§9.3 Anonymous semantics, IMP-04/IMP-25/IMP-26: at Anonymous level the
    peer token is S-1-5-7, no privileges, Untrusted, no groups except Everyone
    under the Anonymous-in-Everyone policy, in the ANONYMOUS session."""
    w, k = peer_world(D.ANONYMOUS, anon_everyone=everyone)
    sim = Simulator(w)
    rec = sim.call("kacs_open_peer_token", "srv1", socket=k)
    assert rec.errno == 0
    s, t = sim.state, rec.outcome.ret["token"]
    assert s.value("token_user", t) == D.SID_ANONYMOUS
    assert s.value("token_privs_present", t) == 0 and s.value("token_privs_enabled", t) == 0
    assert s.value("token_integrity", t) == D.IL_UNTRUSTED
    assert s.value("token_session", t) == s.value("anon_session")
    assert s.value("token_groups", t) == (1 if everyone else 0)
    assert s.value("token_level", t) == D.ANONYMOUS and not s.value("token_primary", t)
    assert s.value("fd_mask", fd_of(sim, rec)) == PEER_TOKEN_MASK


def test_peer_token_not_server_ebadf():
    """§13.1 sock_fd: a thread whose process does not hold the server end: EBADF."""
    w, k = peer_world()
    assert Simulator(w).call("kacs_open_peer_token", "sh1", socket=k).errno == D.EBADF


def test_peer_token_dead_socket_ebadf():
    """§13.1 sock_fd: a socket that no longer exists: EBADF."""
    w, k = peer_world()
    w.state.set("sock_alive", k, False)
    assert Simulator(w).call("kacs_open_peer_token", "srv1", socket=k).errno == D.EBADF


def test_peer_token_without_snapshot_eacces():
    """§13.1: a socket without a captured KACS peer token fails closed: EACCES."""
    w, k = peer_world(has_peer=False)
    before = open_fds(w.state)
    sim = Simulator(w)
    assert sim.call("kacs_open_peer_token", "srv1", socket=k).errno == D.EACCES
    assert open_fds(sim.state) == before


def test_peer_token_fresh_fd_must_be_unused():
    """Model precondition: the kernel allocates an unused fd number."""
    w, k = peer_world()
    server = ids(w, "Process", "server")
    used = w.add_fd(server, ids(w, "Token", "svc"), int(D.TOKEN_QUERY))
    with pytest.raises(ModelPreconditionError):
        Simulator(w).call("kacs_open_peer_token", "srv1", socket=k, fd=used)


# ====================================================================== hypothesis: rule facts
rights = hs.integers(0, 2**32 - 1)


@given(mask=rights, real=hs.booleans())
def test_self_open_never_exceeds_self_rights_rights15(mask, real):
    """§4.8 Default token SD, RIGHTS-15: whatever alice asks for, a handle to her
    own token never carries more than TOKEN_SELF_RIGHTS."""
    sim = Simulator(standard_world())
    rec = sim.call("kacs_open_self_token", "sh1", real=real, access_mask=mask)
    if rec.errno == 0:
        cached = sim.state.value("fd_mask", fd_of(sim, rec))
        assert cached & ~int(D.TOKEN_SELF_RIGHTS) == 0
    else:
        assert rec.errno == D.EACCES


@given(mask=rights, who=hs.sampled_from(["init", "sh1", "bob1", "srv1"]),
       target=hs.sampled_from(["shell", "bobsh", "server", "init"]))
def test_process_open_caches_only_granted_rights16(mask, who, target):
    """§4.8 Access check model, RIGHTS-02/RIGHTS-16: a successful process-token
    open caches a mask inside what AccessCheck grants the caller on that token's
    SD, and fails (EACCES) exactly when the caller lacks PROCESS_QUERY_INFORMATION
    or a desired right."""
    w = standard_world()
    sim = Simulator(w)
    pre = sim.state
    th = ids(w, "Thread", who)
    subject = pre.value("thread_real", th)
    pid = ids(w, "Process", target)
    tok = pre.value("proc_primary", pid)
    rec = sim.call("kacs_open_process_token", who, target=pid, access_mask=mask)
    pq = access_check(pre, subject, read_sd(pre, "proc_sd", pid), D.PROCESS_QUERY_INFORMATION,
                      D.PROCESS_MAPPING).allowed
    dec = access_check(pre, subject, read_sd(pre, "token_sd", tok), mask, D.TOKEN_MAPPING)
    assert (rec.errno == 0) == (pq and dec.allowed)
    if rec.errno == 0:
        assert sim.state.value("fd_mask", fd_of(sim, rec)) & ~int(dec.granted) == 0
    else:
        assert rec.errno == D.EACCES

