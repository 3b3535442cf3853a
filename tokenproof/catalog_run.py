"""Prove the property catalog: induction first, then BMC for what induction
cannot settle, so every property ends as proved, refuted (with a replayed
counterexample written to ``counterexamples/``) or unknown (with the reason).

Two layers:

* ``prove_catalog`` — the prover's ``ProofResult`` objects, in process, no
  cache (the original entry point, kept for library users);
* ``run`` — what ``tokenproof prove``, ``tokenproof merge`` and the pytest
  plugin use: a ``RunOptions`` in, a ``Report`` of plain, JSON-ready
  ``Record``\\ s out, with the proof cache (``tokenproof.cache``), worker
  processes (``tokenproof.parallel``) and deterministic sharding.  Records
  are sorted by property id; the same input gives the same records (timings
  aside: ``Record.comparable`` drops them).
"""

from __future__ import annotations

import importlib.util
import json
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from model.profiles import get_profile
from model.scenarios import SCENARIOS
from properties.base import CATALOG, Property
from tokenproof.prover import InductionProver, ProofResult

ROOT = Path(__file__).resolve().parent.parent
REPORT_SCHEMA = "tokenproof-report/1"


def load_catalog() -> dict[str, Property]:
    import properties.catalog  # noqa: F401  (registers every property)

    return CATALOG


def select(catalog: dict[str, Property], ids: list[str] | None) -> list[Property]:
    if not ids:
        return [catalog[k] for k in sorted(catalog)]
    missing = [i for i in ids if i not in catalog]
    if missing:
        import difflib

        hints = {m: difflib.get_close_matches(m, list(catalog), n=3) for m in missing}
        raise KeyError("; ".join(f"unknown property {m!r}" + (f" (did you mean {', '.join(h)}?)" if h else "")
                                 for m, h in hints.items()))
    return [catalog[i] for i in dict.fromkeys(ids)]


def seed_solvers() -> None:
    """Fixed z3 random seeds (every process that solves calls this first)."""
    import z3

    z3.set_param("smt.random_seed", 0)
    z3.set_param("sat.random_seed", 0)


# ------------------------------------------------------------------ sharding
def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/4"`` -> ``(2, 4)``: shard 2 of 4 (1-based).  Raises ValueError on bad input."""
    if not text:
        return None
    try:
        i_s, n_s = text.split("/")
        i, n = int(i_s), int(n_s)
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected I/N, e.g. 1/4") from None
    if n < 1 or not 1 <= i <= n:
        raise ValueError(f"--shard {text!r}: need 1 <= I <= N")
    return i, n


def shard_of(prop_id: str, n: int) -> int:
    """The (1-based) shard of a property among ``n``: a stable hash of its id, so adding or removing a
    property never moves the others (crc32 is the same in every process and Python version)."""
    return zlib.crc32(prop_id.encode()) % n + 1


def apply_shard(ids: list[str], shard: tuple[int, int] | None) -> list[str]:
    if shard is None:
        return list(ids)
    i, n = shard
    return [p for p in ids if shard_of(p, n) == i]


# ------------------------------------------------------------------ BMC
def bmc_available() -> bool:
    return importlib.util.find_spec("tokenproof.bmc") is not None


def _bmc_search(prop: Property, rules, scenario: str, depth: int, timeout_ms: int, out_dir: Path | None,
                profile: str) -> tuple[str, Any, str | None, str]:
    """(verdict, counterexample, file, reason) from ``bmc.run_bmc``; a counterexample is replayed
    (a disagreement raises) and written to ``out_dir``."""
    from tokenproof import bmc
    from tokenproof import cex as cexmod
    from tokenproof.replay import replay

    found = bmc.run_bmc(prop, depth=depth, scenario=scenario, timeout_ms=timeout_ms, rules=rules, profile=profile)
    if found.verdict != "refuted":
        return found.verdict, found, None, found.reason
    trace = found.counterexample()
    replay(trace)  # raises ReplayMismatch (a tokenproof bug) if the executor disagrees
    path, note = None, ""
    if out_dir is not None:
        from tokenproof.trace import TraceError

        try:
            path = str(cexmod.write(trace, out_dir))
        except TraceError as e:  # the counterexample stands (it replayed); only its file could not be written
            note = f"counterexample replayed but not written: {e}"
    return "refuted", trace, path, note


