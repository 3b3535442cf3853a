"""The NT reference profile (issue 8): every NT rule is single-source, the
profile is selectable, and each NT difference behaves as nt-reference.md says
on concrete steps from the standard world."""

from __future__ import annotations

import pytest

from model import domain as D
from model.profiles import PROFILE_NAMES, get_profile
from model.profiles.nt import nt_only
from model.rules.registry import RULES
from model.scenarios import ALICE
from model.sim import Simulator
from model.state import THREAD
from tests.model.test_creation import create_args
from tests.scenario import standard_world


def test_nt_is_a_profile_and_only_replaces_rules():
    assert "nt" in PROFILE_NAMES
    nt = get_profile("nt")
    assert set(nt) == set(RULES)
    assert set(nt_only()) == {"kacs_open_thread_token", "kacs_impersonate_peer", "ioctl_impersonate",
                              "ioctl_adjust_privs", "ioctl_install", "external_replace_primary", "ioctl_duplicate"}
    assert all(RULES[n] is not nt[n] for n in nt_only())
    assert all(RULES[n] is nt[n] for n in set(RULES) - set(nt_only()))


@pytest.mark.parametrize("name", sorted(nt_only()))
def test_nt_rules_run_symbolically(name):
    """Single source: the NT rule text also builds z3 terms (a Python `if` on a term would raise)."""
    from model.symbolic import Universe

    uni = Universe("unbounded")
    pre = uni.fresh_state("pre")
    r = nt_only()[name]
    out = r.apply(pre, uni.const("actor", THREAD), {a.name: uni.const(a.name, a.type) for a in r.args})
    assert out.errno is not None


@pytest.fixture
def nt():
    w = standard_world()
    return w, Simulator(w, rules=get_profile("nt"), auto_gc=False)


def test_open_thread_token_no_token_and_open_as_self(nt):
    w, sim = nt
    srv2 = w.lookup("Thread", "srv2", "t")
    server = w.lookup("Process", "server", "t")
    r = sim.call("kacs_open_thread_token", "srv1", target=server, thread=srv2, access_mask=int(D.TOKEN_QUERY),
                 open_as_self=False)
    assert r.outcome.errno == 100 and D.ERRNO_NAMES[100] == "STATUS_NO_TOKEN"


def test_origin_session_lets_a_server_act_as_another_user_without_the_privilege(nt):
    """NT §5.4 step 4 (approximated by the token's session): SYSTEM without SeImpersonatePrivilege
    impersonates an alice token of its own logon session at Impersonation level."""
    w, sim = nt
    fd = sim.call("kacs_open_self_token", "init", real=False, access_mask=int(D.TOKEN_ALL_ACCESS)).outcome.ret["fd"]
    assert sim.call("ioctl_adjust_privs", "init", fd=fd, enable=0, disable=int(D.SE_IMPERSONATE), remove=0,
                    reset=False, entries_ok=True).outcome.errno == 0
    init = w.lookup("Thread", "init", "t")
    session = sim.state.value("token_session", sim.state.value("thread_real", init))
    rec = sim.call("kacs_create_token", "init", **create_args(w, user=ALICE, primary=False, level=2, session=session))
    assert rec.outcome.errno == 0
    out = sim.call("ioctl_impersonate", "init", fd=rec.outcome.ret["fd"]).outcome
    assert out.errno == 0 and int(out.ret["level"]) == int(D.IMPERSONATION)
    kacs = Simulator(standard_world(), auto_gc=False)  # same steps on KACS: capped to Identification
    w2 = kacs.world
    fd = kacs.call("kacs_open_self_token", "init", real=False, access_mask=int(D.TOKEN_ALL_ACCESS)).outcome.ret["fd"]
    kacs.call("ioctl_adjust_privs", "init", fd=fd, enable=0, disable=int(D.SE_IMPERSONATE), remove=0, reset=False,
              entries_ok=True)
    rec = kacs.call("kacs_create_token", "init", **create_args(w2, user=ALICE, primary=False, level=2, session=session))
    assert int(kacs.call("ioctl_impersonate", "init", fd=rec.outcome.ret["fd"]).outcome.ret["level"]) == 1


