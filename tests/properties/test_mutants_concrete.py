"""Every seeded mutant breaks a property that names it, shown by a hand-written
concrete trace from the standard world (model/scenarios.py), run by the
Simulator with the mutant's rule set; the same trace with the real rules does
not break the property.  The properties expected refuted get their concrete
witness here too, with the real rules.

Standard world ids: processes init=1 shell=2 bobsh=3 server=4; tokens
system=1 anonymous=2 alice=3 bob=4 svc=5; sessions system=1 anonymous=2
alice=3 bob=4 svc=5; sockets and new objects are numbered from 1 / the next
free id.  Mutants without a trace here (the BMC checks them automatically):
see ``UNTRACED``.
"""

from __future__ import annotations

import pytest

from model import domain as D
from model.rules import RULES
from model.scenarios import ALICE, standard
from model.sim import ModelPreconditionError, Simulator
from properties.base import StepInfo
from properties.catalog import CATALOG
from tokenproof.mutants import load_seeded

from tests.properties import traces_contracts_adjustment, traces_contracts_authority, traces_contracts_lifecycle
from tests.properties.trace_args import adjust_privs, create_args, restrict_args

SEEDED = load_seeded()
MAX = int(D.MAXIMUM_ALLOWED)
IMP, IDENT, DELEG = int(D.IMPERSONATION), int(D.IDENTIFICATION), int(D.DELEGATION)
NULL = D.SID_NULL


OPEN_MAX = ("kacs_open_self_token", {"real": False, "access_mask": MAX})
OPEN_QUERY = ("kacs_open_self_token", {"real": False, "access_mask": int(D.TOKEN_QUERY)})
# svc's server (srv1) impersonates bob at Impersonation level
SRV_IMPERSONATES_BOB = [("bob1", "socket_create", {"server": 4, "capturing": True}),
                        ("bob1", "socket_connect", {"socket": 1}),
                        ("srv1", "kacs_impersonate_peer", {"socket": 1})]
# alice's shell impersonates SYSTEM, capped to Identification
ALICE_IDENTIFIES_SYSTEM = [("init", "socket_create", {"server": 2, "capturing": True}),
                           ("init", "socket_connect", {"socket": 1}),
                           ("sh1", "kacs_impersonate_peer", {"socket": 1})]
INIT_DUP_PRIMARY = [("init", *OPEN_MAX),
                    ("init", "ioctl_duplicate", {"fd": 3, "primary": True, "level": 0, "access_mask": MAX})]
INIT_LINKED_PAIR = [("init", *OPEN_MAX),
                    ("init", "ioctl_duplicate", {"fd": 3, "primary": True, "level": 0, "access_mask": MAX}),
                    ("init", "ioctl_duplicate", {"fd": 3, "primary": True, "level": 0, "access_mask": MAX}),
                    ("init", "ioctl_link_tokens", {"elevated_fd": 4, "filtered_fd": 5, "session": 1})]