CORPUS_DIR = Path(__file__).resolve().parents[1] / "counterexamples"


_TRACE_MEMO: dict[tuple[str, bytes], Any] = {}


def _load_trace_memo(path: Path, load: Callable[[Path], Any]) -> Any:
    """``load(path)`` memoized on the file's path and exact bytes (the corpus is read once per process, not once
    per property; a changed file is read again).  Errors are not memoized."""
    key = (str(path), Path(path).read_bytes())
    if key not in _TRACE_MEMO:
        _TRACE_MEMO[key] = load(path)
    return _TRACE_MEMO[key]


def known_counterexample(prop: Property, rules, profile: str, dirs: list[Path],
                         out_dir: Path | None = None) -> tuple[Any, str] | None:
    """A recorded trace (in the corpus or the output directory) that, replayed
    on ``rules`` now, violates ``prop`` — a concrete refutation found earlier
    (by BMC, the explorer or by hand).  Traces recorded for ``prop`` come first;
    then any recorded trace of this profile (or of KACS, whose steps the other
    profiles share) is replayed and ``prop`` checked after each of its steps.
    A trace that no longer replays, or replays without breaking ``prop``, is
    no evidence.  When the evidence is another property's trace, its prefix up
    to the violating step is written to ``out_dir`` with ``prop`` as its violation.
    """
    from tokenproof.narrative import replay_trace
    from tokenproof.trace import TraceError, Violation, evaluate_violation, execute, load_trace

    candidates = []
    for d in dirs:
        if d.is_dir():
            for path in sorted(d.glob("*.json")):
                try:
                    trace = _load_trace_memo(path, load_trace)
                except (TraceError, OSError, ValueError):
                    continue
                if trace.mutant or trace.profile not in (profile, "kacs"):
                    continue
                candidates.append((path, trace))
    for path, trace in candidates:
        if trace.violation is not None and trace.violation.property == prop.id:
            try:
                rep = replay_trace(trace, rules=rules, label=profile)
            except Exception:  # noqa: BLE001 - a file that does not replay is not evidence
                continue
            if rep.reproduced:
                return rep, relpath(path)
    if prop.kind == "access":
        return None
    for path, trace in candidates:
        try:
            result = execute(trace, rules=rules)
        except Exception:  # noqa: BLE001
            continue
        for k in range(len(result.steps)):
            probe = trace.model_copy(update={"violation": Violation(property=prop.id, step=k,
                                                                    statement=prop.statement)})
            result.trace = probe
            vr = evaluate_violation(result)
            if vr is not None and vr.violated:
                return _prefix_trace(path, prop, k, profile, out_dir, rules)
    return None


def _prefix_trace(path: Path, prop: Property, k: int, profile: str, out_dir: Path | None, rules):
    """Steps 0..k of the trace at ``path`` as a counterexample to ``prop`` (replayed)."""
    from tokenproof.narrative import replay_trace
    from tokenproof.trace import load_trace

    doc = json.loads(Path(path).read_text())
    doc["steps"] = doc["steps"][:k + 1]
    doc["violation"] = {"property": prop.id, "step": k, "statement": prop.statement}
    doc["description"] = f"Counterexample to {prop.id}: steps 0..{k} of {relpath(path)} (replayed on {profile}). " \
                         + doc.get("description", "")
    doc["profile"] = profile
    if out_dir is None:
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / (f"{prop.id}.json" if profile == "kacs" else f"{prop.id}.{profile}.json")
    target.write_text(json.dumps(doc, indent=2) + "\n")
    rep = replay_trace(load_trace(target), rules=rules, label=profile)
    if not rep.reproduced:
        target.unlink()
        return None
    return rep, relpath(target)


