"""LogonSessions (§4.7) and linked-token elevation (§4.6): every success
path and errno of kacs_create_logon_session, kacs_invalidate_logon_session,
kacs_destroy_empty_logon_session, KACS_IOC_LINK_TOKENS and
KACS_IOC_GET_LINKED_TOKEN on the standard world."""

from __future__ import annotations

import pytest

from model import domain as D
from model.scenarios import ALICE, user_token_spec
from model.sim import Simulator
from model.world import logon_sid
from tests.scenario import standard_world

DUPQ = int(D.TOKEN_DUPLICATE | D.TOKEN_QUERY)
# fds in init's process (SYSTEM, holds SeTcbPrivilege)
FULL, FILT, OTHER_SESS, IMP, BOBTOK, FULL_QONLY, FULL_AGAIN, FILT2 = range(3, 11)
# fds in alice's shell (no SeTcbPrivilege), TOKEN_QUERY only
A_FILT, A_FULL, A_OWN, A_FILT_NOQUERY = range(3, 7)


def link_world():
    """Standard world plus candidate pair tokens of alice in alice-session."""
    w = standard_world()
    init, shell = w.names["Process"]["init"], w.names["Process"]["shell"]
    toks = {
        "full": w.add_token("full", user_token_spec("alice", "alice-session", integrity="High",
                                                    groups=["Users", "Administrators"])),
        "filt": w.add_token("filt", user_token_spec("alice", "alice-session")),
        "other": w.add_token("other", user_token_spec("alice", "bob-session")),
        "imp": w.add_token("imp", user_token_spec("alice", "alice-session", type="impersonation")),
        "bobtok": w.add_token("bobtok", user_token_spec("bob", "alice-session")),
        "filt2": w.add_token("filt2", user_token_spec("alice", "alice-session")),
    }
    for fd, name, mask in ((FULL, "full", DUPQ), (FILT, "filt", DUPQ), (OTHER_SESS, "other", DUPQ),
                           (IMP, "imp", DUPQ), (BOBTOK, "bobtok", DUPQ), (FULL_QONLY, "full", int(D.TOKEN_QUERY)),
                           (FULL_AGAIN, "full", DUPQ), (FILT2, "filt2", DUPQ)):
        assert w.add_fd(init, toks[name], mask) == fd
    q = int(D.TOKEN_QUERY)
    for fd, tok, mask in ((A_FILT, toks["filt"], q), (A_FULL, toks["full"], q),
                          (A_OWN, w.names["Token"]["alice"], q), (A_FILT_NOQUERY, toks["filt"], int(D.TOKEN_DUPLICATE))):
        assert w.add_fd(shell, tok, mask) == fd
    return w, toks


@pytest.fixture
def lw():
    w, toks = link_world()
    return Simulator(w), toks, w.names["Session"]["alice-session"]


def v(sim, name, key=None):
    return sim.state.value(name, key)


def link(sim, sess, e=FULL, f=FILT, actor="init"):
    return sim.call("ioctl_link_tokens", actor, elevated_fd=e, filtered_fd=f, session=sess)


def tcb_used(sim):
    return bool(v(sim, "token_privs_used", sim.world.names["Token"]["system"]) & int(D.SE_TCB))


# ====================================================================== create
def test_create_logon_session_SESS01(sim):
    """§4.7 Creation, Appendix A kacs_create_logon_session (SESS-01, SESS-12): the
    session gets the next LUID and the logon SID S-1-5-5-X-Y derived from it;
    alive, not dead, unlinked, no token yet."""
    luid = v(sim, "next_luid")
    rec = sim.call("kacs_create_logon_session", "init")
    assert rec.errno == 0
    sess = rec.outcome.ret["session"]
    assert v(sim, "sess_alive", sess) and not v(sim, "sess_dead", sess)
    assert v(sim, "sess_luid", sess) == luid
    assert v(sim, "sess_logon_sid", sess) == logon_sid(luid) == f"S-1-5-5-0-{luid}"
    assert not v(sim, "sess_had_token", sess) and not v(sim, "sess_linked", sess)
    assert v(sim, "next_luid") == luid + 1
    rec2 = sim.call("kacs_create_logon_session", "init")
    s2 = rec2.outcome.ret["session"]
    assert s2 != sess and v(sim, "sess_luid", s2) == luid + 1
    assert v(sim, "sess_logon_sid", s2) != v(sim, "sess_logon_sid", sess)
    assert tcb_used(sim)


def test_create_logon_session_needs_tcb_eperm(sim):
    """Appendix A kacs_create_logon_session (§4.7): without SeTcbPrivilege EPERM,
    no session is created and no LUID consumed."""
    luid = v(sim, "next_luid")
    rec = sim.call("kacs_create_logon_session", "sh1")
    assert rec.errno == D.EPERM
    assert not v(sim, "sess_alive", rec.args["session"])
    assert v(sim, "next_luid") == luid


