"""The property catalog is well-formed, holds where it is expected to hold on
concrete executions, and every check builds a z3 formula (properties written once)."""

from __future__ import annotations

import random

import pytest
import z3

from model import domain as D
from model.access import ACE, SD
from model.rules import RULES
from model.scenarios import ALICE, BOB, SVC, standard
from model.sim import ModelPreconditionError, Simulator
from model.state import THREAD, TOKEN
from model.symbolic import Universe
from model.values import is_sym
from properties.base import KINDS, VERDICTS, StepInfo
from properties.catalog import CATALOG
from properties.catalog_support import AccessQuery
from tokenproof.killmatrix import random_value as killmatrix_random_value
from tokenproof.mutants import load_seeded

SEEDED = load_seeded()
PROPS = sorted(CATALOG.values(), key=lambda p: p.id)
STATE = [p for p in PROPS if p.kind == "state"]
TRANSITION = [p for p in PROPS if p.kind == "transition"]
ACCESS = [p for p in PROPS if p.kind == "access"]
HOLDS = {p.id for p in PROPS if p.expected("kacs") != "refuted"}


# ------------------------------------------------------------------ well-formedness
def test_catalog_size_and_areas():
    assert len(CATALOG) >= 45
    modules = {p.check.__module__ for p in PROPS}
    for area in ("lifecycle", "privileges", "groups", "types", "impersonation", "handles", "sessions", "goals"):
        assert f"properties.{area}" in modules, area


@pytest.mark.parametrize("p", PROPS, ids=lambda p: p.id)
def test_property_is_well_formed(p):
    assert p.statement.strip() and p.statement.endswith(".")
    assert p.kind in KINDS
    assert p.sections and all(s.startswith("§") or s.startswith("Appendix") for s in p.sections)
    assert p.clauses and all("-" in c for c in p.clauses)
    assert p.expected("kacs") in VERDICTS
    assert p.doc, "the docstring cites the spec"
    assert p.id == p.id.lower() and " " not in p.id
    for lemma in p.support:
        assert lemma in CATALOG, f"{p.id}: unknown support lemma {lemma}"
        assert CATALOG[lemma].kind == "state", f"{p.id}: support lemma {lemma} must be a state property"
    for m in p.mutants:
        assert m in SEEDED, f"{p.id}: unknown seeded mutant {m}"
    if p.kind != "access":
        assert p.mutants, f"{p.id} names no seeded mutant"
    if p.expected("kacs") != "proved":
        assert p.note, f"{p.id}: a property not expected proved must explain why in its note"


def test_every_seeded_mutant_builds_its_rule_set():
    for m in SEEDED.values():
        rules = m.rules()
        assert rules[m.rule] is not RULES[m.rule]


def test_clauses_exist_in_the_requirements_catalog():
    import pathlib
    import re

    path = pathlib.Path(__file__).resolve().parents[3] / "shared" / "spec" / "clauses.md"
    if not path.exists():
        pytest.skip("spec clauses not available")
    ids = set(re.findall(r"^\| ([A-Z]+-\d+) \|", path.read_text(), re.M))
    for p in PROPS:
        for c in p.clauses:
            assert c in ids, f"{p.id}: unknown clause {c}"


# ------------------------------------------------------------------ concrete: the standard world
@pytest.mark.parametrize("p", STATE, ids=lambda p: p.id)
def test_state_property_holds_on_the_standard_world(p):
    assert p.check(standard().state) is True


# ------------------------------------------------------------------ concrete: random walks
SIDS = [ALICE, BOB, SVC, D.SID_SYSTEM, D.SID_EVERYONE, D.SID_USERS, D.SID_ADMINISTRATORS, D.SID_ANONYMOUS]


def random_value(rng: random.Random, sim: Simulator, a, actor=None):
    """The kill matrix's argument generator, biased as this walk always was."""
    return killmatrix_random_value(rng, sim, a, actor, sids=SIDS, socket_p=0.7, wide_p=0.3)


def random_args(rng: random.Random, sim: Simulator, rule, actor) -> dict:
    args = {}
    for a in rule.args:
        if a.fresh and rng.random() < 0.9:
            continue  # let the executor allocate a fresh object
        args[a.name] = random_value(rng, sim, a, actor)
    if rule.name == "kacs_create_token":
        args["group_count"] = rng.randrange(8)
        args["elevation_field"] = 0 if rng.random() < 0.8 else 1
        args["session"] = rng.choice(sim.state.alive("Session"))
    return args


# a deterministic prefix that makes fds, sockets and impersonations exist, so that the
# random part of each walk reaches the ioctls and the impersonation rules
MAX = int(D.MAXIMUM_ALLOWED)
PREFIX = [
    ("sh1", "kacs_open_self_token", {"real": False, "access_mask": MAX}),
    ("init", "kacs_open_self_token", {"real": False, "access_mask": MAX}),
    ("init", "ioctl_duplicate", {"fd": 3, "primary": False, "level": int(D.IMPERSONATION), "access_mask": MAX}),
    ("init", "ioctl_duplicate", {"fd": 3, "primary": True, "level": 0, "access_mask": MAX}),
    ("bob1", "socket_create", {"server": 4, "capturing": True}),
    ("bob1", "socket_connect", {"socket": 1}),
    ("sh2", "socket_create", {"server": 1, "capturing": True}),
    ("sh2", "socket_connect", {"socket": 2}),
    ("srv1", "socket_create", {"server": 2, "capturing": True}),
    ("srv1", "socket_connect", {"socket": 3}),
]
WEIGHTS = {"process_exit": 0.15, "thread_exit": 0.3, "exec": 0.4, "kacs_revert": 0.5,
           "kacs_impersonate_peer": 3.0, "kacs_open_peer_token": 2.0, "kacs_open_self_token": 2.0}


