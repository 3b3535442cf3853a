"""The kill matrix: which catalog properties refute each systematically generated mutant.

Mutant operators (every mutant is built from the real rule text, see
``tokenproof.mutants``):

* ``drop-guard-K``: the rule's K-th ``require`` is ignored (this also covers
  "skip a privilege check": a privilege check is a ``require``);
* ``skip-effect-K``: the rule's K-th effect is not applied ("skip an
  ``unchanged``"/forget a write);
* ``ignore-guards``: effects apply even when a guard fails;
* ``flip-A-B``: the comparison helper ``A`` is rebound to ``B`` in the rule's
  globals (``ult``<->``ule``, ``ugt``<->``uge``, ``eq``<->``ne``,
  ``has_all``<->``has_any``);
* ``skip-privilege-check``: ``holds`` (a token holds enabled privileges) is
  rebound to "always true";
* ``effective-for-real``: ``real_token`` is rebound to ``effective_token``
  (judging on the effective instead of the primary token).

Oracles, in order (induction failure alone is never a kill):

1. the *concrete random-walk oracle*: deterministic random walks of the
   executor from the standard world with the mutant's rule set, biased towards
   the mutated rule; every state and transition property that is expected to
   hold on the real rules (expected verdict ``proved`` or ``unknown``) is
   evaluated after every step; a violation is a kill (and is replayable: the
   walk is deterministic).
2. *bounded model checking* (``tokenproof.bmc.run_bmc``) at a small depth from
   the standard world, for the mutants the walks did not kill.

A mutant nobody kills is a *survivor*; ``SURVIVORS`` classifies the known
ones as ``equivalent`` (the mutation changes nothing observable: explained) or
``gap`` (a property to add), see docs/soundness.md.
"""

from __future__ import annotations

import random
import time
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from model import domain as D
from model.rules.registry import RULES, Rule
from model.sim import ModelPreconditionError, Simulator
from properties.base import Property, StepInfo
from tokenproof.mutants import Mutant, generate

# ------------------------------------------------------------------ extra operators


def _always_true(*_: Any) -> bool:
    """A privilege check that always passes (``holds`` rebound)."""
    return True


def _values():
    from model import values as V

    return V


def _flip_pairs() -> list[tuple[str, Callable[..., Any], str]]:
    V = _values()
    return [("ult", V.ule, "ule"), ("ule", V.ult, "ult"), ("ugt", V.uge, "uge"), ("uge", V.ugt, "ugt"),
            ("eq", V.ne, "ne"), ("ne", V.eq, "eq"), ("has_all", V.has_any, "has_any"),
            ("has_any", V.has_all, "has_all")]


def code_names(fn: Callable[..., Any]) -> set[str]:
    """Global names a function (and the lambdas/comprehensions inside it) refers to."""
    out: set[str] = set()
    todo = [fn.__code__]
    while todo:
        c = todo.pop()
        out.update(c.co_names)
        todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return out


def swap_mutants(rules: dict[str, Rule] | None = None) -> list[Mutant]:
    """Flip-a-comparison, skip-a-privilege-check and effective-for-real mutants of every rule."""
    from model.rules.common import effective_token

    out: list[Mutant] = []
    for name, rule in sorted((rules or RULES).items()):
        used = code_names(rule.fn)
        for old, repl, new in _flip_pairs():
            if old in used and old in rule.fn.__globals__:
                out.append(Mutant(f"{name}/flip-{old}-{new}", name, f"{name} with {old} read as {new}",
                                  swap=(old, repl)))
        if "holds" in used and "holds" in rule.fn.__globals__:
            out.append(Mutant(f"{name}/skip-privilege-check", name,
                              f"{name} treats every privilege as held (holds -> true)", swap=("holds", _always_true)))
        if "real_token" in used and "real_token" in rule.fn.__globals__:
            out.append(Mutant(f"{name}/effective-for-real", name,
                              f"{name} judges on the effective instead of the primary token",
                              swap=("real_token", effective_token)))
    return out


_ALL: dict[str, Mutant] | None = None


def all_mutants(rules: dict[str, Rule] | None = None) -> dict[str, Mutant]:
    """Every generated mutant by name (drop-guard, skip-effect, ignore-guards, and the swap operators)."""
    global _ALL
    if rules is not None:
        return {m.name: m for m in [*generate(rules), *swap_mutants(rules)]}
    if _ALL is None:
        import model.rules  # noqa: F401

        _ALL = {m.name: m for m in [*generate(RULES), *swap_mutants(RULES)]}
    return _ALL


def operator(m: Mutant) -> str:
    op = m.name.split("/", 1)[1]
    for k in ("drop-guard", "skip-effect", "flip"):
        if op.startswith(k):
            return k
    return op