# ====================================================================== invalidate
def test_invalidate_is_one_way_and_idempotent_SESS11_SESS12(sim, world):
    """§4.7 Mechanism (SESS-11, SESS-12): invalidation sets the dead flag; a
    second call returns 0 and the session stays dead; later session operations
    do not revive it; other sessions are untouched."""
    sess, bob = world.names["Session"]["alice-session"], world.names["Session"]["bob-session"]
    assert sim.call("kacs_invalidate_logon_session", "init", session=sess).errno == 0
    assert v(sim, "sess_dead", sess) and not v(sim, "sess_dead", bob)
    assert sim.call("kacs_invalidate_logon_session", "init", session=sess).errno == 0
    assert sim.call("kacs_create_logon_session", "init").errno == 0
    assert sim.call("kacs_destroy_empty_logon_session", "init", session=sess).errno == D.EBUSY
    assert v(sim, "sess_dead", sess) and v(sim, "sess_alive", sess)


def test_invalidate_errnos_SESS11(sim, world):
    """Appendix A kacs_invalidate_logon_session (§4.7): EPERM without
    SeTcbPrivilege; ENOENT for a nonexistent session."""
    sess = world.names["Session"]["alice-session"]
    assert sim.call("kacs_invalidate_logon_session", "sh1", session=sess).errno == D.EPERM
    assert not v(sim, "sess_dead", sess)
    assert sim.call("kacs_invalidate_logon_session", "init", session=99).errno == D.ENOENT
    assert not v(sim, "sess_dead", 99)


def test_adjust_still_works_on_dead_session_token_SESS17(world):
    """§4.7 Effects (SESS-17): adjusting a token of a dead LogonSession still works."""
    alice = world.names["Token"]["alice"]
    world.add_fd(world.names["Process"]["shell"], alice, int(D.TOKEN_ADJUST_PRIVILEGES))
    sim = Simulator(world)
    assert sim.call("kacs_invalidate_logon_session", "init", session=world.names["Session"]["alice-session"]).errno == 0
    rec = sim.call("ioctl_adjust_privs", "sh1", fd=3, enable=0, disable=D.SE_CHANGE_NOTIFY, remove=0,
                   reset=False, entries_ok=True)
    assert rec.errno == 0
    assert not v(sim, "token_privs_enabled", alice) & int(D.SE_CHANGE_NOTIFY)


# ====================================================================== destroy_empty
def test_destroy_empty_session_SESS04_SESS06(sim):
    """§4.7 Empty-LogonSession rollback (SESS-04, SESS-06, SESS-07): a session
    with no token is destroyed; destroying it again is ENOENT."""
    sess = sim.call("kacs_create_logon_session", "init").outcome.ret["session"]
    assert sim.call("kacs_destroy_empty_logon_session", "init", session=sess).errno == 0
    assert not v(sim, "sess_alive", sess)
    assert sim.call("kacs_destroy_empty_logon_session", "init", session=sess).errno == D.ENOENT


def test_destroy_empty_with_live_token_is_ebusy_SESS08(sim, world):
    """§4.7 (SESS-08): bob's session has a live token: EBUSY, session kept; the
    SeTcbPrivilege gate had accepted, so the privilege is marked used (PRIV-03)."""
    bob = world.names["Session"]["bob-session"]
    assert not tcb_used(sim)
    assert sim.call("kacs_destroy_empty_logon_session", "init", session=bob).errno == D.EBUSY
    assert v(sim, "sess_alive", bob)
    assert tcb_used(sim)


def test_destroy_empty_with_linked_state_is_ebusy_SESS08(world):
    """§4.7 (SESS-08): linked-token state alone makes the session busy."""
    sim = Simulator(world)
    sess = sim.call("kacs_create_logon_session", "init").outcome.ret["session"]
    world.state.set("sess_linked", sess, True)
    assert sim.call("kacs_destroy_empty_logon_session", "init", session=sess).errno == D.EBUSY
    assert v(sim, "sess_alive", sess)


def test_destroy_empty_errnos_SESS05_SESS07(sim):
    """§4.7 (SESS-05, SESS-07): EPERM without SeTcbPrivilege (before any
    existence check); ENOENT for a nonexistent session."""
    sess = sim.call("kacs_create_logon_session", "init").outcome.ret["session"]
    assert sim.call("kacs_destroy_empty_logon_session", "sh1", session=sess).errno == D.EPERM
    assert sim.call("kacs_destroy_empty_logon_session", "sh1", session=77).errno == D.EPERM
    assert v(sim, "sess_alive", sess)
    assert sim.call("kacs_destroy_empty_logon_session", "init", session=77).errno == D.ENOENT


