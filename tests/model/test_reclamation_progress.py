"""The kernel's reclamation (§4.2 refcount, §4.6 Lifecycle) ends even under a broken reclamation rule
that succeeds without freeing anything: such a step is recorded (so a property can judge it) and the
collection does not offer the same object forever (model/reclaim.py ``_progressed``)."""

from __future__ import annotations

from model import domain as D
from model.scenarios import standard
from model.sim import Simulator
from tokenproof.killmatrix import all_mutants

MAX = int(D.MAXIMUM_ALLOWED)


def release_a_duplicate(sim):
    """init duplicates its primary (fd 4) and closes the only handle to the copy."""
    sim.call("kacs_open_self_token", "init", real=False, access_mask=MAX)
    dup = sim.call("ioctl_duplicate", "init", fd=3, primary=True, level=0, access_mask=MAX)
    assert int(dup.outcome.errno) == 0
    return sim.call("close_handle", "init", fd=4)


def test_the_real_rules_free_the_released_copy_once():
    rec = release_a_duplicate(Simulator(standard()))
    frees = [r for r in rec.kernel_followups if r.rule == "kernel_free_token"]
    assert len(frees) == 1 and not frees[0].outcome.post.token_alive[frees[0].args["token"]]


def test_a_reclamation_step_that_frees_nothing_is_recorded_and_ends_the_collection():
    rules = all_mutants()["kernel_free_token/skip-effect-0"].rules()
    rec = release_a_duplicate(Simulator(standard(), rules=rules))
    frees = [r for r in rec.kernel_followups if r.rule == "kernel_free_token"]
    assert frees, "the broken rule is offered the unreferenced token"
    assert all(r.outcome.post.token_alive[r.args["token"]] for r in frees)  # it frees nothing
    assert len(frees) == 1