def settle_by_bmc(result: ProofResult, rules, scenario: str, depth: int, timeout_ms: int,
                  out_dir: Path | None, profile: str) -> ProofResult:
    """For a property induction could not prove: a recorded counterexample that
    still replays, else BMC from the initial world."""
    dirs = ([CORPUS_DIR / profile] if profile != "kacs" else []) + [CORPUS_DIR]
    if out_dir is not None and Path(out_dir).resolve() not in [d.resolve() for d in dirs]:
        dirs.append(Path(out_dir))
    known = known_counterexample(result.prop, rules, profile, dirs, out_dir)
    if known is not None:
        rep, path = known
        result.verdict = "refuted"
        result.counterexample = rep
        result.counterexample_file = path
        result.detail = (f"counterexample of {len(rep.steps)} step(s) replayed from {path}"
                         + (f" ({result.detail})" if result.detail else ""))
        return result
    if not bmc_available():
        return result
    verdict, found, path, reason = _bmc_search(result.prop, rules, scenario, depth, timeout_ms, out_dir, profile)
    if verdict == "refuted":
        steps = getattr(found, "steps", None)
        n = len(steps) if steps is not None else getattr(found, "depth", "?")
        result.verdict = "refuted"
        result.counterexample = found
        result.detail = f"counterexample of {n} step(s) from the {scenario} world (replayed)" + (
            f"; {reason}" if reason else "")
        result.counterexample_file = path
    elif verdict == "unknown":
        result.detail += f"; BMC: {reason}"
    else:
        result.detail += f"; no counterexample up to depth {depth}"
    return result


def prove_catalog(profile: str = "kacs", ids: list[str] | None = None, timeout_ms: int = 10000,
                  depth: int = 3, scenario: str = "standard", out_dir: Path | None = None,
                  progress: Callable[[str], None] | None = None,
                  on_result: Callable[[ProofResult], None] | None = None) -> list[ProofResult]:
    seed_solvers()
    rules = get_profile(profile)
    catalog = load_catalog()
    chosen = select(catalog, ids)
    init = SCENARIOS[scenario]().state
    prover = InductionProver(rules, catalog, init, timeout_ms=timeout_ms, profile=profile)
    results = []
    for prop in chosen:
        res = prover.prove(prop, progress)
        if res.verdict != "proved" and prop.kind != "access":
            res = settle_by_bmc(res, rules, scenario, depth, timeout_ms, out_dir, profile)
        results.append(res)
        if on_result:
            on_result(res)
    return results


# ------------------------------------------------------------------ records
def relpath(path: str | Path) -> str:
    p = Path(path)
    try:
        return p.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return p.as_posix()


def _plain(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, (int, str, float)):
        return v
    if hasattr(v, "value") and isinstance(getattr(v, "value"), int):  # a concrete BV
        return int(v.value)
    try:
        return int(v)
    except (TypeError, ValueError):
        return str(v)


@dataclass
class Record:
    """One property's outcome, as every report format sees it (plain data, JSON round-trip)."""

    id: str
    statement: str
    kind: str
    area: str
    sections: list[str]
    clauses: list[str]
    source: list[Any]  # [file, line] of the property's check
    profile: str
    verdict: str
    expected: str
    seconds: float
    lemmas_used: list[str] = field(default_factory=list)
    detail: str = ""
    counterexample: str | None = None  # the replayed trace file
    counterexample_steps: list[str] = field(default_factory=list)
    cti: dict[str, Any] | None = None  # rule, actor, args, errno
    location: list[Any] | None = None  # [file, line] of the failing rule (CTI / last counterexample step)
    failing_rule: str | None = None
    cached: bool = False
    # --cross-check: the second solver's answers on the obligations of a proved property
    # (soundness.CrossCheckSummary.to_json: solver, obligations, agreed, undecided, disagreed, framed, lists)
    cross_check: dict[str, Any] | None = None

    @property
    def as_expected(self) -> bool:
        return self.verdict == self.expected

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["as_expected"] = self.as_expected
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Record":
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})

    def comparable(self) -> dict[str, Any]:
        """The record without timings or cache provenance: equal for equal inputs."""
        d = self.to_json()
        d.pop("seconds")
        d.pop("cached")
        return d