def random_walk(seed: int, steps: int):
    """Yield (pre, post, StepInfo) of a deterministic random walk from the standard world,
    including the kernel's reclamation steps."""
    rng = random.Random(seed)
    sim = Simulator(standard())
    for actor, name, args in PREFIX:
        rec = sim.call(name, actor, **args)
        for r in [rec, *rec.kernel_followups]:
            yield r.outcome.pre, r.outcome.post, StepInfo(r.rule, r.actor, r.args, r.outcome.errno)
    names = sorted(n for n, r in RULES.items() if not r.kernel)
    weights = [WEIGHTS.get(n, 2.0 if n.startswith("ioctl") else 1.0) for n in names]
    done = 0
    tries = 0
    while done < steps and tries < steps * 20:
        tries += 1
        rule = RULES[rng.choices(names, weights)[0]]
        threads = sim.state.alive("Thread")
        if not threads:
            return
        actor = rng.choice(threads)
        try:
            rec = sim.call(rule.name, actor, **random_args(rng, sim, rule, actor))
        except ModelPreconditionError:
            continue
        done += 1
        for r in [rec, *rec.kernel_followups]:
            out = r.outcome
            yield out.pre, out.post, StepInfo(r.rule, r.actor, r.args, out.errno)


WALKS = [(seed, 70) for seed in range(6)]


@pytest.fixture(scope="module")
def walks():
    return {seed: list(random_walk(seed, n)) for seed, n in WALKS}


def test_walks_exercise_many_rules(walks):
    seen = {info.rule for steps in walks.values() for _, _, info in steps}
    ok = {info.rule for steps in walks.values() for _, _, info in steps if int(info.errno) == 0}
    assert len(seen) >= 25, sorted(seen)
    assert len(ok) >= 15, sorted(ok)


@pytest.mark.parametrize("p", [p for p in STATE if p.id in HOLDS], ids=lambda p: p.id)
def test_state_property_holds_along_random_walks(p, walks):
    for seed, steps in walks.items():
        for i, (_, post, info) in enumerate(steps):
            assert p.check(post) is True, f"{p.id} violated after step {i} ({info.rule}) of walk {seed}"


@pytest.mark.parametrize("p", [p for p in TRANSITION if p.id in HOLDS], ids=lambda p: p.id)
def test_transition_property_holds_along_random_walks(p, walks):
    for seed, steps in walks.items():
        for i, (pre, post, info) in enumerate(steps):
            assert p.check(pre, post, info) is True, f"{p.id} violated by step {i} ({info.rule} {info.args}) of walk {seed}"


# ------------------------------------------------------------------ symbolic: every check builds a formula
def _sym_ok(v) -> bool:
    return is_sym(v) or isinstance(v, bool)


@pytest.mark.parametrize("p", STATE, ids=lambda p: p.id)
def test_state_property_builds_a_formula(p):
    uni = Universe("unbounded", sids=(ALICE, BOB, SVC))
    v = p.check(uni.fresh_state("s"))
    assert _sym_ok(v)
    assert not is_sym(v) or z3.is_bool(v)


@pytest.mark.parametrize("p", ACCESS, ids=lambda p: p.id)
def test_access_property_builds_a_formula(p):
    uni = Universe("unbounded", sids=(ALICE, BOB, SVC))
    s = uni.fresh_state("s")
    from model.state import BOOL, IL, MASK, SID, BVT

    aces = [ACE(uni.const(f"p{i}", BOOL), uni.const(f"a{i}", BOOL), uni.const(f"i{i}", BOOL),
                uni.const(f"s{i}", SID), uni.const(f"m{i}", MASK)) for i in range(D.ACE_SLOTS)]
    sd = SD(uni.const("owner", SID), uni.const("dp", BOOL), aces, uni.const("hl", BOOL), uni.const("ll", IL),
            uni.const("lp", BVT(3)))
    q = AccessQuery(uni.const("tok", TOKEN), sd, uni.const("desired", MASK), D.TOKEN_MAPPING)
    v = p.check(s, q)
    assert _sym_ok(v)


@pytest.mark.parametrize("rule_name", sorted(RULES))
def test_transition_properties_build_formulas_for_every_rule(rule_name):
    rule = RULES[rule_name]
    uni = Universe("unbounded", sids=(ALICE, BOB, SVC))
    pre = uni.fresh_state("pre")
    actor = None if rule.kernel else uni.const("actor", THREAD)
    args = {a.name: uni.const(a.name, a.type) for a in rule.args}
    out = rule.apply(pre, actor, args)
    info = StepInfo(rule_name, actor, args, out.errno)
    for p in TRANSITION:
        v = p.check(pre, out.post, info)
        assert _sym_ok(v), p.id