# ------------------------------------------------------------------ the concrete oracle
SIDS = None
RIGHTS = [D.TOKEN_QUERY, D.TOKEN_SELF_RIGHTS, D.MAXIMUM_ALLOWED, D.TOKEN_ALL_ACCESS, D.TOKEN_DUPLICATE,
          D.TOKEN_ASSIGN_PRIMARY | D.TOKEN_DUPLICATE, D.TOKEN_IMPERSONATE, D.GENERIC_ALL, 0]
PRIVS = [0, D.SE_CHANGE_NOTIFY, D.SE_TCB, D.SE_IMPERSONATE, D.SE_ASSIGN_PRIMARY, D.SE_TCB | D.SE_CREATE_TOKEN,
         D.SE_IMPERSONATE | D.SE_CHANGE_NOTIFY, D.ALL_PRIVILEGES]
INTEGRITY = [D.IL_UNTRUSTED, D.IL_LOW, D.IL_MEDIUM, D.IL_HIGH, D.IL_SYSTEM]
MAX = int(D.MAXIMUM_ALLOWED)
# a deterministic prefix that makes fds, sockets, impersonations and a linked pair exist
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
    ("sh2", "kacs_open_self_token", {"real": False, "access_mask": int(D.TOKEN_QUERY)}),
]


def _sids() -> list[str]:
    global SIDS
    if SIDS is None:
        from model.scenarios import ALICE, BOB, SVC

        SIDS = [ALICE, BOB, SVC, D.SID_SYSTEM, D.SID_EVERYONE, D.SID_USERS, D.SID_ADMINISTRATORS,
                D.SID_ANONYMOUS, D.SID_NULL]
    return SIDS


def random_value(rng: random.Random, sim: Simulator, a: Any, actor: Any, *, sids: list[str] | None = None,
                 socket_p: float = 0.6, wide_p: float = 0.4) -> Any:
    """A random argument for rule argument ``a`` on ``sim``'s state: mostly live
    objects (the actor's open fds, sockets its process serves), values from
    small domains for masks, privileges, levels and integrity.  ``socket_p`` and
    ``wide_p`` bias sockets towards served ones and small bit-vectors towards
    their whole range."""
    t, fmt, st = a.type, a.fmt, sim.state
    if t.kind == "bool":
        return rng.random() < 0.5
    if t.kind == "sid":
        return rng.choice(sids if sids is not None else _sids())
    if t.kind == "obj":
        if t.sort == "Handle":
            p = st.value("thread_proc", actor) if actor is not None else None
            fds = [h for h in st.universe["Handle"] if p is not None and st.value("fd_open", (p, h))]
            return rng.choice(fds) if fds and rng.random() < 0.9 else rng.choice([3, 4, 5, 6])
        if t.sort == "Socket" and actor is not None and rng.random() < socket_p:
            p = st.value("thread_proc", actor)
            served = [k for k in st.alive("Socket") if st.value("sock_server", k) == p]
            if served:
                return rng.choice(served)
        alive = st.alive(t.sort)
        ids = alive if alive and rng.random() < 0.9 else (list(st.universe[t.sort]) or [1])
        return rng.choice(ids)
    if fmt == "rights":
        return int(rng.choice(RIGHTS))
    if fmt == "privileges":
        return int(rng.choice(PRIVS))
    if fmt == "level":
        return rng.randrange(4)
    if fmt == "integrity":
        return int(rng.choice(INTEGRITY))
    if t.width <= 8:
        return rng.randrange(1 << t.width) if rng.random() < wide_p else rng.choice([0, 1, 2, 3])
    return rng.choice([0, 1, 2])


def random_args(rng: random.Random, sim: Simulator, rule: Rule, actor: Any) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for a in rule.args:
        if a.fresh and rng.random() < 0.85:
            continue  # the executor allocates a fresh object
        args[a.name] = random_value(rng, sim, a, actor)
    if rule.name == "kacs_create_token":
        args["group_count"] = rng.randrange(8)
        args["elevation_field"] = 0 if rng.random() < 0.8 else 1
        args["session"] = rng.choice(sim.state.alive("Session"))
        args.setdefault("primary", rng.random() < 0.6)
    return args


def judged_properties(catalog: dict[str, Property], profile: str = "kacs",
                      ids: Iterable[str] | None = None) -> list[Property]:
    """Properties a kill may be judged on: state/transition properties expected to hold on the real rules."""
    chosen = [catalog[i] for i in ids] if ids else [catalog[k] for k in sorted(catalog)]
    return [p for p in chosen if p.kind in ("state", "transition") and p.expected(profile) != "refuted"]