def record_of(res: ProofResult, profile: str, rules: dict | None = None) -> Record:
    from model.rules.registry import RULES

    rules = RULES if rules is None else rules
    p = res.prop
    src_file, src_line = p.source
    steps: list[str] = []
    failing = None
    cx = res.counterexample
    if cx is not None and hasattr(cx, "counterexample") and not hasattr(cx, "describe"):
        try:
            cx = cx.counterexample()
        except Exception:  # noqa: BLE001 - the trace text is a convenience
            cx = None
    if cx is not None and hasattr(cx, "trace") and hasattr(cx, "steps") and not hasattr(cx, "describe"):
        from model.domain import ERRNO_NAMES

        steps = [f"{sr.actor}: {sr.rule}({', '.join(f'{k}={v}' for k, v in sr.args_text.items())}) -> "
                 f"{ERRNO_NAMES.get(sr.errno, sr.errno)}" for sr in cx.steps]
        failing = cx.steps[-1].rule if cx.steps else None
    elif cx is not None and hasattr(cx, "describe"):
        steps = list(cx.describe())
        if getattr(cx, "steps", None):
            vs = getattr(cx, "violation_step", len(cx.steps))
            failing = cx.steps[max(0, min(vs, len(cx.steps)) - 1)].rule
    cti = None
    if res.cti is not None:
        c = res.cti
        cti = {"rule": c.rule, "property": c.prop, "actor": _plain(c.actor),
               "args": {k: _plain(v) for k, v in sorted(c.args.items())}, "errno": int(c.errno)}
        failing = failing or c.rule
    location = None
    if failing is not None and failing in rules:
        f, line = rules[failing].source
        location = [relpath(f), line]
    elif res.verdict != "proved":
        location = [relpath(src_file), src_line]
    return Record(
        id=p.id, statement=p.statement, kind=p.kind, area=p.check.__module__.rpartition(".")[2],
        sections=list(p.sections), clauses=list(p.clauses), source=[relpath(src_file), src_line],
        profile=profile, verdict=res.verdict, expected=p.expected(profile), seconds=round(res.seconds, 3),
        lemmas_used=list(res.lemmas_used), detail=res.detail,
        counterexample=None if res.counterexample_file is None else relpath(res.counterexample_file),
        counterexample_steps=steps, cti=cti, location=location, failing_rule=failing)


# ------------------------------------------------------------------ runs
@dataclass
class RunOptions:
    profile: str = "kacs"
    ids: list[str] | None = None
    timeout_ms: int = 10000
    depth: int = 3
    scenario: str = "standard"
    out_dir: str | None = "counterexamples/found"
    cache_dir: str | None = ".tokenproof-cache"  # None: no cache
    jobs: int = 1
    shard: tuple[int, int] | None = None
    cross_check: str | None = None  # "cvc5": re-ask every obligation of every proved property (soundness.py)
    cross_check_timeout_ms: int = 10000  # the second solver's timeout per obligation


#: exit code of ``tokenproof prove``/``merge`` when the second solver contradicts z3 (``--cross-check``)
EXIT_DISAGREEMENT = 4


@dataclass
class Report:
    profile: str
    scenario: str
    records: list[Record]
    seconds: float = 0.0
    cache: Any = None  # tokenproof.cache.CacheStats, or None when caching is off
    shards: list[list[int]] = field(default_factory=list)  # [[i, n], ...] this report covers
    cross_check: str | None = None  # the second solver of --cross-check (None: not asked)

    @property
    def all_as_expected(self) -> bool:
        return all(r.as_expected for r in self.records)

    @property
    def any_unknown(self) -> bool:
        return any(r.verdict == "unknown" for r in self.records)

    def counts(self) -> dict[str, int]:
        return {v: sum(r.verdict == v for r in self.records) for v in ("proved", "refuted", "unknown")}

    def cross_check_counts(self) -> dict[str, int] | None:
        """Totals over the cross-checked properties (an obligation shared by several properties, e.g. a
        lemma's, counts once per property); None when --cross-check was not asked."""
        if self.cross_check is None:
            return None
        rows = [r.cross_check for r in self.records if r.cross_check]
        out = {"properties": len(rows)}
        for k in ("obligations", "agreed", "undecided", "disagreed", "framed"):
            out[k] = sum(int(c.get(k, 0)) for c in rows)
        return out

    @property
    def disagreements(self) -> list[str]:
        return [f"{r.id}: {d}" for r in self.records if r.cross_check for d in r.cross_check.get("disagreements", [])]

    def exit_code(self, strict: bool = False) -> int:
        if self.disagreements:
            return EXIT_DISAGREEMENT
        if not self.all_as_expected:
            return 1
        cc = self.cross_check_counts()
        if strict and (self.any_unknown or (cc is not None and cc["undecided"])):
            return 3
        return 0