# ====================================================================== link tokens
def test_link_tokens_IOCTL33(lw):
    """§4.6, Appendix A KACS_IOC_LINK_TOKENS (IOCTL-33, ELEV-07): the pair is
    registered on the session; elevated → Full, filtered → Limited."""
    sim, toks, sess = lw
    assert v(sim, "token_elevation", toks["full"]) == D.ELEV_DEFAULT
    rec = link(sim, sess)
    assert rec.errno == 0
    assert v(sim, "sess_linked", sess)
    assert (v(sim, "sess_elevated", sess), v(sim, "sess_filtered", sess)) == (toks["full"], toks["filt"])
    assert v(sim, "token_elevation", toks["full"]) == D.ELEV_FULL
    assert v(sim, "token_elevation", toks["filt"]) == D.ELEV_LIMITED
    assert tcb_used(sim)


def test_link_tokens_needs_tcb_IOCTL34(lw):
    """Appendix A (IOCTL-34): without SeTcbPrivilege EPERM (alice's fds even hold the tokens)."""
    sim, toks, sess = lw
    assert link(sim, sess, e=A_FULL, f=A_FILT, actor="sh1").errno == D.EPERM
    assert not v(sim, "sess_linked", sess)
    assert v(sim, "token_elevation", toks["full"]) == D.ELEV_DEFAULT


def test_link_tokens_ebadf_and_eacces_IOCTL34(lw):
    """Appendix A (IOCTL-34): a closed fd is EBADF; an fd without TOKEN_DUPLICATE is EACCES."""
    sim, toks, sess = lw
    assert link(sim, sess, e=FULL, f=30).errno == D.EBADF
    assert link(sim, sess, e=30, f=FILT).errno == D.EBADF
    assert link(sim, sess, e=FULL_QONLY, f=FILT).errno == D.EACCES
    assert not v(sim, "sess_linked", sess)


def test_link_token_to_itself_is_einval_IOCTL35(lw):
    """Appendix A (IOCTL-35): two fds naming the same token: EINVAL."""
    sim, toks, sess = lw
    assert link(sim, sess, e=FULL, f=FULL_AGAIN).errno == D.EINVAL
    assert link(sim, sess, e=FULL, f=FULL).errno == D.EINVAL
    assert v(sim, "token_elevation", toks["full"]) == D.ELEV_DEFAULT


@pytest.mark.parametrize("f,clause", [(OTHER_SESS, "ELEV-02"), (IMP, "ELEV-03"), (BOBTOK, "ELEV-04")])
def test_link_requires_same_session_primary_same_user_IOCTL32(lw, f, clause):
    """§4.6, Appendix A (IOCTL-32): both tokens in the named session, primary, same user: else EINVAL."""
    sim, toks, sess = lw
    assert link(sim, sess, f=f).errno == D.EINVAL, clause
    assert not v(sim, "sess_linked", sess)


def test_link_session_argument_must_match_IOCTL32(lw):
    """Appendix A (IOCTL-32): "belongs to" compares with the logon_session_id argument."""
    sim, toks, sess = lw
    bob = sim.world.names["Session"]["bob-session"]
    assert link(sim, bob).errno == D.EINVAL
    assert not v(sim, "sess_linked", bob) and not v(sim, "sess_linked", sess)


def test_link_role_change_is_einval_IOCTL36(lw):
    """§4.2 Elevation, Appendix A (IOCTL-36): a Limited token cannot be relinked
    as elevated and a Full token not as filtered."""
    sim, toks, sess = lw
    assert link(sim, sess).errno == 0
    assert link(sim, sess, e=FILT, f=FILT2).errno == D.EINVAL
    assert link(sim, sess, e=FILT2, f=FULL).errno == D.EINVAL
    assert (v(sim, "sess_elevated", sess), v(sim, "sess_filtered", sess)) == (toks["full"], toks["filt"])
    assert v(sim, "token_elevation", toks["filt2"]) == D.ELEV_DEFAULT


def test_relink_replaces_pair_and_old_member_keeps_role_ELEV15(lw):
    """§4.6 Lifecycle (IOCTL-35, ELEV-05, ELEV-15): relinking Full with a new
    filtered token replaces the pair; the displaced token stays Limited but
    GET_LINKED_TOKEN on it is ENOENT."""
    sim, toks, sess = lw
    assert link(sim, sess).errno == 0
    assert link(sim, sess, e=FULL, f=FILT2).errno == 0
    assert v(sim, "sess_filtered", sess) == toks["filt2"]
    assert v(sim, "token_elevation", toks["filt"]) == D.ELEV_LIMITED
    assert v(sim, "token_elevation", toks["filt2"]) == D.ELEV_LIMITED
    assert sim.call("ioctl_get_linked_token", "init", fd=FILT).errno == D.ENOENT
    rec = sim.call("ioctl_get_linked_token", "init", fd=FILT2)
    assert rec.errno == 0 and rec.outcome.ret["token"] == toks["full"]


