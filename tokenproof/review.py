"""Design review of proposed token rules (issue 8; docs/review.md).

A *proposal* is a small Python module in the single-source style that
replaces or adds rules (and may add properties).  It exposes ``TITLE``,
``DESCRIPTION`` and one of

* ``RULES_OVERRIDE = {name: Rule, ...}``: rules replaced or added;
* ``apply(rules) -> rules``: a function building the new rule set;

and optionally ``PROPERTIES = {id: Property}`` (extra properties, proved on
both sides), ``BMC_RULES = (...)`` (the rule subset the bounded search for
counterexamples explores) and ``EXPECT_BROKEN = (...)`` (the properties the
author expects to break; shown, and checked by the tests).

``review(proposal)`` proves the relevant properties on the baseline and on the
proposal and reports:

* verdict changes, with the shortest counterexample (BMC from the standard
  world over ``BMC_RULES``, replayed on the concrete executor with the
  proposal's *whole* rule set) for each newly refuted property;
* new behaviours: for each rule the proposal changes, one solver query on a
  common symbolic pre-state satisfying the invariants proved on the baseline,
  asking for a state and arguments where the proposal's step succeeds and the
  baseline's step fails or produces another post-state; the model is replayed
  on both concrete rule sets;
* timing.

``--base REV`` takes the baseline from another git revision: the whole tree at
REV is extracted with ``git archive`` into a temporary directory and REV's own
``tokenproof prove --format json`` runs there in a subprocess (REV's model,
properties and prover: no module of the two trees is ever imported into the
same interpreter); rule sources are compared by a small subprocess query.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import z3

from model.rules.registry import Rule
from model.sim import apply_rule
from model.state import FIELDS, THREAD
from properties.base import Property
from tokenproof.prover import InductionProver, ProofResult

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HELPER_RULES = ("kacs_open_self_token",)


# ------------------------------------------------------------------ proposals
@dataclass
class Proposal:
    path: str
    title: str
    description: str
    rules: dict[str, Rule]
    changed: list[str]  # rule names replaced, added or removed
    properties: dict[str, Property] = field(default_factory=dict)
    bmc_rules: tuple[str, ...] | None = None
    expect_broken: tuple[str, ...] = ()
    module: Any = None


def import_file(path: str | Path, name: str | None = None) -> Any:
    path = Path(path).resolve()
    name = name or f"tokenproof_proposal_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: not a Python module")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def load_proposal(path: str | Path, base: dict[str, Rule]) -> Proposal:
    mod = import_file(path)
    if hasattr(mod, "apply"):
        rules = mod.apply(dict(base))
    elif hasattr(mod, "RULES_OVERRIDE"):
        rules = {**base, **mod.RULES_OVERRIDE}
    else:
        raise ValueError(f"{path}: a proposal defines RULES_OVERRIDE or apply(rules)")
    changed = sorted(n for n in set(base) | set(rules) if base.get(n) is not rules.get(n))
    return Proposal(str(path), getattr(mod, "TITLE", Path(path).stem), getattr(mod, "DESCRIPTION", ""),
                    rules, changed, dict(getattr(mod, "PROPERTIES", {})),
                    tuple(mod.BMC_RULES) if hasattr(mod, "BMC_RULES") else None,
                    tuple(getattr(mod, "EXPECT_BROKEN", ())), mod)


# ------------------------------------------------------------------ report data
@dataclass
class CexView:
    """A replayed counterexample, readable."""

    prop: str
    depth: int
    steps: list[dict[str, Any]]  # {actor, call, errno, changes: [str]}
    file: str | None = None
    scenario: str = "standard"
    rules_searched: tuple[str, ...] = ()


@dataclass
class Change:
    prop: str
    statement: str
    kind: str
    before: str
    after: str
    detail: str = ""
    cex: CexView | None = None


@dataclass
class Behaviour:
    rule: str
    status: str  # found | none | unknown | skipped
    seconds: float = 0.0
    detail: str = ""
    actor: str = ""
    call: str = ""
    base_errno: str = ""
    proposal_errno: str = ""
    differences: list[str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    description: str
    proposal: str
    base: str
    changed: list[str]
    selection: str
    properties: list[str]
    verdicts: dict[str, tuple[str, str]]  # id -> (baseline, proposal)
    changes: list[Change]
    behaviours: list[Behaviour]
    timing: dict[str, float]
    expect_broken: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def newly_refuted(self) -> list[str]:
        return [c.prop for c in self.changes if c.after == "refuted" and c.before != "refuted"]

    def to_json(self) -> dict[str, Any]:
        def cex(c: CexView | None) -> Any:
            return None if c is None else c.__dict__

        return {
            "title": self.title, "description": self.description, "proposal": self.proposal, "base": self.base,
            "changed_rules": self.changed, "selection": self.selection, "properties": self.properties,
            "verdicts": {k: {"baseline": a, "proposal": b} for k, (a, b) in self.verdicts.items()},
            "changes": [{**{k: v for k, v in c.__dict__.items() if k != "cex"}, "counterexample": cex(c.cex)}
                        for c in self.changes],
            "new_behaviours": [b.__dict__ for b in self.behaviours],
            "timing": {k: round(v, 3) for k, v in self.timing.items()},
            "expect_broken": list(self.expect_broken), "notes": self.notes,
        }


# ------------------------------------------------------------------ property selection
def rule_writes(prover: InductionProver, name: str) -> frozenset[str]:
    return prover.transition(name).writes


def select_properties(catalog: dict[str, Property], base: InductionProver, prop: InductionProver,
                      changed: list[str], all_: bool, ids: list[str] | None) -> tuple[list[str], str]:
    """The properties to prove: the given ones; all (``--all``); or by default the
    transition properties about a changed rule and the state properties (with
    their support lemmas) that read a field a changed rule writes."""
    if ids:
        return list(ids), "the properties named with --property"
    if all_:
        return sorted(catalog), "every property (--all)"
    writes: set[str] = set()
    for name in changed:
        for pv in (base, prop):
            if name in pv.rules:
                writes |= rule_writes(pv, name)
    chosen = []
    for pid, p in sorted(catalog.items()):
        if p.kind == "transition":
            if p.rules is None or set(p.rules) & set(changed):
                chosen.append(pid)
        elif p.kind == "state":
            closure = base.closure(p)
            if any(base.reads(q) & writes for q in closure):
                chosen.append(pid)
    text = (f"{len(chosen)} of {len(catalog)} properties: transition properties about the changed rules and "
            f"state properties reading a field they write ({', '.join(sorted(writes)) or 'none'}); "
            "--all for every property")
    return chosen, text


# ------------------------------------------------------------------ counterexamples
def errno_text(e: Any) -> str:
    from model import domain as D

    try:
        import model.rules_nt  # noqa: F401  (adds the NT status names)
    except ImportError:  # pragma: no cover - an old tree
        pass
    return D.ERRNO_NAMES.get(int(e), str(int(e)))


def bmc_search(prop: Property, rules: dict[str, Rule], search: tuple[str, ...], depth: int, timeout_ms: int,
               profile: str, out_dir: Path | None) -> tuple[str, CexView | None, str]:
    """Shortest counterexample over the rule subset ``search``, replayed with the whole ``rules``."""
    from tokenproof import bmc
    from tokenproof.cex import from_model
    from tokenproof.replay import replay

    sub = {k: rules[k] for k in search if k in rules}
    res = bmc.run_bmc(prop, depth=depth, rules=sub, profile=profile, timeout_ms=timeout_ms)
    if res.verdict != "refuted":
        what = "no counterexample" if res.verdict == "bounded-ok" else f"BMC unknown ({res.reason})"
        return "unknown", None, f"{what} up to depth {depth} over {', '.join(sorted(sub))}"
    cex = from_model(res)
    cex.rules = rules
    rr = replay(cex, rules=rules)
    path = None
    if out_dir is not None:
        path = write_cex(cex, out_dir)
    return "refuted", view_cex(cex, rr, path, tuple(sorted(sub))), f"counterexample of {res.depth} step(s), replayed"


def write_cex(cex: Any, out_dir: Path) -> str:
    """Write a replayed counterexample as a trace file (``tokenproof.cex.write``).  If the trace
    parser cannot read it back (it resolves rules from the KACS rule set, so an NT-only argument
    or rule fails; docs/review.md), the same document is written unvalidated, marked so."""
    from tokenproof.cex import file_name, write

    try:
        return str(write(cex, out_dir))
    except Exception as e:  # noqa: BLE001 - see the docstring
        doc = cex.to_json()
        doc["unvalidated"] = f"not readable by tokenproof.trace yet: {str(e).splitlines()[0][-300:]}"
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / file_name(cex.prop.id, cex.mutant)
        path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        return str(path)


def view_cex(cex: Any, rr: Any, path: str | None, searched: tuple[str, ...]) -> CexView:
    steps = []
    for j, st in enumerate(cex.steps):
        args = ", ".join(f"{k}={v}" for k, v in cex.readable_args(st).items())
        changes: list[str] = []
        try:
            from tokenproof.render import diff_states

            changes = [str(c) for c in diff_states(rr.states[j], rr.states[j + 1], cex.world)][:8]
        except Exception:  # noqa: BLE001 - the picture is a courtesy; the trace is the evidence
            changes = []
        steps.append({"actor": cex.actor_name(st), "call": f"{st.rule}({args})", "rule": st.rule,
                      "errno": errno_text(st.errno), "changes": changes})
    return CexView(cex.prop.id, len(cex.steps), steps, path, cex.scenario, searched)


# ------------------------------------------------------------------ new behaviours
def _key_consts(uni: Any, name: str, tag: str) -> list[Any]:
    from model.state import OBJ

    return [uni.const(f"k_{tag}_{name}_{i}", OBJ(sort)) for i, sort in enumerate(FIELDS[name].keys)]


SMALL_COUNTER = 1 << 8  # witnesses prefer global counters (next_token_id, next_luid) below this


def _small_counters(*states: Any) -> list[Any]:
    """"Every global counter is a small number in each of ``states``" (the pre-state and both post-states:
    a step may allocate, so bounding the pre-state alone lets a post-state pass the bound): a preference
    that keeps a witness readable (z3 otherwise picks ids near 2**64); ``new_behaviour`` asks again without
    it when no witness satisfies it."""
    return [z3.ULE(_z3(st.view(f.name)[()]), SMALL_COUNTER) for st in states for f in FIELDS.values()
            if not f.keys and f.type.kind == "bv" and f.type.width > 16]


def new_behaviour(rule_name: str, base_rule: Rule, prop_rule: Rule, invariants: list[Property],
                  init: Any, timeout_ms: int) -> Behaviour:
    """One query: a pre-state satisfying ``invariants`` and arguments where the
    proposal's step succeeds and the baseline's fails or ends elsewhere."""
    from tokenproof.encode import eval_args, extract, state_sids
    from tokenproof.smt import solve
    from model.symbolic import Universe

    t0 = time.perf_counter()
    uni = Universe("unbounded", sids=state_sids(init))
    pre = uni.fresh_state("pre")
    actor = None if prop_rule.kernel else uni.const("actor", THREAD)
    args = {a.name: uni.const(a.name, a.type) for a in prop_rule.args}
    for a in base_rule.args:
        args.setdefault(a.name, uni.const(a.name, a.type))
    pa = {a.name: args[a.name] for a in prop_rule.args}
    ba = {a.name: args[a.name] for a in base_rule.args}
    op = prop_rule.apply(pre, actor, pa)
    ob = base_rule.apply(pre, actor, ba)
    fields = sorted({f for f, fn in op.post.fns.items() if fn is not pre.fns[f]}
                    | {f for f, fn in ob.post.fns.items() if fn is not pre.fns[f]})
    diffs = []
    for f in fields:
        keys = _key_consts(uni, f, "d")
        diffs.append(_z3(op.post.view(f)[tuple(keys)] if keys else op.post.view(f)[()]) !=
                     _z3(ob.post.view(f)[tuple(keys)] if keys else ob.post.view(f)[()]))
    ok_p = _z3(op.ok)
    new = z3.And(ok_p, z3.Or(z3.Not(_z3(ob.ok)), *diffs))
    inv = [_z3(p.check(pre)) for p in invariants]
    found: dict[str, Any] = {}

    def validate(model: z3.ModelRef) -> bool:
        try:
            ex = extract(model, pre)
            act, conc = eval_args(model, ex, prop_rule, pa, actor)
            if not all(bool(p.check(ex.state)) for p in invariants):
                return False
            bargs = {a.name: (conc[a.name] if a.name in conc else ex.value(model, a.type, args[a.name]))
                     for a in base_rule.args}
            o_p = apply_rule(ex.state, prop_rule, act, dict(conc))
            try:
                o_b = apply_rule(ex.state, base_rule, act, dict(bargs))
            except Exception:  # noqa: BLE001 - the baseline step is not even enabled
                o_b = None
        except Exception:  # noqa: BLE001 - not a usable finite model
            return False
        if int(o_p.errno) != 0:
            return False
        d = [] if o_b is None else _state_diff(o_p.post, o_b.post, fields)
        if o_b is not None and int(o_b.errno) == 0 and not d:
            return False
        found.update(ex=ex, actor=act, args=conc, o_p=o_p, o_b=o_b, diff=d)
        return True

    query = [*uni.axioms, _z3(op.enabled), new, *inv]
    ans = solve([*query, *_small_counters(pre, op.post, ob.post)], None, timeout_ms, validate=validate)
    if ans.status != "sat" or not found:
        found.clear()
        ans = solve(query, None, timeout_ms, validate=validate)
    dt = time.perf_counter() - t0
    if ans.status == "unsat":
        return Behaviour(rule_name, "none", dt, "no state satisfying the proved invariants lets the proposal's "
                         "step do anything the baseline's cannot")
    if ans.status != "sat" or not found:
        if ans.status == "sat" and ans.model is not None and validate(ans.model):
            pass
        else:
            return Behaviour(rule_name, "unknown", dt, f"solver: {ans.status} {ans.reason or ''}".strip())
    act = found["actor"]
    call = f"{rule_name}(" + ", ".join(f"{k}={_plain(v)}" for k, v in found["args"].items()) + ")"
    o_b = found["o_b"]
    return Behaviour(rule_name, "found", dt, "a step the proposal allows and the baseline does not "
                     "(replayed on both concrete rule sets)",
                     actor="kernel" if act is None else f"thread#{act}", call=call,
                     base_errno="not enabled" if o_b is None else errno_text(o_b.errno),
                     proposal_errno=errno_text(found["o_p"].errno), differences=found["diff"][:12])


def _plain(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    return str(v)


def _z3(x: Any) -> Any:
    if isinstance(x, z3.ExprRef):
        return x
    if isinstance(x, bool):
        return z3.BoolVal(x)
    return x


def _state_diff(a: Any, b: Any, fields: list[str]) -> list[str]:
    """Field entries that differ between two concrete post-states (over their common keys)."""
    import itertools

    out = []
    for f in fields:
        spec = FIELDS[f]
        keys = [()] if not spec.keys else itertools.product(*(sorted(set(a.universe.get(s, ())) &
                                                                      set(b.universe.get(s, ())))
                                                               for s in spec.keys))
        for k in keys:
            try:
                va, vb = a.view(f)[k], b.view(f)[k]
            except Exception:  # noqa: BLE001 - key outside one of the universes
                continue
            if va != vb:
                key = ",".join(str(x) for x in k)
                out.append(f"{f}[{key}]: baseline {vb}, proposal {va}")
    return out


# ------------------------------------------------------------------ --base REV
def _run(cmd: list[str], cwd: Path, timeout: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def extract_revision(rev: str, dest: Path, repo: Path = ROOT) -> None:
    """The tree at ``rev`` (every tracked file) into ``dest`` via ``git archive``."""
    out = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", rev], capture_output=True)
    if out.returncode != 0:
        raise ValueError(f"git archive {rev}: {out.stderr.decode().strip()}")
    import io

    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        tar.extractall(dest, filter="data")


RULE_HASHES = ("import hashlib, inspect, json\n"
               "from model.profiles import get_profile\n"
               "r = get_profile({profile!r})\n"
               "print(json.dumps({{n: hashlib.sha256(inspect.getsource(x.fn).encode()).hexdigest() "
               "for n, x in r.items()}}))\n")


def rule_hash(rule: Rule) -> str:
    extra = json.dumps(rule.extra.get("rebound", []))
    h = hashlib.sha256(inspect.getsource(rule.fn).encode()).hexdigest()
    return h if extra == "[]" else hashlib.sha256((h + extra).encode()).hexdigest()


def revision_baseline(rev: str, ids: list[str] | None, timeout_ms: int, depth: int,
                      profile: str = "kacs") -> tuple[dict[str, str], dict[str, str], str]:
    """(rule hashes, verdicts by property, note) of the model at ``rev``."""
    with tempfile.TemporaryDirectory(prefix="tokenproof-base-") as tmp:
        dest = Path(tmp)
        extract_revision(rev, dest)
        py = sys.executable
        h = _run([py, "-c", RULE_HASHES.format(profile=profile)], dest, 300)
        if h.returncode != 0:
            raise ValueError(f"the model at {rev} does not load: {h.stderr.strip()[-400:]}")
        hashes = json.loads(h.stdout)
        cmd = [py, "-m", "tokenproof.cli", "prove", "--format", "json", "--profile", profile,
               "--timeout", str(timeout_ms), "--depth", str(depth), "--out", str(dest / "cex")]
        for i in ids or []:
            cmd += ["--property", i]
        p = _run(cmd, dest)
        try:
            data = json.loads(p.stdout)
        except json.JSONDecodeError:
            raise ValueError(f"tokenproof prove at {rev} failed: {p.stderr.strip()[-600:]}") from None
        verdicts = {r["property"]: r["verdict"] for r in data["results"]}
        return hashes, verdicts, f"baseline: the model at {rev} (git archive, proved by its own tokenproof)"


# ------------------------------------------------------------------ the review
def _prover(rules: dict[str, Rule], base_rules: dict[str, Rule], catalog: dict[str, Property],
            catalog_p: dict[str, Property], init: Any, cache_dir: str | None, profile: str, scenario: str,
            timeout_ms: int, depth: int) -> InductionProver:
    """The induction prover of ``rules`` (the proposal's or the baseline's) over ``catalog_p``.

    With ``cache_dir``, its obligations go through the proof cache of ``tokenproof prove`` (the same keys,
    so a ``prove`` run warms a review), but only those the keys describe: every rule taking part is a
    baseline rule object (a proposal's changed rule may keep its function and swap a helper, which a
    source key cannot see) and every property and lemma is the catalog's own (a proposal may add or
    override properties).  Everything else is solved every time."""
    if not cache_dir:
        return InductionProver(rules, catalog_p, init, timeout_ms=timeout_ms, profile=profile)
    from tokenproof.cache import Keys, ResultCache, caching_prover

    same_rules = {n for n, r in rules.items() if base_rules.get(n) is r}
    own = {pid for pid, p in catalog_p.items() if catalog.get(pid) is p}

    def cacheable(pid: str, rule: str, lemmas: tuple[str, ...]) -> bool:
        rules_ok = rule == "init" or rule in same_rules or (rule == "combined" and same_rules == set(rules))
        return rules_ok and pid in own and set(lemmas) <= own

    keys = Keys(base_rules, catalog, profile, scenario, timeout_ms, depth)
    return caching_prover(rules, catalog_p, init, keys, ResultCache(cache_dir), cacheable=cacheable,
                          timeout_ms=timeout_ms, profile=profile)


def review(proposal_path: str | None, *, base_rev: str | None = None, ids: list[str] | None = None,
           all_: bool = False, timeout_ms: int = 10000, depth: int = 4, scenario: str = "standard",
           out_dir: Path | None = None, behaviours: bool = True, profile: str = "kacs",
           progress: Callable[[str], None] | None = None, cache_dir: str | None = None) -> Report:
    from model.profiles import get_profile
    from model.scenarios import SCENARIOS
    from tokenproof.catalog_run import load_catalog

    say = progress or (lambda m: None)
    t0 = time.perf_counter()
    timing: dict[str, float] = {}
    base_rules = get_profile(profile)
    if proposal_path:
        prop_obj = load_proposal(proposal_path, base_rules)
    else:
        prop_obj = Proposal("(working tree)", "Working tree vs " + (base_rev or "?"), "", dict(base_rules), [])
    catalog = dict(load_catalog())
    catalog_p = {**catalog, **prop_obj.properties}
    init = SCENARIOS[scenario]().state
    notes: list[str] = []

    pv, bv = (_prover(rules, base_rules, catalog, catalog_p, init, cache_dir, profile, scenario, timeout_ms, depth)
              for rules in (prop_obj.rules, base_rules))
    rev_hashes: dict[str, str] | None = None
    rev_verdicts: dict[str, str] = {}
    if base_rev:
        t = time.perf_counter()
        # first the rule hashes (cheap), then the proofs of the selected properties
        with tempfile.TemporaryDirectory(prefix="tokenproof-base-") as tmp:
            extract_revision(base_rev, Path(tmp))
            h = _run([sys.executable, "-c", RULE_HASHES.format(profile=profile)], Path(tmp), 300)
            if h.returncode != 0:
                raise ValueError(f"the model at {base_rev} does not load: {h.stderr.strip()[-400:]}")
            rev_hashes = json.loads(h.stdout)
        mine = {n: rule_hash(r) for n, r in prop_obj.rules.items()}
        prop_obj.changed = sorted(n for n in set(rev_hashes) | set(mine) if rev_hashes.get(n) != mine.get(n))
        timing["base revision load"] = time.perf_counter() - t

    selected, selection = select_properties(catalog_p, bv, pv, prop_obj.changed, all_, ids)
    if prop_obj.properties and not ids:
        selected = sorted(set(selected) | set(prop_obj.properties))
    say(f"{len(selected)} properties")

    t = time.perf_counter()
    if base_rev:
        base_ids = [i for i in selected if i in catalog]
        _, rev_verdicts, note = revision_baseline(base_rev, base_ids, timeout_ms, depth, profile)
        notes.append(note)
        notes.append("new behaviours are not computed against another revision (the two models live in "
                     "different interpreters)")
        behaviours = False
    base_res: dict[str, ProofResult] = {}
    for pid in selected:
        if base_rev:
            continue
        say(f"baseline: {pid}")
        base_res[pid] = bv.prove(catalog_p[pid])
    timing["baseline proofs"] = time.perf_counter() - t
    t = time.perf_counter()
    prop_res: dict[str, ProofResult] = {}
    for pid in selected:
        say(f"proposal: {pid}")
        prop_res[pid] = pv.prove(catalog_p[pid])
    timing["proposal proofs"] = time.perf_counter() - t

    verdicts: dict[str, tuple[str, str]] = {}
    changes: list[Change] = []
    t = time.perf_counter()
    search = prop_obj.bmc_rules or tuple(sorted(set(prop_obj.changed) | set(DEFAULT_HELPER_RULES)))
    search = tuple(n for n in search if n in prop_obj.rules)
    for pid in selected:
        b = rev_verdicts.get(pid, "n/a") if base_rev else _verdict(base_res[pid])
        r = prop_res[pid]
        a = _verdict(r)
        detail = r.detail
        cex = None
        if a != "proved" and b == "proved" and catalog_p[pid].kind != "access":
            say(f"counterexample: {pid}")
            a, cex, detail = bmc_search(catalog_p[pid], prop_obj.rules, search, depth, max(timeout_ms, 30000),
                                        profile, out_dir)
            if a == "unknown":
                detail = f"not proved ({r.detail}); {detail}"
        verdicts[pid] = (b, a)
        if a != b:
            p = catalog_p[pid]
            changes.append(Change(pid, p.statement, p.kind, b, a, detail, cex))
    timing["counterexamples"] = time.perf_counter() - t

    beh: list[Behaviour] = []
    t = time.perf_counter()
    if behaviours:
        invariants = [catalog_p[pid] for pid, r in base_res.items()
                      if r.verdict == "proved" and catalog_p[pid].kind == "state"]
        for name in prop_obj.changed:
            if name not in prop_obj.rules:
                continue
            if name not in base_rules:
                beh.append(Behaviour(name, "found", 0.0, "a new rule: every step it takes is new"))
                continue
            say(f"new behaviours: {name}")
            beh.append(new_behaviour(name, base_rules[name], prop_obj.rules[name], invariants, init,
                                     max(timeout_ms, 20000)))
    timing["new behaviours"] = time.perf_counter() - t
    timing["total"] = time.perf_counter() - t0
    return Report(prop_obj.title, prop_obj.description, prop_obj.path, base_rev or f"working tree ({profile})",
                  prop_obj.changed, selection, selected, verdicts, changes, beh, timing, prop_obj.expect_broken,
                  notes)


def _verdict(r: ProofResult) -> str:
    return r.verdict


# ------------------------------------------------------------------ the NT divergence table
@dataclass
class DivergenceRow:
    key: str
    title: str
    source: str
    prop: str
    kacs: str
    nt: str
    cex: CexView | None
    detail: str
    seconds: float


def divergence_table(out_dir: Path | None = Path("counterexamples/nt"), timeout_ms: int = 20000,
                     keys: list[str] | None = None, progress: Callable[[str], None] | None = None) -> list[DivergenceRow]:
    """Each divergence of ``model.rules_nt.divergence.DIVERGENCES``: proved on kacs, refuted on nt."""
    from model.profiles import get_profile
    from model.rules_nt.divergence import DIVERGENCES, EXTRA_PROPERTIES, narrowed
    from model.scenarios import SCENARIOS
    from tokenproof.catalog_run import load_catalog

    say = progress or (lambda m: None)
    catalog = {**load_catalog(), **EXTRA_PROPERTIES}
    init = SCENARIOS["standard"]().state
    kacs, nt = get_profile("kacs"), get_profile("nt")
    prover = InductionProver(kacs, catalog, init, timeout_ms=timeout_ms, profile="kacs")
    rows = []
    for d in DIVERGENCES:
        if keys and d.key not in keys:
            continue
        t = time.perf_counter()
        prop = catalog[d.prop]
        say(f"kacs: {d.prop}")
        kp = narrowed(prop, d.kacs_rules)
        kres = prover.prove(kp) if d.kacs_rules is None else InductionProver(
            kacs, {**catalog, kp.id: kp}, init, timeout_ms=timeout_ms).prove(kp)
        kv = kres.verdict + ("" if d.kacs_rules is None else f" (steps of {', '.join(d.kacs_rules)})")
        say(f"nt: {d.prop}")
        nv, cex, detail = bmc_search(prop, nt, d.bmc_rules, d.depth, 120000, "nt", out_dir)
        rows.append(DivergenceRow(d.key, d.title, d.source, d.prop, kv, nv, cex, detail, time.perf_counter() - t))
    return rows


def divergence_markdown(rows: list[DivergenceRow]) -> str:
    out = ["| Divergence (nt-reference.md) | Property | kacs | nt | Counterexample on nt (standard world) |",
           "|---|---|---|---|---|"]
    for r in rows:
        if r.cex is not None:
            steps = "<br>".join(f"{i}. {s['actor']}: `{s['call']}` → {s['errno']}" for i, s in enumerate(r.cex.steps, 1))
            where = f"<br>[{Path(r.cex.file).name}]({r.cex.file})" if r.cex.file else ""
            cex = steps + where
        else:
            cex = r.detail
        out.append(f"| {r.title} ({r.source}) | `{r.prop}` | {r.kacs} | {r.nt} | {cex} |")
    return "\n".join(out) + "\n"


__all__ = ["Proposal", "Report", "Change", "Behaviour", "CexView", "load_proposal", "review", "select_properties",
           "new_behaviour", "bmc_search", "divergence_table", "divergence_markdown", "extract_revision"]


# ------------------------------------------------------------------ helpers for proposal modules
def replace_rule(base: Rule, fn: Callable[..., Any] | None = None, *, args: tuple | None = None,
                 note: str = "", **helpers: Any) -> Rule:
    """A proposal's version of ``base``: a new rule function ``fn`` (same name and
    metadata; ``args`` to change the arguments), or ``base``'s own function with
    the globals named in ``helpers`` rebound (the tokenproof.mutants technique)."""
    from dataclasses import replace

    from model.rules_nt import rebind

    new_fn = fn if fn is not None else rebind(base.fn, **helpers)
    return replace(base, fn=new_fn, args=tuple(args) if args is not None else base.args,
                   doc=(fn.__doc__ or base.doc if fn is not None else base.doc) + (f"\n\nProposal: {note}" if note else ""),
                   extra={**base.extra, "proposal": note or True, "rebound": sorted(helpers)})