def check_options(opts: RunOptions) -> list[str]:
    """Validate the options; returns the selected property ids (after sharding).  Raises KeyError /
    ValueError with a message for bad input."""
    get_profile(opts.profile)
    if opts.scenario not in SCENARIOS:
        raise KeyError(f"unknown scenario {opts.scenario!r} (known: {', '.join(sorted(SCENARIOS))})")
    if opts.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    if opts.cross_check is not None:
        from tokenproof.soundness import SOLVERS, solver_available

        if opts.cross_check not in SOLVERS:
            raise ValueError(f"--cross-check {opts.cross_check!r}: unknown solver (known: {', '.join(SOLVERS)})")
        if not solver_available(opts.cross_check):
            raise ValueError(f"--cross-check {opts.cross_check}: {opts.cross_check} is not installed "
                             f"(pip install 'tokenproof[{opts.cross_check}]')")
    chosen = [p.id for p in select(load_catalog(), opts.ids)]
    return sorted(apply_shard(chosen, opts.shard))


def volatile(rec: Record) -> bool:
    """An unknown that came from a resource limit (a solver timeout, a canceled BMC query) is not cached:
    it may go away on a quieter machine.  Unknowns that are facts of the engine (not inductive, no
    counterexample up to the depth) are."""
    if rec.verdict != "unknown":
        return False
    d = rec.detail.lower()
    return any(w in d for w in ("timeout", "canceled", "solver", "bmc:", "inconclusive"))