# mutant -> (property it breaks, steps (actor, rule, args))
MUTANT_TRACES = {
    "fork-shares-token": ("live-threads-have-live-effective-tokens", [("sh1", "fork", {})]),
    "fork-reuses-a-live-token": ("fork-yields-a-distinct-token", [("init", "fork", {"child_token": 3})]),
    "fork-copies-the-effective-token": ("fork-child-runs-a-copy-of-the-real-token",
                                        SRV_IMPERSONATES_BOB + [("srv1", "fork", {})]),
    "exec-keeps-impersonation": ("exec-leaves-no-impersonation",
                                 SRV_IMPERSONATES_BOB + [("srv1", "exec", {"file_labelled": False, "file_level": 0})]),
    "exec-keeps-cloexec-fds": ("exec-closes-close-on-exec-fds",
                               [("sh1", *OPEN_QUERY), ("sh1", "exec", {"file_labelled": False, "file_level": 0})]),
    "clone-thread-inherits-impersonation": ("cloned-threads-start-on-the-shared-primary-without-impersonation",
                                            SRV_IMPERSONATES_BOB + [("srv1", "clone_thread", {})]),
    "process-exit-leaves-threads-running": (
        "no-rule-changes-another-threads-impersonation",
        [("bob1", "socket_create", {"server": 4, "capturing": True}), ("bob1", "socket_connect", {"socket": 1}),
         ("srv2", "kacs_impersonate_peer", {"socket": 1}), ("srv1", "process_exit", {})]),
    "free-token-ignores-fds": ("open-token-fds-refer-to-live-tokens", INIT_DUP_PRIMARY),
    "free-token-ignores-socket-snapshots": (
        "socket-snapshots-refer-to-live-tokens",
        [("bob1", "socket_create", {"server": 4, "capturing": True}), ("bob1", "socket_connect", {"socket": 1}),
         ("bob1", "process_exit", {})]),
    "kernel-destroys-well-known-sessions": ("the-anonymous-session-is-never-destroyed", [("sh1", "kacs_revert", {})]),
    "install-does-not-queue-sibling-work": ("threads-share-the-primary-unless-an-install-is-pending",
                                            [("init", "clone_thread", {})] + INIT_DUP_PRIMARY
                                            + [("init", "ioctl_install", {"fd": 4})]),
    "install-without-assign-primary-privilege": (
        "primary-changes-only-by-privileged-install-or-lowering-exec",
        INIT_DUP_PRIMARY + [("init", "ioctl_adjust_privs", adjust_privs(3, disable=int(D.SE_ASSIGN_PRIMARY))),
                            ("init", "ioctl_install", {"fd": 4})]),
    "install-accepts-dead-session-tokens": ("no-token-of-a-dead-session-is-installed",
                                            INIT_DUP_PRIMARY + [("init", "kacs_invalidate_logon_session", {"session": 1}),
                                                                ("init", "ioctl_install", {"fd": 4})]),
    "install-ignores-its-guards": ("unprivileged-steps-never-grant-a-tcb-primary",
                                   [("init", "socket_create", {"server": 2, "capturing": True}),
                                    ("init", "socket_connect", {"socket": 1}),
                                    ("sh1", "kacs_open_peer_token", {"socket": 1}),
                                    ("sh1", "ioctl_install", {"fd": 3})]),
    "adjust-privs-checks-no-guards": (
        "enabled-privileges-are-present",
        [("sh1", *OPEN_QUERY), ("sh1", "ioctl_adjust_privs", adjust_privs(3, enable=int(D.SE_TCB)))]),
    "adjust-privs-bumps-before-validating": (
        "failed-steps-change-nothing-but-used-bits",
        [("sh1", *OPEN_QUERY), ("sh1", "ioctl_adjust_privs", adjust_privs(3, disable=int(D.SE_CHANGE_NOTIFY)))]),
    "adjust-privs-remove-adds": (
        "privileges-present-never-grow",
        [("sh1", *OPEN_MAX), ("sh1", "ioctl_adjust_privs", adjust_privs(3, remove=int(D.SE_TCB)))]),
    "adjust-privs-enables-absent-privileges": (
        "enabled-privileges-are-present",
        [("sh1", *OPEN_MAX), ("sh1", "ioctl_adjust_privs", adjust_privs(3, enable=int(D.SE_TCB)))]),
    "adjust-privs-remove-keeps-default": (
        "default-enabled-privileges-are-present",
        [("sh1", *OPEN_MAX), ("sh1", "ioctl_adjust_privs", adjust_privs(3, remove=int(D.SE_CHANGE_NOTIFY)))]),
    "adjust-privs-remove-clears-used": (
        "used-privileges-are-monotonic",
        [("sh1", "kacs_privilege_check", {"privileges": int(D.SE_CHANGE_NOTIFY)}), ("sh1", *OPEN_MAX),
         ("sh1", "ioctl_adjust_privs", adjust_privs(3, disable=int(D.SE_CHANGE_NOTIFY)))]),
    "privilege-check-bumps-modified-id": ("marking-privileges-used-never-bumps-modified-id",
                                          [("sh1", "kacs_privilege_check", {"privileges": int(D.SE_CHANGE_NOTIFY)})]),
    "adjust-groups-forgets-modified-id": (
        "every-successful-adjustment-bumps-modified-id-by-one",
        [("sh1", *OPEN_MAX), ("sh1", "ioctl_adjust_groups",
                              {"fd": 3, "enable": 0, "disable": 0, "reset": True, "entries_ok": True})]),
    "adjust-scope-judges-tcb-on-effective-token": (
        "interactivity-scope-changes-need-tcb-on-the-real-token",
        ALICE_IDENTIFIES_SYSTEM + [("sh1", "kacs_create_token", create_args(user=ALICE, session=3)),
                                   ("sh1", "ioctl_adjust_interactivity_scope", {"fd": 3, "scope": 1})]),
    "adjust-groups-ignores-protected-groups": (
        "mandatory-default-groups-are-never-disabled",
        [("sh1", *OPEN_MAX), ("sh1", "ioctl_adjust_groups",
                              {"fd": 3, "enable": 0, "disable": 0b1, "reset": False, "entries_ok": True})]),
    "restrict-adds-instead-of-removing": (
        "restrict-never-adds-privileges-or-enables-groups",
        [("init", *OPEN_MAX), ("init", "ioctl_adjust_privs", adjust_privs(3, remove=int(D.priv("SeDebugPrivilege")))),
         ("init", "ioctl_restrict", restrict_args(3, remove_privs=int(D.priv("SeDebugPrivilege"))))]),
    "create-token-accepts-leveled-primary": ("primary-tokens-are-at-anonymous-level",
                                             [("init", "kacs_create_token", create_args(level=IMP))]),
    "create-token-skips-write-restricted-check": (
        "write-restricted-tokens-are-user-deny-only",
        [("init", "kacs_create_token", create_args(write_restricted=True, user_deny_only=False))]),
    "duplicate-raises-the-level": (
        "duplicates-never-raise-an-impersonation-level",
        [("init", *OPEN_MAX),
         ("init", "ioctl_duplicate", {"fd": 3, "primary": False, "level": IDENT, "access_mask": MAX}),
         ("init", "ioctl_duplicate", {"fd": 4, "primary": False, "level": DELEG, "access_mask": MAX})]),
    "restrict-keeps-the-elevation": ("duplicates-and-filtered-copies-start-at-default-elevation",
                                     INIT_LINKED_PAIR + [("init", "ioctl_restrict", restrict_args(4))]),
    "link-tokens-allows-role-change": (
        "elevation-type-is-one-way",
        INIT_LINKED_PAIR + [("init", "ioctl_link_tokens", {"elevated_fd": 5, "filtered_fd": 4, "session": 1})]),
    "link-tokens-skips-session-checks": (
        "linked-pairs-are-live-members-of-their-session",
        INIT_DUP_PRIMARY + [("init", "ioctl_link_tokens", {"elevated_fd": 3, "filtered_fd": 4, "session": 3})]),
    "impersonate-peer-gates-on-effective-token": (
        "threads-never-act-as-another-user-without-se-impersonate",
        [("srv1", "socket_create", {"server": 2, "capturing": True}), ("srv1", "socket_connect", {"socket": 1}),
         ("bob1", "socket_create", {"server": 2, "capturing": True}), ("bob1", "socket_connect", {"socket": 2}),
         ("sh1", "kacs_impersonate_peer", {"socket": 1}), ("sh1", "kacs_impersonate_peer", {"socket": 2})]),
    "impersonate-peer-ignores-the-socket-level": (
        "acting-level-never-exceeds-the-client-level",
        [("sh2", "socket_create", {"server": 4, "capturing": True}),
         ("sh2", "kacs_set_impersonation_level", {"socket": 1, "level": IDENT}),
         ("sh2", "socket_connect", {"socket": 1}), ("srv1", "kacs_impersonate_peer", {"socket": 1})]),
    "se-impersonate-lifts-the-ceiling": (
        "se-impersonate-never-lifts-the-integrity-ceiling",
        [("init", "socket_create", {"server": 4, "capturing": True}), ("init", "socket_connect", {"socket": 1}),
         ("srv1", "kacs_impersonate_peer", {"socket": 1})]),
    "impersonate-peer-references-the-snapshot": ("impersonation-tokens-are-impersonation-type", SRV_IMPERSONATES_BOB),
    "ioctl-impersonate-skips-the-restricted-hard-deny": (
        "restricted-primaries-never-impersonate-their-unrestricted-user",
        [("init", *OPEN_MAX),
         ("init", "ioctl_restrict", restrict_args(3, r0=D.SID_SYSTEM, r_mask=1)),
         ("init", "ioctl_duplicate", {"fd": 3, "primary": False, "level": IMP, "access_mask": MAX}),
         ("init", "fork", {"child_thread": 7}),
         (7, "ioctl_install", {"fd": 4}),
         (7, "ioctl_impersonate", {"fd": 5})]),
    "ioctl-impersonate-forgets-the-level": (
        "impersonating-threads-act-at-their-tokens-level",
        [("init", *OPEN_MAX),
         ("init", "ioctl_duplicate", {"fd": 3, "primary": False, "level": IMP, "access_mask": MAX}),
         ("init", "ioctl_impersonate", {"fd": 4})]),
    "open-self-token-reuses-an-open-fd": ("handle-masks-never-grow",
                                          [("sh1", *OPEN_QUERY),
                                           ("sh1", "kacs_open_self_token", {"real": False, "access_mask": MAX, "fd": 3})]),
    "open-self-token-forgets-cloexec": ("token-fds-are-created-close-on-exec", [("sh1", *OPEN_QUERY)]),
    "open-peer-token-leaves-the-mask-stale": ("peer-token-handles-cache-query-and-impersonate-only",
                                              SRV_IMPERSONATES_BOB[:2] + [("srv1", "kacs_open_peer_token", {"socket": 1})]),
    "adjust-privs-ignores-the-handle-mask": (
        "token-operations-are-authorized-by-the-handle-mask",
        [("sh1", *OPEN_QUERY), ("sh1", "ioctl_adjust_privs", adjust_privs(3, disable=int(D.SE_CHANGE_NOTIFY)))]),
    "create-session-reuses-a-live-session": (
        "dead-sessions-never-revive",
        [("init", "kacs_create_logon_session", {}), ("init", "kacs_invalidate_logon_session", {"session": 6}),
         ("init", "kacs_create_logon_session", {"session": 6, "logon_sid": "S-1-5-5-0-77777"})]),
    "create-session-resets-the-luid-counter": ("dynamic-session-luids-are-at-least-1000",
                                               [("init", "kacs_create_logon_session", {}),
                                                ("init", "kacs_create_logon_session", {})]),
    "destroy-empty-session-ignores-live-tokens": ("live-tokens-belong-to-live-sessions",
                                                  [("init", "kacs_destroy_empty_logon_session", {"session": 3})]),
    "duplicate-keeps-identity-at-anonymous": (
        "anonymous-duplicates-carry-the-anonymous-identity",
        [("init", *OPEN_MAX), ("init", "ioctl_duplicate", {"fd": 3, "primary": False, "level": 0,
                                                            "access_mask": int(D.TOKEN_QUERY)})]),
    "close-ignores-ebadf": ("no-step-succeeds-on-a-closed-token-fd",
                            [("sh1", *OPEN_QUERY), ("sh1", "close_handle", {"fd": 3}),
                             ("sh1", "close_handle", {"fd": 3})]),
    "set-cloexec-ignores-ebadf": ("no-step-succeeds-on-a-closed-token-fd",
                                  [("sh1", "set_cloexec", {"fd": 3, "cloexec": False})]),
    "open-thread-token-misreports-esrch": (
        "open-thread-token-fails-only-with-esrch-or-eacces",
        [("init", "kacs_open_thread_token", {"target": 9, "thread": 9, "access_mask": int(D.TOKEN_QUERY)})]),
}
for _area in (traces_contracts_adjustment, traces_contracts_authority, traces_contracts_lifecycle):
    assert not set(_area.TRACES) & set(MUTANT_TRACES), f"{_area.__name__} redefines a trace"
    MUTANT_TRACES.update(_area.TRACES)