def violations(props: list[Property], pre: Any, post: Any, info: StepInfo) -> list[str]:
    out = []
    for p in props:
        if p.kind == "transition" and p.rules is not None and info.rule not in p.rules:
            continue
        try:
            ok = p.check(post) if p.kind == "state" else p.check(pre, post, info)
        except Exception:  # noqa: BLE001 - a check that cannot evaluate on a broken state is a kill
            ok = False
        if ok is not True:
            out.append(p.id)
    return out


@dataclass
class Kill:
    mutant: str
    killed_by: dict[str, str] = field(default_factory=dict)  # property -> oracle ("walk:seed:step" or "bmc:depth")
    oracle: str = ""  # the first oracle that killed it
    seconds: float = 0.0
    note: str = ""

    @property
    def killed(self) -> bool:
        return bool(self.killed_by)


def walk_mutant(m: Mutant, props: list[Property], seeds: Iterable[int] = range(6), steps: int = 40,
                bias: float = 0.5, first_only: bool = False, base: dict[str, Rule] | None = None) -> dict[str, str]:
    """Run the concrete random-walk oracle on ``m``; return property -> where it was violated."""
    from model.scenarios import standard

    rules = m.rules(base)
    names = sorted(n for n, r in rules.items() if not r.kernel)
    target = m.rule if not rules[m.rule].kernel else None
    found: dict[str, str] = {}

    def record(rec: Any, where: str) -> None:
        for r in [rec, *rec.kernel_followups]:
            out = r.outcome
            for pid in violations(props, out.pre, out.post, StepInfo(r.rule, r.actor, r.args, out.errno)):
                found.setdefault(pid, where)

    for seed in seeds:
        rng = random.Random(seed * 7919 + 17)
        sim = Simulator(standard(), rules=rules)
        try:
            for i, (actor, name, args) in enumerate(PREFIX):
                try:
                    record(sim.call(name, actor, **args), f"walk:{seed}:prefix{i}")
                except ModelPreconditionError:
                    continue
            done = tries = 0
            while done < steps and tries < steps * 15:
                tries += 1
                if first_only and found:
                    return found
                threads = sim.state.alive("Thread")
                if not threads:
                    break
                name = target if target and rng.random() < bias else rng.choice(names)
                rule = rules[name]
                actor = rng.choice(threads)
                try:
                    rec = sim.call(name, actor, **random_args(rng, sim, rule, actor))
                except ModelPreconditionError:
                    continue
                done += 1
                record(rec, f"walk:{seed}:{done}")
        except Exception as e:  # noqa: BLE001 - a mutant that crashes the executor: noted, not a kill
            found.setdefault("__crash__", f"walk:{seed}: {type(e).__name__}: {e}")
        if first_only and any(k != "__crash__" for k in found):
            break
    found.pop("__crash__", None)
    return found


def bmc_mutant(m: Mutant, props: list[Property], depth: int = 2, timeout_ms: int = 20000,
               base: dict[str, Rule] | None = None, first_only: bool = True) -> tuple[dict[str, str], list[str]]:
    """BMC from the standard world with the mutant's rules: property -> "bmc:K"; plus unknown notes."""
    from tokenproof.bmc import REFUTED, UNKNOWN, run_bmc

    rules = m.rules(base)
    found: dict[str, str] = {}
    unknown: list[str] = []
    for p in relevant(props, m, rules):
        res = run_bmc(p, depth=depth, rules=rules, timeout_ms=timeout_ms, mutant=m.name)
        if res.verdict == REFUTED:
            found[p.id] = f"bmc:{res.depth}"
            if first_only:
                break
        elif res.verdict == UNKNOWN:
            unknown.append(f"{p.id}: {res.reason}")
    return found, unknown


def relevant(props: list[Property], m: Mutant, rules: dict[str, Rule]) -> list[Property]:
    """Properties a mutant of rule ``m.rule`` can break: transition properties about that rule, and
    state properties reading a field the real or mutated rule writes (by a symbolic run)."""
    writes = _writes(m.rule, RULES) | _writes(m.rule, rules)
    out = []
    for p in props:
        if p.kind == "transition":
            if p.rules is None or m.rule in p.rules:
                out.append(p)
        elif _reads(p) & writes:
            out.append(p)
    return out


_READS: dict[str, frozenset[str]] = {}


def _reads(p: Property) -> frozenset[str]:
    if p.id not in _READS:
        from model.symbolic import Universe
        from tokenproof.prover import _ReadRecorder

        rec = _ReadRecorder(Universe("unbounded").fresh_state("pre"))
        p.check(rec)
        _READS[p.id] = frozenset(rec.reads)
    return _READS[p.id]