class Runner:
    """Proves properties one at a time with one (caching) prover; used in-process and in each worker."""

    def __init__(self, opts: RunOptions):
        from tokenproof.cache import Keys, ResultCache

        seed_solvers()
        self.opts = opts
        self.rules = get_profile(opts.profile)
        self.catalog = load_catalog()
        self.cache = ResultCache(opts.cache_dir) if opts.cache_dir else None
        self.keys = Keys(self.rules, self.catalog, opts.profile, opts.scenario, opts.timeout_ms, opts.depth) \
            if self.cache else None
        self._prover = None
        self._checker = None
        self._cc_context = None

    def property_key(self, pid: str) -> str:
        """The cache key of a property record.  With --cross-check it also covers the second solver (name,
        version, timeout, the cross-check code): a proof cached without the cross-check is a miss, so it is
        proved again and cross-checked."""
        key = self.keys.property(pid)
        if self.opts.cross_check is None:
            return key
        if self._cc_context is None:
            from tokenproof.cache import _hash, module_closure, sources_digest
            from tokenproof.soundness import solver_version

            self._cc_context = _hash("cross-check", solver_version(self.opts.cross_check),
                                     self.opts.cross_check_timeout_ms,
                                     sources_digest(module_closure("tokenproof.soundness")))
        from tokenproof.cache import _hash

        return _hash(key, self._cc_context)

    @property
    def prover(self) -> InductionProver:
        if self._prover is None:
            init = SCENARIOS[self.opts.scenario]().state
            kw = dict(timeout_ms=self.opts.timeout_ms, profile=self.opts.profile)
            if self.opts.cross_check is not None:
                # every obligation is solved here (no obligation-cache reads: a cached unsat has no formula to
                # re-ask); the queries are recorded for the second solver
                from tokenproof.soundness import ProofCrossChecker, RecordingProver

                self._prover = RecordingProver(self.rules, self.catalog, init, **kw)
                self._checker = ProofCrossChecker(self._prover, self.opts.cross_check,
                                                  self.opts.cross_check_timeout_ms)
            elif self.cache is not None:
                from tokenproof.cache import caching_prover

                self._prover = caching_prover(self.rules, self.catalog, init, self.keys, self.cache, **kw)
            else:
                self._prover = InductionProver(self.rules, self.catalog, init, **kw)
        return self._prover

    def lookup(self, pid: str) -> Record | None:
        """The cached record of ``pid`` (None on a miss or with caching off)."""
        if self.cache is None:
            return None
        hit = self.cache.get("property", self.property_key(pid))
        if hit is None:
            return None
        rec = Record.from_json(hit["record"])
        rec.cached = True
        rec.expected = self.catalog[pid].expected(self.opts.profile)  # expectations are not in the key
        self._restore_counterexample(rec, hit.get("trace"))
        return rec

    def prove(self, pid: str, progress: Callable[[str], None] | None = None, lookup: bool = True) -> Record:
        if lookup:
            rec = self.lookup(pid)
            if rec is not None:
                return rec
        prop = self.catalog[pid]
        res = self.prover.prove(prop, progress)
        summary = None
        if self._checker is not None and res.verdict == "proved":
            if progress:
                progress(f"{prop.id}: cross-check ({self.opts.cross_check})")
            summary = self._checker.check(res)
            res.seconds += summary.seconds
            if summary.disagreed:
                # z3's proof is contradicted: never report it as proved (the run exits EXIT_DISAGREEMENT)
                res.verdict = "unknown"
                res.detail = (f"CROSS-CHECK DISAGREEMENT: {self.opts.cross_check} finds a model of "
                              f"{summary.disagreed} obligation(s) z3 answered unsat "
                              f"({'; '.join(summary.disagreements)}): a solver or encoding bug; " + res.detail)
        t0 = time.perf_counter()
        if res.verdict != "proved" and prop.kind != "access":
            out = Path(self.opts.out_dir) if self.opts.out_dir else None
            res = settle_by_bmc(res, self.rules, self.opts.scenario, self.opts.depth, self.opts.timeout_ms, out,
                                self.opts.profile)
            res.seconds += time.perf_counter() - t0
        rec = record_of(res, self.opts.profile, self.rules)
        if summary is not None:
            rec.cross_check = summary.to_json()
        cc_stable = summary is None or not (summary.disagreed or summary.volatile)
        if self.cache is not None and not volatile(rec) and cc_stable:
            trace = None
            if rec.counterexample and Path(rec.counterexample).is_file():
                trace = Path(rec.counterexample).read_text()
            self.cache.put("property", self.property_key(pid), {"record": rec.to_json(), "trace": trace})
        return rec

    def _restore_counterexample(self, rec: Record, trace: str | None) -> None:
        """A cached refutation: (re)write its trace file under the current --out if it is missing or stale."""
        if trace is None or rec.counterexample is None:
            return
        if self.opts.out_dir is None:
            rec.counterexample = None
            return
        path = Path(self.opts.out_dir) / Path(rec.counterexample).name
        try:
            if not path.is_file() or path.read_text() != trace:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(trace)
        except OSError:
            pass
        rec.counterexample = relpath(path)

    def stats(self):
        from tokenproof.cache import CacheStats

        return self.cache.stats if self.cache is not None else CacheStats()


def run(opts: RunOptions, progress: Callable[[str], None] | None = None,
        on_record: Callable[[Record], None] | None = None) -> Report:
    """Prove the selected properties (cache, shard, jobs) and return the report, sorted by property id."""
    t0 = time.perf_counter()
    ids = check_options(opts)
    runner = Runner(opts)
    records: list[Record] = []
    todo: list[str] = []
    for pid in ids:  # cache hits are read here, so a warm run starts no worker
        rec = runner.lookup(pid)
        if rec is None:
            todo.append(pid)
        else:
            records.append(rec)
            if on_record:
                on_record(rec)
    stats = runner.stats()
    if opts.jobs > 1 and len(todo) > 1:
        from tokenproof.parallel import run_parallel

        more, worker_stats = run_parallel(opts, todo, on_record)
        records.extend(more)
        stats.add(worker_stats)
    else:
        for pid in todo:
            rec = runner.prove(pid, progress, lookup=False)
            records.append(rec)
            if on_record:
                on_record(rec)
    records.sort(key=lambda r: r.id)
    return Report(opts.profile, opts.scenario, records, time.perf_counter() - t0,
                  stats if opts.cache_dir else None, [list(opts.shard)] if opts.shard else [], opts.cross_check)