def test_adjust_privs_partial_not_all_assigned(nt):
    w, sim = nt
    fd = sim.call("kacs_open_self_token", "sh1", real=False,
                  access_mask=int(D.TOKEN_ADJUST_PRIVILEGES | D.TOKEN_QUERY)).outcome.ret["fd"]
    sh1 = w.lookup("Thread", "sh1", "t")
    tok = sim.state.value("thread_real", sh1)
    rec = sim.call("ioctl_adjust_privs", "sh1", fd=fd, enable=int(D.SE_TCB), disable=int(D.SE_CHANGE_NOTIFY),
                   remove=0, reset=False, entries_ok=True)
    assert rec.outcome.errno == 102  # STATUS_NOT_ALL_ASSIGNED, success class
    assert not (sim.state.value("token_privs_enabled", tok) & int(D.SE_CHANGE_NOTIFY))  # the disable applied
    assert not (sim.state.value("token_privs_present", tok) & int(D.SE_TCB))  # never adds


def test_duplicate_to_anonymous_keeps_identity(nt):
    w, sim = nt
    fd = sim.call("kacs_open_self_token", "init", real=False, access_mask=int(D.TOKEN_ALL_ACCESS)).outcome.ret["fd"]
    rec = sim.call("ioctl_duplicate", "init", fd=fd, primary=False, level=0, access_mask=int(D.TOKEN_QUERY))
    assert rec.outcome.errno == 0
    assert sim.state.value("token_user", rec.outcome.ret["token"]) == D.SID_SYSTEM


NT_REFUTED = sorted(["se-impersonate-never-lifts-the-integrity-ceiling",
                     "acting-at-impersonation-passed-both-gates-on-the-primary",
                     "restricted-primaries-never-impersonate-their-unrestricted-user",
                     "open-thread-token-fails-only-with-esrch-or-eacces",
                     "threads-never-act-as-another-user-without-se-impersonate",
                     "failed-steps-change-nothing-but-used-bits",
                     "anonymous-duplicates-carry-the-anonymous-identity",
                     "unprivileged-steps-never-grant-a-tcb-primary",
                     "primary-changes-only-by-privileged-install-or-lowering-exec",
                     "every-successful-adjustment-bumps-modified-id-by-one",
                     # rule contracts (properties/contracts_*.py) that state a KACS-only order or gate
                     "external-replacement-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
                     "impersonation-outcome-is-decided-by-the-two-gates-on-the-primary",
                     "install-fails-with-the-first-unmet-requirement-and-marks-the-privileges-it-exercised",
                     "open-thread-token-fails-with-esrch-then-eacces-for-the-process-then-for-the-token"])


def test_the_divergence_list_is_the_catalogs():
    """Every property proved on kacs and not on nt is in NT_REFUTED, expected refuted on nt."""
    from tokenproof.catalog_run import load_catalog

    cat = load_catalog()
    assert sorted(p for p, x in cat.items() if x.expected("kacs") == "proved" and x.expected("nt") != "proved") \
        == NT_REFUTED
    assert all(cat[p].expected("nt") == "refuted" for p in NT_REFUTED)


@pytest.mark.parametrize("pid", NT_REFUTED)
def test_prove_settles_each_divergence_on_nt_from_the_corpus(pid):
    """What `tokenproof prove --profile nt` does for a property induction cannot prove: the recorded trace
    of counterexamples/nt/ replays on the NT rules and breaks it (a refutation), and the same steps do
    not break it on KACS."""
    from tokenproof.catalog_run import CORPUS_DIR, known_counterexample, load_catalog
    from tokenproof.narrative import replay_trace
    from tokenproof.trace import load_trace

    prop = load_catalog()[pid]
    found = known_counterexample(prop, get_profile("nt"), "nt", [CORPUS_DIR / "nt", CORPUS_DIR])
    assert found is not None, pid
    rep, path = found
    assert path == f"counterexamples/nt/{pid}.json" and rep.reproduced
    assert rep.trace.violation.property == pid
    on_kacs = replay_trace(load_trace(CORPUS_DIR / "nt" / f"{pid}.json"), profile="kacs", mutant="none")
    assert on_kacs.error is None and not on_kacs.reproduced