# mutants the bounded model checker covers (their traces need long set-ups or no trace exists)
UNTRACED = {
    "install-judges-privilege-on-effective-token": "needs a thread whose effective token holds the privilege its real token lacks",
    "get-linked-token-leaves-the-mask-stale": "needs a linked pair and a caller without SeTcbPrivilege holding TOKEN_QUERY on a member",
}

# properties expected refuted -> a concrete counterexample with the real rules
REFUTED_WITNESSES = {
    "threads-of-a-live-process-share-its-primary": [("init", "clone_thread", {})] + INIT_DUP_PRIMARY
    + [("init", "ioctl_install", {"fd": 4})],
    "primary-changes-only-by-privileged-install": [("sh1", "exec", {"file_labelled": True,
                                                                    "file_level": int(D.IL_LOW)})],
    "identification-level-impersonation-lends-no-privileges": ALICE_IDENTIFIES_SYSTEM
    + [("sh1", "kacs_create_logon_session", {})],
    "alice-never-acts-with-tcb": ALICE_IDENTIFIES_SYSTEM
    + [("sh1", "kacs_create_token", create_args(user=ALICE, session=3, primary=False, level=IMP,
                                                privs_present=int(D.SE_TCB), privs_enabled=int(D.SE_TCB))),
       ("sh1", "ioctl_impersonate", {"fd": 3})],
    "impersonation-stays-within-the-real-token-integrity": [
        ("init", "kacs_create_token", create_args(integrity=int(D.IL_LOW))),
        ("sh2", "socket_create", {"server": 1, "capturing": True}), ("sh2", "socket_connect", {"socket": 1}),
        ("init", "kacs_impersonate_peer", {"socket": 1}), ("init", "ioctl_install", {"fd": 3})],
    "alice-processes-never-run-with-tcb": [
        ("init", "kacs_create_token", create_args(user=ALICE, session=3, privs_present=int(D.SE_TCB),
                                                  privs_enabled=int(D.SE_TCB))),
        ("init", "fork", {"child_thread": 7}), (7, "ioctl_install", {"fd": 3})],
    "alice-threads-never-act-as-another-user": [
        ("init", "kacs_open_process_token", {"target": 2, "access_mask": MAX}),
        ("bob1", "socket_create", {"server": 1, "capturing": True}), ("bob1", "socket_connect", {"socket": 1}),
        ("init", "kacs_impersonate_peer", {"socket": 1}), ("init", "ioctl_install", {"fd": 3})],
    "mandatory-groups-are-never-disabled": [
        ("init", "kacs_create_token", create_args(g0=D.SID_USERS, group_count=1, g_enabled=1, g_mandatory=1)),
        ("init", "ioctl_adjust_groups", {"fd": 3, "enable": 0, "disable": 0, "reset": True, "entries_ok": True})],
    "the-system-session-is-never-destroyed": [
        ("init", "kacs_create_token", create_args(session=3, privs_present=int(D.SE_TCB),
                                                  privs_enabled=int(D.SE_TCB))),
        ("init", "fork", {"child_thread": 7}), (7, "ioctl_install", {"fd": 3}),
        ("init", "process_exit", {}), (7, "kacs_destroy_empty_logon_session", {"session": 1})],
    "deny-only-groups-are-never-enabled": [
        ("init", "kacs_create_token", create_args(g0=D.SID_USERS, group_count=1, g_enabled=1, g_deny_only=1))],
}