# ------------------------------------------------------------------ JSON reports and merging
def report_to_json(rep: Report, timings: bool = True) -> dict[str, Any]:
    rows = []
    for r in rep.records:
        d = r.to_json()
        if not timings:
            d.pop("seconds")
            d.pop("cached")
        if rep.cross_check is None:
            d.pop("cross_check")  # the report of a run without --cross-check is as before
        rows.append(d)
    out: dict[str, Any] = {"schema": REPORT_SCHEMA, "profile": rep.profile, "scenario": rep.scenario,
                           "all_as_expected": rep.all_as_expected, "counts": rep.counts(),
                           "not_as_expected": [r.id for r in rep.records if not r.as_expected],
                           "shards": rep.shards}
    if rep.cross_check is not None:
        out["cross_check"] = {"solver": rep.cross_check, **(rep.cross_check_counts() or {}),
                              "disagreements": rep.disagreements}
    if timings:
        out["seconds"] = round(rep.seconds, 2)
        out["cache"] = None if rep.cache is None else rep.cache.to_json()
    out["results"] = rows
    return out


def report_from_json(doc: dict[str, Any]) -> Report:
    from tokenproof.cache import CacheStats

    if not isinstance(doc, dict) or doc.get("schema") != REPORT_SCHEMA:
        raise ValueError(f"not a tokenproof report (expected schema {REPORT_SCHEMA!r})")
    recs = []
    for row in doc.get("results", []):
        row = dict(row)
        row.setdefault("seconds", 0.0)
        recs.append(Record.from_json(row))
    cache = None if doc.get("cache") is None else CacheStats.from_json(doc["cache"])
    cc = doc.get("cross_check")
    return Report(doc["profile"], doc.get("scenario", "standard"), recs, float(doc.get("seconds", 0.0)), cache,
                  [list(s) for s in doc.get("shards", [])], cc.get("solver") if isinstance(cc, dict) else None)


def load_report(path: str | Path) -> Report:
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror}") from None
    except ValueError as e:
        raise ValueError(f"{path}: not JSON ({e})") from None
    try:
        return report_from_json(doc)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: {e}") from None


def merge_reports(reports: list[Report]) -> tuple[Report, list[str]]:
    """One report from several (shards): records by property id; returns (report, warnings).
    Raises ValueError when the reports disagree (profile, scenario, or two verdicts for one property)."""
    from tokenproof.cache import CacheStats

    if not reports:
        raise ValueError("nothing to merge")
    warnings: list[str] = []
    profiles = {r.profile for r in reports}
    scenarios = {r.scenario for r in reports}
    if len(profiles) > 1:
        raise ValueError(f"reports of different profiles: {', '.join(sorted(profiles))}")
    if len(scenarios) > 1:
        raise ValueError(f"reports of different scenarios: {', '.join(sorted(scenarios))}")
    solvers = {r.cross_check for r in reports}
    if len(solvers) > 1:
        raise ValueError("reports with and without --cross-check (or with different solvers): "
                         + ", ".join(sorted(str(x or "none") for x in solvers)))
    by_id: dict[str, Record] = {}
    for rep in reports:
        for rec in rep.records:
            old = by_id.get(rec.id)
            if old is not None and old.comparable() != rec.comparable():
                raise ValueError(f"two different results for {rec.id}: {old.verdict} and {rec.verdict}")
            by_id.setdefault(rec.id, rec)
    cache = None
    if any(r.cache is not None for r in reports):
        cache = CacheStats()
        for r in reports:
            if r.cache is not None:
                cache.add(r.cache)
    shards = sorted({tuple(s) for r in reports for s in r.shards})
    ns = {n for _, n in shards}
    if len(ns) > 1:
        warnings.append(f"shards of different splits: {', '.join(f'{i}/{n}' for i, n in shards)}")
    elif ns:
        n = ns.pop()
        missing = sorted(set(range(1, n + 1)) - {i for i, _ in shards})
        if missing:
            warnings.append(f"shard(s) {', '.join(f'{i}/{n}' for i in missing)} missing from the merge")
    merged = Report(reports[0].profile, reports[0].scenario, [by_id[k] for k in sorted(by_id)],
                    max(r.seconds for r in reports), cache, [list(s) for s in shards], reports[0].cross_check)
    return merged, warnings