# ====================================================================== get linked token
def test_get_linked_with_tcb_returns_real_partner_IOCTL39(lw):
    """§4.6, Appendix A (ELEV-11, IOCTL-39): with SeTcbPrivilege the new fd is a
    TOKEN_ALL_ACCESS handle to the partner itself; no token is created."""
    sim, toks, sess = lw
    assert link(sim, sess).errno == 0
    next_id = v(sim, "next_token_id")
    init = sim.world.names["Process"]["init"]
    for fd, partner in ((FILT, "full"), (FULL, "filt")):
        rec = sim.call("ioctl_get_linked_token", "init", fd=fd)
        assert rec.errno == 0
        new_fd = rec.outcome.ret["fd"]
        assert v(sim, "fd_open", (init, new_fd)) and v(sim, "fd_cloexec", (init, new_fd))
        assert v(sim, "fd_token", (init, new_fd)) == toks[partner]
        assert v(sim, "fd_mask", (init, new_fd)) == D.TOKEN_ALL_ACCESS
    assert v(sim, "next_token_id") == next_id
    assert not v(sim, "token_alive", rec.args["clone"])


def test_get_linked_without_tcb_is_identification_clone_ELEV08_ELEV09(lw):
    """§4.6 (ELEV-08, ELEV-09, IOCTL-38): without SeTcbPrivilege alice gets a
    TOKEN_QUERY-only fd to a new Identification-level clone of the elevated
    partner: new id, modified_id = its token id, fresh default SD owned by the
    caller, the partner's Full elevation, the partner's identity."""
    sim, toks, sess = lw
    assert link(sim, sess).errno == 0
    shell = sim.world.names["Process"]["shell"]
    full = toks["full"]
    rec = sim.call("ioctl_get_linked_token", "sh1", fd=A_FILT)
    assert rec.errno == 0
    clone = rec.outcome.ret["token"]
    new_fd = rec.outcome.ret["fd"]
    assert clone != full and clone == rec.args["clone"]
    assert v(sim, "fd_token", (shell, new_fd)) == clone
    assert v(sim, "fd_mask", (shell, new_fd)) == D.TOKEN_QUERY
    assert v(sim, "token_alive", clone)
    assert not v(sim, "token_primary", clone)
    assert v(sim, "token_level", clone) == D.IDENTIFICATION
    assert v(sim, "token_elevation", clone) == D.ELEV_FULL
    assert v(sim, "token_id", clone) != v(sim, "token_id", full)
    assert v(sim, "token_modified_id", clone) == v(sim, "token_id", clone)
    assert v(sim, "token_sd_owner", clone) == ALICE
    for f in ("token_user", "token_groups", "token_g_enabled", "token_group_sid1", "token_privs_present",
              "token_integrity", "token_session"):
        assert v(sim, f, clone) == v(sim, f, full), f
    # the partner itself is untouched and the clone is not part of the pair
    assert v(sim, "token_elevation", full) == D.ELEV_FULL and v(sim, "sess_elevated", sess) == full
    assert sim.call("ioctl_get_linked_token", "sh1", fd=new_fd).errno == D.ENOENT


def test_get_linked_from_elevated_side_without_tcb_ELEV07(lw):
    """§4.6 (ELEV-07): either member retrieves its partner: from the elevated
    token alice gets a clone of the filtered token, keeping Limited."""
    sim, toks, sess = lw
    assert link(sim, sess).errno == 0
    rec = sim.call("ioctl_get_linked_token", "sh1", fd=A_FULL)
    assert rec.errno == 0
    clone = rec.outcome.ret["token"]
    assert v(sim, "token_elevation", clone) == D.ELEV_LIMITED
    assert v(sim, "token_integrity", clone) == v(sim, "token_integrity", toks["filt"])


def test_get_linked_errnos_IOCTL37(lw):
    """Appendix A (IOCTL-37, ELEV-06): EBADF for a closed fd; EACCES without
    TOKEN_QUERY; ENOENT for a Default token and before any pair exists."""
    sim, toks, sess = lw
    assert sim.call("ioctl_get_linked_token", "sh1", fd=A_FILT).errno == D.ENOENT
    assert link(sim, sess).errno == 0
    assert sim.call("ioctl_get_linked_token", "sh1", fd=40).errno == D.EBADF
    assert sim.call("ioctl_get_linked_token", "sh1", fd=A_FILT_NOQUERY).errno == D.EACCES
    rec = sim.call("ioctl_get_linked_token", "sh1", fd=A_OWN)
    assert rec.errno == D.ENOENT
    assert not v(sim, "token_alive", rec.args["clone"])
    assert not v(sim, "fd_open", (sim.world.names["Process"]["shell"], rec.args["new_fd"]))