def run(steps, rules=None, strict=True):
    """Run ``steps``; return every (pre, post, StepInfo) including the kernel's follow-ups.
    Not ``strict``: stop at the first step the rules do not allow at all (for example a mutant's
    reuse of a live object replayed with the real rules)."""
    sim = Simulator(standard(), rules=rules)
    out = []
    for actor, rule, args in steps:
        try:
            rec = sim.call(rule, actor, **args)
        except ModelPreconditionError:
            if strict:
                raise
            break
        for r in [rec, *rec.kernel_followups]:
            out.append((r.outcome.pre, r.outcome.post, StepInfo(r.rule, r.actor, r.args, r.outcome.errno)))
    return out


def violated(prop_id, trace) -> list[int]:
    p = CATALOG[prop_id]
    bad = []
    for i, (pre, post, info) in enumerate(trace):
        holds = p.check(post) if p.kind == "state" else p.check(pre, post, info)
        if holds is not True:
            bad.append(i)
    return bad


def test_every_seeded_mutant_is_traced_or_explained():
    assert set(MUTANT_TRACES) | set(UNTRACED) == set(SEEDED)
    assert len(MUTANT_TRACES) >= 12


@pytest.mark.parametrize("name", sorted(MUTANT_TRACES))
def test_mutant_breaks_a_property_that_names_it(name):
    prop_id, steps = MUTANT_TRACES[name]
    assert name in CATALOG[prop_id].mutants, f"{prop_id} does not name {name}"
    assert violated(prop_id, run(steps, SEEDED[name].rules())), f"{name} did not break {prop_id}"
    if CATALOG[prop_id].expected("kacs") != "refuted":
        assert not violated(prop_id, run(steps, RULES, strict=False)), f"the real rules break {prop_id} on the {name} trace"


@pytest.mark.parametrize("prop_id", sorted(REFUTED_WITNESSES))
def test_expected_refuted_property_has_a_concrete_counterexample(prop_id):
    assert CATALOG[prop_id].expected("kacs") == "refuted"
    assert violated(prop_id, run(REFUTED_WITNESSES[prop_id], RULES)), prop_id
