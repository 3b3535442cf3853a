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

Oracles, cheapest first (induction failure alone is never a kill):

1. (a) the conformance scenarios ``tests/scenarios/*.json`` that evaluate the
   mutated rule (``trace_cases``: a trace that never evaluates it runs the same
   with the mutant, so it is skipped), run with the mutant's rules; every
   *judged* property (state/transition, expected ``proved`` or ``unknown`` on
   kacs) is checked after every step and kernel follow-up.  A changed
   expected errno/return value is recorded as a *scenario kill*
   (``Kill.scenario_kills``, a second column), never as a catalog kill;
2. (b) the counterexample corpus ``counterexamples/{,nt/,found/}*.json`` the
   same way, then the deterministic random walks from the standard world
   after a fixed prefix (fds, sockets, impersonation), biased towards the
   mutated rule;
3. (c) BMC (``bmc_stage``) at a small depth from the standard world on the
   conjunction of the properties the mutant can affect (``relevant``,
   ``combined_property``), within a per-mutant wall budget.

**Killed** (``Kill.verdict``): some judged catalog property is violated on a
concrete run of the mutant's rules (a scenario, a corpus trace, a walk: all
deterministic and replayable; or a BMC counterexample, counted only after
``tokenproof.replay`` replays it, the kill being the properties violated at
the replayed step); the real rules violate none of them on the same traces
(``TraceCase.baseline`` is checked empty by the tests).  A property check that
raises is not a violation.  **Unknown**: no kill and the BMC query was unknown
or not run (budget/deadline).  **Survived**: no kill and BMC found nothing
within its bound.

A mutant no property kills is classified (``classify``): a reviewed entry of
``SURVIVORS`` (``equivalent``, explained, or ``gap``); else ``gap`` when the run
shows it behaves differently from the real rules (a scenario outcome changes,
or ``observable_difference`` finds a walk step with another errno or
post-state); else ``unclassified`` (no difference found: an equivalent
candidate, not a proof).  See docs/soundness.md.
"""

from __future__ import annotations

import random
import time
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from model import domain as D
from model.rules.registry import RULES, Rule
from model.sim import ModelPreconditionError, Simulator
from properties.base import Property, StepInfo
from properties.contracts_adjustment import SURVIVORS_ADJUSTMENT
from properties.contracts_authority import SURVIVORS_AUTHORITY
from properties.contracts_lifecycle import SURVIVORS_LIFECYCLE
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
        except Exception:  # noqa: BLE001 - a check that cannot evaluate is not a violation (never a kill)
            continue
        if ok is not True:
            out.append(p.id)
    return out


KILLED, SURVIVED, UNKNOWN = "killed", "survived", "unknown"


@dataclass
class Kill:
    mutant: str
    killed_by: dict[str, str] = field(default_factory=dict)  # catalog property -> where it was violated (replayable)
    oracle: str = ""  # the first oracle that killed it: scenario, corpus, walk, bmc
    seconds: float = 0.0  # wall
    cpu: float = 0.0  # process CPU (z3 included: it runs in this process)
    note: str = ""
    scenario_kills: list[str] = field(default_factory=list)  # scenarios whose expected outcome the mutant changes
    unknown: list[str] = field(default_factory=list)  # BMC queries that were unknown or not run (budget)
    differs: str = ""  # not killed: the first step where it behaves differently from the real rules ("": none)

    @property
    def killed(self) -> bool:
        return bool(self.killed_by)

    @property
    def verdict(self) -> str:
        """killed (a replayed concrete violation of a catalog property), unknown (no kill, and some
        BMC query timed out or was not run for lack of budget) or survived (no kill, BMC bounded-ok)."""
        if self.killed_by:
            return KILLED
        return UNKNOWN if self.unknown else SURVIVED


# ------------------------------------------------------------------ oracle (a)/(b): recorded traces
@dataclass
class TraceCase:
    """A recorded trace (a conformance scenario or a corpus counterexample) and its run on the real rules."""

    path: str
    kind: str  # "scenario" | "corpus"
    trace: Any
    rules_used: frozenset[str]  # rules whose text the real run evaluates (steps; kernel reclamation if auto_gc)
    baseline: frozenset[str]  # judged properties the real run violates (never counted against a mutant)


@dataclass
class TraceRun:
    violated: dict[str, int] = field(default_factory=dict)  # property -> step index
    mismatches: list[str] = field(default_factory=list)  # expected outcomes (errno/ret) that differ
    stopped: str = ""  # why the run stopped early (a step not possible, an unknown rule)


def run_trace_checked(trace: Any, rules: dict[str, Rule], props: list[Property], first_only: bool = False) -> TraceRun:
    """Run ``trace`` step by step on the concrete executor with ``rules`` (rule names looked up in ``rules``
    whatever the trace's profile), checking every property in ``props`` after every step and every kernel
    follow-up (state properties on the post-state, transition properties on the step), and each step's
    ``expect`` (errno and return values), like ``tokenproof.trace.execute``."""
    from types import SimpleNamespace

    from model.reclaim import collect_garbage
    from model.sim import apply_rule
    from tokenproof.render import errno_name, render_ret
    from tokenproof.trace import TraceError, _actor, _check_expect, build_world, resolve_args

    out = TraceRun()
    world = build_world(trace)
    for k, st in enumerate(trace.steps):
        rule = rules.get(st.rule)
        if rule is None:
            out.stopped = f"step {k}: no rule {st.rule}"
            break
        try:
            actor = _actor(trace, k, rule, world, None)
            args, binds = resolve_args(trace, k, rule, world, actor)
            res = apply_rule(world.state, rule, actor, args)
        except (ModelPreconditionError, TraceError) as e:
            out.stopped = f"step {k} ({st.rule}) not possible: {str(e)[:120]}"
            out.mismatches.append(out.stopped)
            break
        used = res.ret.pop("_args", args)
        for sort, table in binds.items():
            world.names[sort].update(table)
        world.state = res.post
        steps = [(res.pre, res.post, StepInfo(rule.name, actor, used, res.errno))]
        if trace.auto_gc:
            world.state, recs = collect_garbage(res.post, rules)
            steps += [(r.outcome.pre, r.outcome.post, StepInfo(r.rule, r.actor, r.args, r.outcome.errno)) for r in recs]
        for pre, post, info in steps:
            for pid in violations(props, pre, post, info):
                out.violated.setdefault(pid, k)
        if st.expect is not None:
            sr = SimpleNamespace(errno_name=errno_name(int(res.errno)), expected_errno=None, failures=[],
                                 ret=render_ret(rule, res.ret, world))
            _check_expect(trace, k, rule, sr, res.ret, world)
            out.mismatches += [f"step {k}: {f}" for f in sr.failures]
        if first_only and out.violated:
            break
    return out


_CASES: list[TraceCase] | None = None


def trace_cases(props: list[Property] | None = None) -> list[TraceCase]:
    """Every conformance scenario (tests/scenarios/*.json) and every trace of the counterexample corpus
    (counterexamples/*.json, nt/, found/; other schemas skipped), each run once on the real rules."""
    global _CASES
    if _CASES is None:
        from pathlib import Path

        from model.reclaim import _RECLAIM
        from tokenproof.catalog_run import load_catalog
        from tokenproof.trace import TraceError, load_trace

        import model.rules  # noqa: F401

        root = Path(__file__).resolve().parents[1]
        props = props if props is not None else judged_properties(load_catalog())
        files = [("scenario", p) for p in sorted((root / "tests" / "scenarios").glob("*.json"))]
        for sub in ("", "nt", "found"):
            files += [("corpus", p) for p in sorted((root / "counterexamples" / sub).glob("*.json"))
                      if p.name != "MANIFEST.json"]
        cases = []
        for kind, p in files:
            try:
                tr = load_trace(p)
            except TraceError:
                continue  # not a tokenproof-trace/1 file (e.g. an access counterexample)
            used = {s.rule for s in tr.steps} | ({n for n, _, _ in _RECLAIM} if tr.auto_gc else set())
            base = run_trace_checked(tr, RULES, props)
            cases.append(TraceCase(str(p.relative_to(root)), kind, tr, frozenset(used), frozenset(base.violated)))
        _CASES = cases
    return _CASES


def trace_oracle(m: Mutant, props: list[Property], kind: str, first_only: bool = True,
                 base: dict[str, Rule] | None = None) -> tuple[dict[str, str], list[str]]:
    """Run the recorded traces of ``kind`` that evaluate the mutated rule with the mutant's rules:
    (property -> "kind:file:step" for judged properties violated that the real run does not violate,
    the files whose expected outcome changes).  A trace that never evaluates the mutated rule runs the
    same with the mutant (the executor is deterministic), so it is skipped."""
    rules = m.rules(base)
    found: dict[str, str] = {}
    changed: list[str] = []
    for case in trace_cases():
        if case.kind != kind or m.rule not in case.rules_used:
            continue
        try:
            run = run_trace_checked(case.trace, rules, props, first_only=first_only and kind != "scenario")
        except Exception as e:  # noqa: BLE001 - a mutant that crashes the executor: a changed outcome, no kill
            changed.append(f"{case.path} (executor raised {type(e).__name__})")
            continue
        for pid, k in run.violated.items():
            if pid not in case.baseline:
                found.setdefault(pid, f"{kind}:{case.path}:{k}")
        if run.mismatches:
            changed.append(case.path)
        if first_only and found and kind != "scenario":
            break
    return found, changed


def walk_records(rules: dict[str, Rule], rng: random.Random, steps: int, label: str = "walk",
                 target: str | None = None, bias: float = 0.5) -> Iterator[tuple[Any, str]]:
    """One deterministic random executor walk from the standard world: the ``PREFIX`` calls, then up to
    ``steps`` successful calls of random non-kernel rules by random live threads (``target`` drawn with
    probability ``bias``), arguments from ``random_args``.  Yields (step record, where); the consumer may
    stop at any point.  Shared by the kill matrix, ``observable_difference`` and the vacuity walks."""
    from model.scenarios import standard

    names = sorted(n for n, r in rules.items() if not r.kernel)
    sim = Simulator(standard(), rules=rules)
    for i, (actor, name, args) in enumerate(PREFIX):
        try:
            rec = sim.call(name, actor, **args)
        except ModelPreconditionError:
            continue
        yield rec, f"{label}:prefix{i}"
    done = tries = 0
    while done < steps and tries < steps * 15:
        tries += 1
        threads = sim.state.alive("Thread")
        if not threads:
            break
        name = target if target and rng.random() < bias else rng.choice(names)
        actor = rng.choice(threads)
        try:
            rec = sim.call(name, actor, **random_args(rng, sim, rules[name], actor))
        except ModelPreconditionError:
            continue
        done += 1
        yield rec, f"{label}:{done}"


def walk_mutant(m: Mutant, props: list[Property], seeds: Iterable[int] = range(6), steps: int = 40,
                bias: float = 0.5, first_only: bool = False, base: dict[str, Rule] | None = None,
                budget: float = 0.0) -> dict[str, str]:
    """Run the concrete random-walk oracle on ``m``; return property -> where it was violated.
    ``budget`` > 0: stop starting new steps after that many CPU seconds (a mutant whose walks blow up)."""
    c0 = time.process_time()
    rules = m.rules(base)
    target = m.rule if not rules[m.rule].kernel else None
    found: dict[str, str] = {}

    def record(rec: Any, where: str) -> None:
        for r in [rec, *rec.kernel_followups]:
            out = r.outcome
            for pid in violations(props, out.pre, out.post, StepInfo(r.rule, r.actor, r.args, out.errno)):
                found.setdefault(pid, where)

    for seed in seeds:
        rng = random.Random(seed * 7919 + 17)
        try:
            for rec, where in walk_records(rules, rng, steps, f"walk:{seed}", target, bias):
                record(rec, where)
                if first_only and found:
                    return found
                if budget and time.process_time() - c0 > budget:
                    found.setdefault("__budget__", where)
                    break
        except Exception as e:  # noqa: BLE001 - a mutant that crashes the executor: noted, not a kill
            found.setdefault("__crash__", f"walk:{seed}: {type(e).__name__}: {e}")
        if first_only and any(not k.startswith("__") for k in found):
            break
        if "__budget__" in found:
            break
    found.pop("__crash__", None)
    found.pop("__budget__", None)
    return found


def combined_property(props: list[Property], name: str = "catalog") -> Property:
    """One transition property that is the conjunction of ``props`` (state properties on the post-state,
    transition properties on the steps of their rules): one BMC unrolling checks them all.  It is never
    a judge itself: a refutation is replayed and the catalog properties violated on the replayed trace
    are the kill (``bmc_mutant``)."""
    from model.values import and_

    state = [p for p in props if p.kind == "state"]
    trans = [p for p in props if p.kind == "transition"]

    def check(pre: Any, post: Any, step: StepInfo) -> Any:
        parts = [p.check(post) for p in state]
        parts += [p.check(pre, post, step) for p in trans if p.rules is None or step.rule in p.rules]
        return and_(*parts) if parts else True

    return Property(f"{name}-conjunction", "every judged catalog property", "transition", (), check,
                    {"kacs": "proved"})


def bmc_mutant(m: Mutant, props: list[Property], depth: int = 2, timeout_ms: int = 20000,
               base: dict[str, Rule] | None = None, first_only: bool = True,
               budget: float = 0.0) -> tuple[dict[str, str], list[str]]:
    """BMC from the standard world with the mutant's rules, on the properties the mutant can affect
    (``relevant``): property -> "bmc:K" for refutations whose counterexample replays on the concrete
    executor (``tokenproof.replay``), plus the queries that were unknown, not run (``budget``: wall
    seconds for this mutant's BMC; 0 = none) or whose replay disagreed (a tokenproof bug, never a kill)."""
    from tokenproof.bmc import REFUTED, UNKNOWN, run_bmc
    from tokenproof.replay import ReplayMismatch, replay

    t0 = time.perf_counter()
    rules = m.rules(base)
    found: dict[str, str] = {}
    unknown: list[str] = []
    todo = relevant(props, m, rules)
    for i, p in enumerate(todo):
        left = budget - (time.perf_counter() - t0) if budget else 0.0
        if budget and left < 1.0:
            unknown.append(f"budget: {len(todo) - i} of {len(todo)} properties not checked")
            break
        tmo = min(timeout_ms, int(left * 1000)) if budget else timeout_ms
        res = run_bmc(p, depth=depth, rules=rules, timeout_ms=tmo, mutant=m.name)
        if res.verdict == REFUTED:
            try:
                replay(res.counterexample(), rules)
            except ReplayMismatch as e:
                unknown.append(f"{p.id}: REPLAY MISMATCH (tokenproof bug): {e}")
                continue
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


def observable_difference(m: Mutant, seeds: Iterable[int] = range(6), steps: int = 40, bias: float = 0.5,
                          base: dict[str, Rule] | None = None) -> str:
    """Where the mutant first behaves differently from the real rules on the random walks of
    ``walk_mutant`` (same seeds): each step of the mutated rule is also applied with the real rule to
    the same pre-state and arguments, and the errno and post-states compared.  "" if no difference
    (which is evidence for an equivalent mutant, not a proof)."""
    from model.sim import apply_rule

    real = dict(base or RULES)
    rules = m.rules(base)
    target = m.rule if not rules[m.rule].kernel else None

    def compare(rec: Any, where: str) -> str:
        for r in [rec, *rec.kernel_followups]:
            if r.rule != m.rule:
                continue
            try:
                want = apply_rule(r.outcome.pre, real[r.rule], r.actor, dict(r.args))
            except ModelPreconditionError:
                return f"{where}: {r.rule} is not enabled with the real rules"
            if int(want.errno) != int(r.outcome.errno):
                return f"{where}: {r.rule} returns errno {int(r.outcome.errno)} instead of {int(want.errno)}"
            if want.post != r.outcome.post:
                from model.state import SCHEMA

                fields = [f.name for f in SCHEMA if want.post.raw(f.name) != r.outcome.post.raw(f.name)]
                return f"{where}: {r.rule} leaves a different state ({', '.join(fields[:4]) or 'universe'})"
        return ""

    for seed in seeds:
        rng = random.Random(seed * 7919 + 17)
        try:
            for rec, where in walk_records(rules, rng, steps, f"walk:{seed}", target, bias):
                d = compare(rec, where)
                if d:
                    return d
        except Exception as e:  # noqa: BLE001
            return f"walk:{seed}: the mutant's executor raised {type(e).__name__}"
    return ""


# ------------------------------------------------------------------ known survivors
# mutant name -> ("equivalent" | "gap", explanation): the reviewed survivors, declared beside the
# rule-contract properties of each rule family (``SURVIVORS_<AREA>`` in properties/contracts_*.py).
SURVIVORS: dict[str, tuple[str, str]] = {**SURVIVORS_ADJUSTMENT, **SURVIVORS_AUTHORITY, **SURVIVORS_LIFECYCLE}


def classify(name: str, kill: Kill | None = None) -> tuple[str, str]:
    """The class of a mutant no catalog property killed: the reviewed entry of ``SURVIVORS`` if any;
    else ``gap`` when the run shows the mutant behaves differently from the real rules (it changes a
    conformance scenario's expected outcome, or a step of a walk gives another errno or post-state):
    it is not equivalent and no catalog property catches it; else ``unclassified`` (an equivalent
    candidate: no difference found, which is not a proof)."""
    if name in SURVIVORS:
        return SURVIVORS[name]
    if kill is not None and kill.scenario_kills:
        return ("gap", f"changes the expected outcome of {kill.scenario_kills[0]}"
                + (f" (+{len(kill.scenario_kills) - 1} more)" if len(kill.scenario_kills) > 1 else "")
                + "; no catalog property is violated")
    if kill is not None and kill.differs:
        return ("gap", f"behaves differently from the real rules ({kill.differs}); no catalog property is violated")
    return ("unclassified", "no property refutes it and no scenario or walk tells it apart from the real rules "
            "(an equivalent candidate); not yet reviewed")


# ------------------------------------------------------------------ the matrix
@dataclass
class Matrix:
    kills: list[Kill]
    props: list[str]
    seconds: float = 0.0
    cpu: float = 0.0  # CPU of this process and its workers

    @property
    def killed(self) -> list[Kill]:
        return [k for k in self.kills if k.verdict == KILLED]

    @property
    def survivors(self) -> list[Kill]:
        """Not killed and BMC found nothing within its bound (``unknown`` ones are listed separately)."""
        return [k for k in self.kills if k.verdict == SURVIVED]

    @property
    def unknowns(self) -> list[Kill]:
        return [k for k in self.kills if k.verdict == UNKNOWN]

    @property
    def not_killed(self) -> list[Kill]:
        return [k for k in self.kills if k.verdict != KILLED]

    @property
    def score(self) -> float:
        """Catalog kills over all mutants (the headline: unknown counts as not killed)."""
        return len(self.killed) / len(self.kills) if self.kills else 1.0

    @property
    def scenario_score(self) -> float:
        """Mutants that change some conformance scenario's expected outcome, over all mutants."""
        return sum(1 for k in self.kills if k.scenario_kills) / len(self.kills) if self.kills else 1.0

    @property
    def adjusted_score(self) -> float:
        """Killed over non-equivalent mutants (equivalent mutants cannot be killed)."""
        eq = sum(1 for k in self.not_killed if classify(k.mutant, k)[0] == "equivalent")
        n = len(self.kills) - eq
        return len(self.killed) / n if n else 1.0

    def as_json(self) -> dict[str, Any]:
        return {"mutants": len(self.kills), "killed": len(self.killed), "survived": len(self.survivors),
                "unknown": len(self.unknowns), "score": round(self.score, 4),
                "scenario_score": round(self.scenario_score, 4),
                "adjusted_score": round(self.adjusted_score, 4), "seconds": round(self.seconds, 2),
                "cpu_seconds": round(self.cpu, 2),
                "matrix": {k.mutant: {"verdict": k.verdict, "killed_by": k.killed_by, "oracle": k.oracle,
                                      "scenario_kills": k.scenario_kills, "unknown": k.unknown, "differs": k.differs,
                                      "note": k.note,
                                      "seconds": round(k.seconds, 2), "cpu": round(k.cpu, 2),
                                      **({} if k.killed else dict(zip(("class", "why"), classify(k.mutant, k))))}
                           for k in self.kills}}


ORACLES = ("scenario", "corpus", "walk", "bmc")


class _OutOfBudget(BaseException):
    """Raised by a CPU timer inside an oracle that runs too long (e.g. a mutant of a kernel reclamation
    rule that makes the garbage collection loop forever); a BaseException so no oracle swallows it."""


def _budgeted(seconds: float, fn: Callable[[], Any], default: Any) -> tuple[Any, bool]:
    """``fn()`` with a CPU-time limit (``signal.ITIMER_VIRTUAL``, main thread only); ``(default, True)``
    when the limit is hit."""
    import signal
    import threading

    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        return fn(), False

    def alarm(*_: Any) -> None:
        raise _OutOfBudget()

    old = signal.signal(signal.SIGVTALRM, alarm)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        return fn(), False
    except _OutOfBudget:
        return default, True
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, old)


def evaluate(name: str, prop_ids: list[str] | None = None, depth: int = 2, timeout_ms: int = 20000,
             seeds: int = 6, steps: int = 40, use_bmc: bool = True, full: bool = False,
             profile: str = "kacs", bmc_budget: float = 60.0, walk_budget: float = 20.0) -> Kill:
    """Kill one mutant (by name), cheapest oracle first: (a) the conformance scenarios, (b) the
    counterexample corpus, then the deterministic random walks, (c) BMC (``bmc_budget`` wall seconds)
    for what survives.  The scenarios always all run (their expected-outcome changes are the
    ``scenario_kills`` column); with ``full`` every oracle runs and every violated property is listed."""
    from tokenproof.catalog_run import load_catalog

    t0, c0 = time.perf_counter(), time.process_time()
    m = all_mutants()[name]
    props = judged_properties(load_catalog(), profile, prop_ids)
    k = Kill(name)

    def take(found: dict[str, str], oracle: str) -> None:
        for pid, where in found.items():
            k.killed_by.setdefault(pid, where)
        if found and not k.oracle:
            k.oracle = oracle

    (found, k.scenario_kills), out = _budgeted(walk_budget, lambda: trace_oracle(m, props, "scenario",
                                                                                first_only=not full), ({}, []))
    take(found, "scenario")
    if out:
        k.note = "scenarios out of CPU budget"
    if full or not k.killed_by:
        (found, _), out = _budgeted(walk_budget, lambda: trace_oracle(m, props, "corpus", first_only=not full),
                                    ({}, []))
        take(found, "corpus")
        if out:
            k.note = (k.note + "; " if k.note else "") + "corpus out of CPU budget"
    if full or not k.killed_by:
        found, out = _budgeted(walk_budget * 1.5, lambda: walk_mutant(m, props, range(seeds), steps,
                                                                      first_only=not full, budget=walk_budget), {})
        take(found, "walk")
        if out:
            k.note = "walks out of CPU budget"
    if not k.killed_by and not k.scenario_kills:
        k.differs, out = _budgeted(walk_budget, lambda: observable_difference(m, range(seeds), steps), "")
        if out:
            k.note = (k.note + "; " if k.note else "") + "difference search out of CPU budget"
    if not k.killed_by and "out of CPU budget" in k.note:
        k.unknown.append(k.note)  # an oracle did not finish: not a survivor, unknown
    k.seconds, k.cpu = time.perf_counter() - t0, time.process_time() - c0
    if use_bmc and depth > 0 and (full or not k.killed_by):
        k = bmc_stage(k, prop_ids, depth, timeout_ms, full, profile, bmc_budget)
    return k


def min_bmc_depth(rule: str) -> int:
    """The least BMC depth at which a mutant of ``rule`` can act from the standard world: the kernel's
    reclamation rules (§4.2 refcount, §4.6 Lifecycle) reclaim only what an earlier thread step released
    (nothing is reclaimable in the standard world), so their mutants need a step before theirs."""
    from model.reclaim import _RECLAIM

    return 2 if rule in {name for name, _, _ in _RECLAIM} else 1


def bmc_stage(k: Kill, prop_ids: list[str] | None = None, depth: int = 1, timeout_ms: int = 20000,
              full: bool = False, profile: str = "kacs", bmc_budget: float = 60.0,
              deadline: float = 0.0) -> Kill:
    """Oracle (c) for a mutant the cheap oracles did not kill: one BMC query per depth on the conjunction
    of the properties it can affect (``combined_property``), within ``bmc_budget`` wall seconds and
    before the absolute ``deadline`` (``time.time()``; 0 = none).  A refutation counts only after its
    counterexample replays; the kill is the catalog properties violated at the replayed last step.
    Out of budget or solver unknown: the mutant is ``unknown``, never killed."""
    from tokenproof.bmc import REFUTED, UNKNOWN, run_bmc
    from tokenproof.catalog_run import load_catalog
    from tokenproof.replay import ReplayMismatch, replay

    t0, c0 = time.perf_counter(), time.process_time()
    m = all_mutants()[k.mutant]
    rules = m.rules()
    props = relevant(judged_properties(load_catalog(), profile, prop_ids), m, rules)
    budget = bmc_budget
    if deadline:
        budget = min(budget, deadline - time.time())
    if budget < 1.0:
        k.unknown.append("BMC not run: out of time")
    elif props:
        depth = max(depth, min_bmc_depth(m.rule))
        res = run_bmc(combined_property(props), depth=depth, rules=rules, mutant=m.name,
                      timeout_ms=min(timeout_ms * depth, int(budget * 1000)))
        if res.verdict == REFUTED:
            try:
                cex = res.counterexample()
                rr = replay(cex, rules)
                last = cex.steps[-1]
                info = StepInfo(last.rule, last.actor, dict(last.args), rr.errnos[-1])
                for pid in violations(props, rr.states[-2], rr.states[-1], info):
                    k.killed_by.setdefault(pid, f"bmc:{res.depth}")
                if k.killed_by and not k.oracle:
                    k.oracle = "bmc"
            except ReplayMismatch as e:
                k.unknown.append(f"REPLAY MISMATCH (tokenproof bug): {e}")
        elif res.verdict == UNKNOWN:
            k.unknown.append(f"BMC unknown at depth {res.depth + 1}: {res.reason}")
    if k.unknown:
        k.note = "; ".join(k.unknown[:2])
    k.seconds += time.perf_counter() - t0
    k.cpu += time.process_time() - c0
    return k


def _bmc_star(a: tuple) -> Kill:
    return bmc_stage(*a)


def _evaluate_star(a: tuple) -> Kill:
    return evaluate(*a)


def _pool_map(fn: Callable[[tuple], Kill], work: list[tuple], jobs: int,
              progress: Callable[[Kill], None] | None) -> list[Kill]:
    out: list[Kill] = []
    if jobs > 1 and len(work) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(jobs) as pool:
            for k in pool.imap_unordered(fn, work):
                out.append(k)
                if progress:
                    progress(k)
    else:
        for w in work:
            out.append(fn(w))
            if progress:
                progress(out[-1])
    return out


def kill_matrix(names: list[str] | None = None, prop_ids: list[str] | None = None, depth: int = 1,
                timeout_ms: int = 20000, jobs: int = 1, seeds: int = 6, steps: int = 40, use_bmc: bool = True,
                full: bool = False, progress: Callable[[Kill], None] | None = None,
                bmc_budget: float = 60.0, walk_budget: float = 20.0, deadline: float = 0.0) -> Matrix:
    """The kill matrix of ``names`` (default: every generated mutant) in two phases: the cheap oracles
    (scenarios, corpus, walks) for every mutant, then BMC (depth ``depth``) for the ones not killed, each
    within ``bmc_budget`` wall seconds, none started after ``deadline`` seconds from now (0 = no limit)."""
    import os

    t0 = time.perf_counter()
    c0 = os.times()
    end = time.time() + deadline if deadline else 0.0
    names = names or sorted(all_mutants())
    trace_cases()  # run the recorded traces on the real rules once, before forking the workers
    work = [(n, prop_ids, depth, timeout_ms, seeds, steps, False, full, "kacs", bmc_budget, walk_budget)
            for n in names]
    kills = {k.mutant: k for k in _pool_map(_evaluate_star, work, jobs, progress)}
    if use_bmc and depth > 0:
        todo = [kills[n] for n in names if full or not kills[n].killed]
        bwork = [(k, prop_ids, depth, timeout_ms, full, "kacs", bmc_budget, end) for k in todo]
        for k in _pool_map(_bmc_star, bwork, jobs, progress):
            kills[k.mutant] = k
    from tokenproof.catalog_run import load_catalog

    props = [p.id for p in judged_properties(load_catalog(), "kacs", prop_ids)]
    c1 = os.times()
    cpu = (c1.user + c1.system + c1.children_user + c1.children_system) - (c0.user + c0.system + c0.children_user
                                                                          + c0.children_system)
    return Matrix([kills[n] for n in names], props, time.perf_counter() - t0, cpu)


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
