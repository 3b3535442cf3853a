"""AccessCheck (§10.10), stage by stage, on concrete tokens and SDs; clause ids cited per test."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model import access as A
from model import domain as D
from model.access import ACE, SD, Label, access_check, explain_access
from model.scenarios import standard
from model.sddl import sd_from_json, sd_from_sddl
from model.world import SpecError

ALICE = "S-1-5-21-1-1-1-1001"
G = "S-1-5-21-9-9-9-500"  # a group alice may hold
TM = D.TOKEN_MAPPING


def tok(**spec):
    w = standard()
    base = {"user": "alice", "session": "alice-session", "groups": ["Everyone", "Users"],
            "privileges": {}, "policy": ["NO_WRITE_UP"]}
    base.update(spec)
    return w, w.add_token("t", base)


def sd(aces=(), owner="S-1-5-18", **kw):
    return SD(owner, True, [ACE(True, a[0] == "A", "IO" in a[3:], a[1], D.mask(a[2])) for a in aces], **kw)


def check(spec: dict, s: SD, desired, mapping=TM, intent=0, self_sid=None):
    w, t = tok(**spec)
    return access_check(w.state, t, s, D.mask(int(desired)), mapping, intent, self_sid)


Q, ADJ, QA = int(D.TOKEN_QUERY), int(D.TOKEN_ADJUST_GROUPS), int(D.TOKEN_QUERY | D.TOKEN_ADJUST_GROUPS)


# ---------------------------------------------------------------- steps 0-2
def test_dead_session_gets_nothing():  # §10.10 step 0
    w, t = tok()
    w.state.set("sess_dead", w.state.value("token_session", t), True)
    d = access_check(w.state, t, sd([("A", D.SID_EVERYONE, Q)]), D.mask(Q), TM)
    assert (d.granted, d.allowed, d.denied_by_gate) == (0, False, True)


def test_identification_gate_but_anonymous_proceeds():  # §10.10 step 1, §9.1
    d = check({"type": "impersonation", "level": "Identification"}, sd([("A", D.SID_EVERYONE, Q)]), Q)
    assert (d.granted, d.allowed) == (0, False)
    d = check({"type": "impersonation", "level": "Anonymous"}, sd([("A", D.SID_EVERYONE, Q)]), Q)
    assert d.allowed


def test_null_sd_and_missing_owner_are_errors():  # §10.10 step 2
    d = check({}, SD(D.SID_NULL, False, [], valid=False), Q)
    assert (d.error, d.allowed, d.granted) == (True, False, 0)
    d = check({}, sd([("A", D.SID_EVERYONE, Q)], owner_present=False), Q)
    assert d.error and not d.allowed


# ---------------------------------------------------------------- step 3: mapping, MAXIMUM_ALLOWED
def test_generic_mapping_with_caller_mapping():  # §3.3, AC-09
    d = check({}, sd([("A", D.SID_EVERYONE, int(D.GENERIC_READ))]), D.GENERIC_READ, mapping=D.PROCESS_MAPPING)
    assert d.allowed and d.mapped_desired == D.PROCESS_MAPPING.read
    d = check({}, sd([("A", D.SID_EVERYONE, int(D.GENERIC_READ))]), D.GENERIC_READ, mapping=A.FILE_MAPPING)
    assert d.allowed and int(d.granted) == int(A.FILE_MAPPING.read)


def test_maximum_allowed():  # AC-18, AC-19, AC-20
    s = sd([("A", D.SID_EVERYONE, Q)])
    d = check({}, s, D.MAXIMUM_ALLOWED)
    assert d.allowed and d.max_allowed and d.granted == Q and d.mapped_desired == 0
    assert not check({}, s, int(D.MAXIMUM_ALLOWED) | ADJ).allowed
    assert check({}, sd([]), D.MAXIMUM_ALLOWED).allowed  # pure MAXIMUM_ALLOWED always succeeds


# ---------------------------------------------------------------- steps 4-5, 10: privileges
def test_security_privilege_and_intent_gating():  # PRIV-06, PRIV-08, MIC-06
    priv = {"privileges": {"SeSecurityPrivilege": ["enabled"], "SeBackupPrivilege": ["enabled"],
                           "SeRestorePrivilege": ["enabled"]}, "integrity": "Low"}
    s = sd([])
    assert check(priv, s, D.ACCESS_SYSTEM_SECURITY).allowed
    assert not check({}, s, D.ACCESS_SYSTEM_SECURITY).allowed
    assert not check(priv, s, D.TOKEN_QUERY).allowed  # backup invisible without intent
    assert check(priv, s, D.TOKEN_QUERY, intent=A.BACKUP_INTENT).allowed
    assert not check(priv, s, D.TOKEN_ADJUST_GROUPS, intent=A.BACKUP_INTENT).allowed
    d = check(priv, s, D.TOKEN_ADJUST_GROUPS, intent=A.RESTORE_INTENT)  # Low caller: MIC does not revoke privileges
    assert d.allowed and d.privilege_granted & ADJ


def test_take_ownership_beats_dacl_deny_but_not_mic():  # §3.7, §10.10 step 10
    priv = {"privileges": {"SeTakeOwnershipPrivilege": ["enabled"]}}
    s = sd([("D", D.SID_EVERYONE, int(D.WRITE_OWNER))])
    assert check(priv, s, D.WRITE_OWNER).allowed
    assert not check({}, s, D.WRITE_OWNER).allowed
    low = dict(priv, integrity="Low")
    assert not check(low, s, D.WRITE_OWNER).allowed  # MIC decided WRITE_OWNER: mandatory
    relabel = {"privileges": {"SeTakeOwnershipPrivilege": ["enabled"], "SeRelabelPrivilege": ["enabled"]},
               "integrity": "Low"}
    assert check(relabel, s, D.WRITE_OWNER).allowed  # MIC-08


# ---------------------------------------------------------------- step 6: MIC
def test_mic_default_label_and_policies():  # MIC-03, MIC-05, MIC-09, MIC-11, MIC-16..20
    s = sd([("A", D.SID_EVERYONE, int(D.TOKEN_ALL_ACCESS))])
    assert not check({"integrity": "Low"}, s, ADJ).allowed  # default Medium NO_WRITE_UP
    assert check({"integrity": "Low"}, s, Q).allowed
    assert check({"integrity": "Low", "policy": []}, s, ADJ).allowed  # MIC off for this token
    assert check({"integrity": "Medium"}, s, ADJ).allowed  # dominant
    lab = lambda pol, **kw: sd([("A", D.SID_EVERYONE, int(D.TOKEN_ALL_ACCESS))],  # noqa: E731
                               labels=[Label(True, False, D.IL_HIGH, D.BV(pol, 3))], **kw)
    assert not check({}, lab(0x1), Q).allowed  # NO_READ_UP
    assert not check({}, lab(0x4), D.TOKEN_IMPERSONATE).allowed  # NO_EXECUTE_UP
    assert check({}, lab(0x2), D.TOKEN_IMPERSONATE).allowed
    assert check({}, lab(0x2), D.READ_CONTROL).allowed


def test_first_non_inherit_only_label():  # MIC-12
    labels = [Label(True, True, D.IL_LOW, D.BV(2, 3)), Label(True, False, D.IL_HIGH, D.BV(2, 3)),
              Label(True, False, D.IL_LOW, D.BV(2, 3))]
    s = sd([("A", D.SID_EVERYONE, ADJ)], labels=labels)
    assert not check({}, s, ADJ).allowed


# ---------------------------------------------------------------- step 7, 9: the DACL walk
def test_first_writer_wins_and_matching():  # AC-01..AC-06, AC-08
    s = sd([("D", G, ADJ), ("A", D.SID_EVERYONE, QA)])
    assert not check({"groups": ["Everyone", G]}, s, ADJ).allowed
    assert check({"groups": ["Everyone", {"sid": G, "attrs": []}]}, s, ADJ).allowed  # AC-06
    assert not check({"groups": ["Everyone", {"sid": G, "attrs": ["USE_FOR_DENY_ONLY"]}]}, s, ADJ).allowed  # AC-05
    allow_g = sd([("A", G, ADJ)])
    assert not check({"groups": [{"sid": G, "attrs": ["ENABLED", "USE_FOR_DENY_ONLY"]}]}, allow_g, ADJ).allowed
    assert check({"groups": [G]}, allow_g, ADJ).allowed  # AC-04
    assert check({}, sd([("A", D.SID_EVERYONE, Q), ("D", D.SID_EVERYONE, Q)]), Q).allowed  # AC-01
    assert not check({}, sd([("A", D.SID_EVERYONE, Q, "IO")]), Q).allowed  # AC-08


def test_user_deny_only():  # AC-07
    s = sd([("A", ALICE, Q)])
    assert not check({"user_deny_only": True}, s, Q).allowed
    assert not check({"user_deny_only": True}, sd([("D", ALICE, Q), ("A", D.SID_EVERYONE, Q)]), Q).allowed


def test_null_and_empty_dacl():  # AC-10, AC-11
    null = SD("S-1-5-18", False, [])
    d = check({}, null, D.MAXIMUM_ALLOWED)
    assert d.granted == D.TOKEN_ALL_ACCESS
    assert not check({}, sd([]), Q).allowed


def test_owner_implicit_rights_and_owner_rights():  # AC-14, AC-16, AC-17, §3.7
    s = sd([("D", D.SID_EVERYONE, int(D.READ_CONTROL | D.WRITE_DAC))], owner=ALICE)
    assert check({}, s, D.READ_CONTROL | D.WRITE_DAC).allowed  # implicit before the walk
    ors = sd([("A", D.SID_OWNER_RIGHTS, int(D.READ_CONTROL))], owner=ALICE)
    assert check({}, ors, D.READ_CONTROL).allowed and not check({}, ors, D.WRITE_DAC).allowed
    io = sd([("A", D.SID_OWNER_RIGHTS, int(D.READ_CONTROL), "IO")], owner=ALICE)
    assert check({}, io, D.WRITE_DAC).allowed  # inherit-only OWNER RIGHTS ACE does not suppress
    deny = sd([("D", D.SID_OWNER_RIGHTS, int(D.WRITE_DAC)), ("A", ALICE, int(D.WRITE_DAC))], owner=ALICE)
    assert not check({}, deny, D.WRITE_DAC).allowed


def test_principal_self():  # §10.10 EnrichToken
    s = sd([("A", D.SID_PRINCIPAL_SELF, Q)])
    assert check({}, s, Q, self_sid=ALICE).allowed
    assert not check({}, s, Q, self_sid="S-1-5-21-9-9-9-9").allowed
    assert not check({}, s, Q).allowed
    deny = sd([("D", D.SID_PRINCIPAL_SELF, Q), ("A", D.SID_EVERYONE, Q)])
    only = {"groups": ["Everyone", {"sid": G, "attrs": ["USE_FOR_DENY_ONLY"]}]}
    assert not check(only, deny, Q, self_sid=G).allowed  # deny-only virtual group matches deny ACEs
    assert check(only, s, Q, self_sid=G).allowed is False


# ---------------------------------------------------------------- step 11: restricted
def test_restricted_pass():  # RESTR-01, RESTR-03, RESTR-04, RESTR-06, RESTR-07
    s = sd([("A", D.SID_EVERYONE, Q), ("A", G, ADJ)])
    assert check({"restricted_sids": ["Everyone"]}, s, Q).allowed
    assert not check({"restricted_sids": ["Everyone"]}, s, ADJ).allowed
    assert check({"groups": ["Everyone", G], "restricted_sids": [G]}, s, ADJ).allowed
    owned = sd([], owner=ALICE)
    assert not check({"restricted_sids": ["Everyone"]}, owned, D.READ_CONTROL).allowed
    assert check({"restricted_sids": [ALICE]}, owned, D.READ_CONTROL).allowed  # RESTR-07
    priv = {"restricted_sids": ["Everyone"], "privileges": {"SeSecurityPrivilege": ["enabled"]}}
    assert check(priv, s, D.ACCESS_SYSTEM_SECURITY).allowed  # RESTR-06


def test_write_restricted():  # RESTR-05
    s = sd([("A", D.SID_EVERYONE, QA)])
    wr = {"restricted_sids": [G], "write_restricted": True}
    assert check(wr, s, Q).allowed and not check(wr, s, ADJ).allowed


# ---------------------------------------------------------------- step 12: confinement
def test_confinement_pass():  # §10.6
    pkg, cap = "S-1-15-2-99", "S-1-15-3-1"
    s = sd([("A", D.SID_EVERYONE, QA), ("A", cap, Q)], owner=ALICE)
    conf = {"confinement": {"sid": pkg, "capabilities": [cap]}}
    assert check(conf, s, Q).allowed and not check(conf, s, ADJ).allowed
    assert not check(conf, s, D.READ_CONTROL).allowed  # no owner implicit rights
    priv = dict(conf, privileges={"SeSecurityPrivilege": ["enabled"]})
    assert not check(priv, s, D.ACCESS_SYSTEM_SECURITY).allowed  # no privilege bypass
    assert check({"confinement": {"sid": pkg, "exempt": True}}, s, ADJ).allowed
    assert check(conf, SD(ALICE, False, []), ADJ).allowed  # NULL DACL


# ---------------------------------------------------------------- explain
def test_explain_names_the_deciding_ace_and_stage():
    w, t = tok(groups=["Everyone", G], integrity="Low")
    s = sd([("D", G, ADJ), ("A", D.SID_EVERYONE, Q)], owner=ALICE)
    dec, bits = explain_access(w.state, t, s, D.mask(QA | int(D.READ_CONTROL) | int(D.WRITE_DAC)), TM)
    by = {b.name: (b.granted, b.by) for b in bits}
    assert by["TOKEN_QUERY"] == (True, "granted by ACE #1 (allow S-1-1-0 0x8)")
    assert by["TOKEN_ADJUST_GROUPS"][1].startswith("denied by MIC")
    assert by["READ_CONTROL"] == (True, "granted by owner implicit rights (§10.2, §3.7)")
    assert not dec.allowed


def test_explain_revocations():
    w, t = tok(restricted_sids=["Users"])
    dec, bits = explain_access(w.state, t, sd([("A", D.SID_EVERYONE, Q)]), D.mask(Q), TM)
    assert "revoked by the restricted pass" in bits[0].by and not dec.allowed


# ---------------------------------------------------------------- SDDL / JSON
def test_sddl_and_json_agree():
    a = sd_from_sddl("O:SYD:(D;;0x40;;;BA)(A;;GA;;;WD)S:(ML;;NW;;;HI)")
    b = sd_from_json({"owner": "SYSTEM", "dacl": [{"type": "deny", "sid": "Administrators", "mask": "0x40"},
                                                   {"type": "allow", "sid": "Everyone", "mask": "GENERIC_ALL"}],
                      "label": {"level": "High", "policy": ["NO_WRITE_UP"]}})
    for spec in ({}, {"groups": ["Everyone", "Administrators"]}, {"integrity": "High"}):
        assert check(spec, a, D.MAXIMUM_ALLOWED).granted == check(spec, b, D.MAXIMUM_ALLOWED).granted


@pytest.mark.parametrize("bad", ["", "X:foo", "O:SYD:(A;;GA;;SY)", "O:SYD:(Q;;GA;;;SY)", "O:SYS:(ML;;NW;;;SY)",
                                 "O:SYD:(A;XX;GA;;;SY)", "O:SYD:(A;;GA;;;S-2-1)", "O:SYD:(A;;GA;guid;;SY)"])
def test_sddl_errors(bad):
    with pytest.raises(SpecError):
        sd_from_sddl(bad)


# ---------------------------------------------------------------- hypothesis
SIDS = [D.SID_EVERYONE, G, ALICE, D.SID_OWNER_RIGHTS, "S-1-5-21-9-9-9-7"]
ace_st = st.tuples(st.sampled_from("AD"), st.sampled_from(SIDS),
                   st.sampled_from([Q, ADJ, QA, int(D.READ_CONTROL), int(D.WRITE_DAC), int(D.GENERIC_ALL),
                                    int(D.GENERIC_WRITE), int(D.WRITE_OWNER)]), st.sampled_from(["", "IO"]))
tok_st = st.fixed_dictionaries({
    "groups": st.sampled_from([["Everyone", G], ["Everyone", {"sid": G, "attrs": ["USE_FOR_DENY_ONLY"]}],
                               ["Everyone", {"sid": G, "attrs": []}]]),
    "integrity": st.sampled_from(["Low", "Medium"]),
    "privileges": st.sampled_from([{}, {"SeTakeOwnershipPrivilege": ["enabled"]}]),
})


@given(st.lists(ace_st, max_size=6), tok_st, st.sampled_from([ALICE, "S-1-5-18", G]))
def test_maximum_allowed_agrees_with_targeted_requests(aces, spec, owner):  # AC-13, AC-18
    s = SD(owner, True, [ACE(True, a == "A", io == "IO", sid, D.mask(m)) for a, sid, m, io in aces])
    w, t = tok(**spec)
    mx = access_check(w.state, t, s, D.MAXIMUM_ALLOWED, TM).granted
    for b in [*range(9), 16, 17, 18, 19, 20, 24]:
        assert bool(int(mx) >> b & 1) == bool(access_check(w.state, t, s, D.mask(1 << b), TM).allowed)


@given(st.lists(ace_st, max_size=6), tok_st, st.lists(st.sampled_from(SIDS), max_size=3), st.booleans())
def test_restricted_tokens_never_gain(aces, spec, rsids, wr):  # RESTR-04, RESTR-05
    s = SD(ALICE, True, [ACE(True, a == "A", io == "IO", sid, D.mask(m)) for a, sid, m, io in aces])
    w, t = tok(**spec)
    restricted = dict(spec, restricted_sids=rsids, write_restricted=wr, user_deny_only=wr)
    r = w.add_token("r", {"user": "alice", "session": "alice-session", "policy": ["NO_WRITE_UP"], **restricted})
    for d in (D.MAXIMUM_ALLOWED, D.GENERIC_ALL):
        a, b = access_check(w.state, t, s, d, TM), access_check(w.state, r, s, d, TM)
        assert int(b.granted) & ~int(a.granted) & ~int(b.privilege_granted) == 0


@given(st.lists(ace_st, max_size=6), tok_st, st.sampled_from([ALICE, "S-1-5-18", G]))
def test_dacl_walk_is_the_fold_of_ace_step(aces, spec, owner):  # §10.2, AC-01..03
    """EvaluateDACL's walk is ``fold_aces`` of ``ace_step`` (the step the walk
    induction of tokenproof/relational.py reasons about): recomputing each
    traced ACE step with ``ace_step`` gives the executor's states, and the
    fold of a step that changes nothing leaves the start state."""
    s = SD(owner, True, [ACE(True, a == "A", io == "IO", sid, D.mask(m)) for a, sid, m, io in aces])
    w, t = tok(**spec)
    events = []
    A.access_check(w.state, t, s, D.MAXIMUM_ALLOWED, TM, tracer=lambda ev, **kw: events.append((ev, kw)))
    matcher = A.token_matcher(w.state, t)
    en = A.enrich_token(matcher, s.owner, None)
    normal = [kw for ev, kw in events if ev == "ace" and kw["pass_name"] == "normal"]
    assert len(normal) == len(aces)
    for kw in normal:
        d, g, active = A.ace_step(w.state, kw["ace"], matcher, en, TM, kw["decided_before"], kw["granted_before"])
        assert (int(d), int(g), bool(active)) == (int(kw["decided"]), int(kw["granted"]), bool(kw["active"]))
    skip = lambda d, g, i, a: (d, g)  # noqa: E731  (a step that changes nothing)
    assert A.fold_aces(skip, D.mask(1), D.mask(0), s.aces) == (D.mask(1), D.mask(0))
