"""The explorer's guarded resets (tokenproof/abstraction.py ``guarded_resets``, issue 9): a
field z3 proves to be a don't-care under a guard (a dead socket's fields, a connected socket's
level, the peer fields of a socket without a snapshot) is reset in the state keys.  On a small
socket universe the explorer finds the same violated properties at the same depths with and
without the resets, for the default rules and for seeded socket mutants; a mutant that breaks
an invariant the proof assumes makes the explorer explore again without them."""

from __future__ import annotations

import pytest

import properties.catalog  # noqa: F401
from properties.base import CATALOG
from tokenproof.abstraction import ASSUMED_INVARIANTS
from tokenproof.explorer import Explorer, Universe
from tests.tokenproof.rulesets import rule_subset

RULE_NAMES = ["socket_create", "kacs_set_impersonation_level", "socket_connect", "socket_close",
              "kacs_impersonate_peer", "kacs_revert", "kacs_open_peer_token", "close_handle", "kernel_free_token"]
U = Universe(threads=1, processes=1, tokens=3, sockets=1, privileges=("SeImpersonatePrivilege",))
PROPS = ["sockets-start-unconnected-at-impersonation-and-connect-captures-the-effective-token",
         "impersonate-peer-fails-with-ebadf-then-eacces-and-eperm-only-for-the-hard-deny",
         "fd-socket-and-self-process-open-calls-fail-with-the-first-unmet-requirement",
         "successful-impersonation-installs-the-client-identity-at-a-permitted-level",
         "open-peer-token-opens-a-new-token-of-the-peer-at-the-captured-level-created-by-the-caller",
         "failed-steps-change-nothing-but-used-bits", *ASSUMED_INVARIANTS]
MUTANTS = ["socket-close-keeps-the-socket", "set-impersonation-level-after-connect",
           "socket-connect-forgets-the-level", "impersonate-peer-without-a-snapshot",
           "free-token-ignores-fds"]
DEPTH = 6


def _rules(mutant):
    return rule_subset(RULE_NAMES, mutant)


def _run(mutant, guarded):
    ex = Explorer(U, rules=_rules(mutant), properties={p: CATALOG[p] for p in PROPS if p in CATALOG},
                  keep_graph=False, guarded=guarded, max_depth=DEPTH)
    return ex, ex.run()


@pytest.mark.parametrize("mutant", [None, *MUTANTS])
def test_guarded_resets_find_the_same_violations(mutant):
    ex_g, g = _run(mutant, True)
    ex_f, f = _run(mutant, False)
    assert {p: v.depth for p, v in g.violations.items()} == {p: v.depth for p, v in f.violations.items()}
    assert g.states <= f.states
    assert not ex_f.guards
    if mutant is None:
        assert not g.violations
        # the resets are active here and merge states
        assert {"sock_level", "sock_peer_token", "sock_server"} <= set(ex_g.guards)
        assert ex_g.guards["sock_level"] == (("sock_alive", False), ("sock_connected", True))
        assert g.states < f.states
        assert not ex_g.guards_dropped_after_violation
    else:
        caught = [p for p in PROPS if mutant in CATALOG[p].mutants]
        assert all(p in g.violations for p in caught), (mutant, sorted(g.violations))


def test_a_violated_assumed_invariant_turns_the_resets_off():
    """Freeing a token an open fd still references breaks an invariant the proof of the
    resets assumes: the explorer explores again without them (same result as never using them)."""
    ex, res = _run("free-token-ignores-fds", True)
    assert "open-token-fds-refer-to-live-tokens" in res.violations
    assert ex.guards_dropped_after_violation and not ex.guards


# the reference universes of benchmarks/explorer.py (complete explorations) and the mutants of
# test_explorer.py: the same verdicts and violation depths with and without the resets
LIFECYCLE = ["fork", "process_exit", "thread_exit", "clone_thread", "kacs_open_self_token", "close_handle",
             "kernel_free_token", "kernel_destroy_session", "exec", "kacs_revert"]
THREADS3 = ["clone_thread", "thread_exit", "kacs_open_self_token", "close_handle", "kacs_revert", "kernel_free_token"]
REFERENCE = {"lifecycle-2x2x3": (Universe(threads=2, processes=2, tokens=3, privileges=()), LIFECYCLE),
             "threads-3": (Universe(threads=3, processes=1, tokens=2, privileges=()), THREADS3)}
REF_PROPS = ["live-processes-have-live-primaries", "open-token-fds-refer-to-live-tokens",
             "exec-closes-close-on-exec-fds", "fork-child-runs-a-copy-of-the-real-token",
             "no-rule-changes-another-threads-impersonation", "failed-steps-change-nothing-but-used-bits",
             "threads-of-a-live-process-share-its-primary", *ASSUMED_INVARIANTS]


@pytest.mark.parametrize("name,mutant", [("lifecycle-2x2x3", None), ("lifecycle-2x2x3", "exec-keeps-cloexec-fds"),
                                         ("lifecycle-2x2x3", "fork-shares-token"), ("threads-3", None)])
def test_reference_universes_keep_their_verdicts(name, mutant):
    u, names = REFERENCE[name]
    rules = rule_subset(names, mutant)
    props = {p: CATALOG[p] for p in REF_PROPS}
    runs = {}
    for guarded in (True, False):
        ex = Explorer(u, rules=rules, properties=props, keep_graph=False, guarded=guarded, max_depth=8)
        runs[guarded] = (ex, ex.run())
    (ex_g, g), (_, f) = runs[True], runs[False]
    assert {p: v.depth for p, v in g.violations.items()} == {p: v.depth for p, v in f.violations.items()}
    assert g.states <= f.states
    if mutant is None:
        assert ex_g.guards and g.states < f.states  # dead fds / tokens / threads merge states
    else:
        caught = [p for p in REF_PROPS if mutant in CATALOG[p].mutants]
        assert caught and all(p in g.violations for p in caught), (mutant, sorted(g.violations))