def _writes(name: str, rules: dict[str, Rule]) -> frozenset[str]:
    from model.state import THREAD
    from model.symbolic import Universe

    uni = Universe("unbounded")
    pre = uni.fresh_state("pre")
    rule = rules[name]
    actor = None if rule.kernel else uni.const("actor", THREAD)
    args = {a.name: uni.const(a.name, a.type) for a in rule.args}
    try:
        out = rule.apply(pre, actor, args)
    except Exception:  # noqa: BLE001
        return frozenset(pre.fns)
    return frozenset(f for f, fn in out.post.fns.items() if fn is not pre.fns[f])


# ------------------------------------------------------------------ known survivors
# mutant name -> ("equivalent" | "gap", explanation).  Filled from benchmark runs; docs/soundness.md.
SURVIVORS: dict[str, tuple[str, str]] = {}


def classify(name: str) -> tuple[str, str]:
    return SURVIVORS.get(name, ("unclassified", "no property refutes it; not yet classified"))


# ------------------------------------------------------------------ the matrix
@dataclass
class Matrix:
    kills: list[Kill]
    props: list[str]
    seconds: float = 0.0

    @property
    def killed(self) -> list[Kill]:
        return [k for k in self.kills if k.killed]

    @property
    def survivors(self) -> list[Kill]:
        return [k for k in self.kills if not k.killed]

    @property
    def score(self) -> float:
        return len(self.killed) / len(self.kills) if self.kills else 1.0

    @property
    def adjusted_score(self) -> float:
        """Killed over non-equivalent mutants (equivalent mutants cannot be killed)."""
        eq = sum(1 for k in self.survivors if classify(k.mutant)[0] == "equivalent")
        n = len(self.kills) - eq
        return len(self.killed) / n if n else 1.0

    def as_json(self) -> dict[str, Any]:
        return {"mutants": len(self.kills), "killed": len(self.killed), "score": round(self.score, 4),
                "adjusted_score": round(self.adjusted_score, 4), "seconds": round(self.seconds, 2),
                "matrix": {k.mutant: {"killed_by": k.killed_by, "oracle": k.oracle, "note": k.note,
                                      **({} if k.killed else dict(zip(("class", "why"), classify(k.mutant))))}
                           for k in self.kills}}


def evaluate(name: str, prop_ids: list[str] | None = None, depth: int = 2, timeout_ms: int = 20000,
             seeds: int = 6, steps: int = 40, use_bmc: bool = True, full: bool = False,
             profile: str = "kacs") -> Kill:
    """Kill one mutant (by name): the concrete oracle first, BMC for survivors."""
    from tokenproof.catalog_run import load_catalog

    t0 = time.perf_counter()
    m = all_mutants()[name]
    props = judged_properties(load_catalog(), profile, prop_ids)
    k = Kill(name)
    k.killed_by = walk_mutant(m, props, range(seeds), steps, first_only=not full)
    if k.killed_by:
        k.oracle = "walk"
    elif use_bmc and depth > 0:
        found, unknown = bmc_mutant(m, props, depth, timeout_ms, first_only=not full)
        k.killed_by = found
        k.oracle = "bmc" if found else ""
        if unknown:
            k.note = "BMC unknown: " + "; ".join(unknown[:3])
    k.seconds = time.perf_counter() - t0
    return k


def _evaluate_star(a: tuple) -> Kill:
    return evaluate(*a)


def kill_matrix(names: list[str] | None = None, prop_ids: list[str] | None = None, depth: int = 2,
                timeout_ms: int = 20000, jobs: int = 1, seeds: int = 6, steps: int = 40, use_bmc: bool = True,
                full: bool = False, progress: Callable[[Kill], None] | None = None) -> Matrix:
    t0 = time.perf_counter()
    names = names or sorted(all_mutants())
    work = [(n, prop_ids, depth, timeout_ms, seeds, steps, use_bmc, full) for n in names]
    kills: list[Kill] = []
    if jobs > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(jobs) as pool:
            for k in pool.imap(_evaluate_star, work):
                kills.append(k)
                if progress:
                    progress(k)
    else:
        for w in work:
            k = _evaluate_star(w)
            kills.append(k)
            if progress:
                progress(k)
    from tokenproof.catalog_run import load_catalog

    props = [p.id for p in judged_properties(load_catalog(), "kacs", prop_ids)]
    return Matrix(kills, props, time.perf_counter() - t0)


def select_mutants(rules: list[str] | None = None, names: list[str] | None = None) -> list[str]:
    allm = all_mutants()
    out = sorted(allm)
    if rules:
        unknown = [r for r in rules if r not in RULES]
        if unknown:
            raise KeyError(f"unknown rule(s): {', '.join(unknown)}")
        out = [n for n in out if allm[n].rule in rules]
    if names:
        unknown = [n for n in names if n not in allm]
        if unknown:
            raise KeyError(f"unknown mutant(s): {', '.join(unknown)}")
        out = [n for n in out if n in names]
    return out
