"""Proof caching: results keyed on a hash of what the proof depends on.

Two levels, both on disk under one directory (``.tokenproof-cache/`` by
default; ``tokenproof prove --no-cache`` bypasses it):

* **property** entries: the final record of one property (verdict, detail,
  lemmas used, the CTI or the counterexample and its trace file).  A warm
  run of an unchanged catalog reads only these and never builds a prover.
* **obligation** entries: one per proof obligation the induction prover
  discharges — the base case of a property, the step case of a (property,
  rule) pair under its lemmas, and the combined cross-check.  Only ``unsat``
  answers are stored (with the unsat core); a ``sat`` needs its CTI and an
  ``unknown`` may go away, so both are re-asked.  When one rule changes, every
  property key that involves it changes, but each property's obligations on
  the *other* rules still hit: only the obligations of the changed rule (and
  the all-rules cross-check) are solved again.

What a key covers (``Keys``): the cache schema, the z3 version, the profile,
the scenario (the initial world: base cases, and the SIDs of the unbounded
universe), the prover's own source (``tokenproof/prover.py`` and every
project module it imports, transitively: smt, encode, the symbolic backend,
the value layer ...), the source of the property's and its lemmas' modules
(with their imports), and for a step obligation the source of the rule's
module (with its imports).  Sources are whole files, found by following the
static ``import`` statements inside the project (package ``__init__``
modules are followed only when they are imported for a name they define);
the model's core modules (values, state, step, symbolic, domain, access,
rules/common) are always included.  Property entries also cover the BMC
machinery, the timeout and the depth, since refutations and unknowns come
from there.

The key of an entry never includes a timing; entries are JSON files written
atomically (a temporary file renamed into place), so concurrent workers can
share a directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "tokenproof-cache/1"
DEFAULT_DIR = ".tokenproof-cache"

#: always part of every key: the value layer and the state machinery every rule and check is written in
CORE_MODULES = ("model.values", "model.state", "model.step", "model.symbolic", "model.domain", "model.access",
                "model.rules.common", "model.rules.registry", "properties.base")
PROVER_MODULES = ("tokenproof.prover", "tokenproof.smt", "tokenproof.encode")
BMC_MODULES = ("tokenproof.bmc", "tokenproof.cex", "tokenproof.replay", "tokenproof.catalog_run")


# ------------------------------------------------------------------ source closures
@lru_cache(maxsize=None)
def module_file(name: str) -> Path | None:
    """The project file of module ``name`` (None for a module outside the project)."""
    if not name or not all(part.isidentifier() for part in name.split(".")):
        return None
    p = ROOT.joinpath(*name.split("."))
    if p.with_suffix(".py").is_file():
        return p.with_suffix(".py")
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(?P<mod>\.*[\w.]*)[ \t]+import[ \t]+(?P<names>\([^)]*\)|[^\n]*)"
                     r"|import[ \t]+(?P<plain>[\w., \t]+))", re.M)


@lru_cache(maxsize=None)
def imports_of(path: Path) -> frozenset[Path]:
    """The project files ``path`` imports directly (static imports anywhere in the file).

    A line scan rather than a parse (a warm run reads every key's sources): an
    import-looking line inside a string can only add a file to a key, never
    drop one.
    """
    text = re.sub(r"#[^\n]*", "", path.read_text())  # comments (they may hold parentheses)
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[Path] = set()
    for m in _IMPORT.finditer(text):
        if m.group("plain") is not None:
            for part in m.group("plain").split(","):
                f = module_file(part.split()[0]) if part.split() else None
                if f:
                    out.add(f)
            continue
        base = m.group("mod")
        level = len(base) - len(base.lstrip("."))
        base = base.lstrip(".")
        if level:
            pkg = package.split(".")
            pkg = pkg[: len(pkg) - (level - 1)] if level > 1 else pkg
            base = ".".join([*pkg, base] if base else pkg)
        names = m.group("names").strip("() \t\n\\")
        owner = module_file(base)
        if owner is not None and owner.name != "__init__.py":  # a module: the names are its attributes
            out.add(owner)
            continue
        for item in names.split(","):
            words = item.split()
            if not words:
                continue
            name = words[0]
            sub = module_file(f"{base}.{name}") if name != "*" and name.isidentifier() else None
            if sub:
                out.add(sub)  # ``from pkg import module``: the module, not the package glue
            else:
                f = module_file(base)
                if f:
                    out.add(f)
    out.discard(path)
    return frozenset(out)


@lru_cache(maxsize=None)
def closure(path: Path) -> frozenset[Path]:
    """``path`` and every project file it imports, transitively."""
    seen: set[Path] = set()
    todo = [path]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(imports_of(p))
    return frozenset(seen)


def module_closure(*modules: str) -> frozenset[Path]:
    out: set[Path] = set()
    for m in modules:
        f = module_file(m)
        if f is None:
            raise KeyError(f"no project module {m}")
        out |= closure(f)
    return frozenset(out)


@lru_cache(maxsize=None)
def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sources_digest(files: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(set(files)):
        h.update(p.relative_to(ROOT).as_posix().encode() + b"\0" + file_digest(p).encode() + b"\0")
    return h.hexdigest()


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def clear_memo() -> None:
    """Forget file digests and import graphs (after editing sources in the same process)."""
    module_file.cache_clear()
    imports_of.cache_clear()
    closure.cache_clear()
    file_digest.cache_clear()


# ------------------------------------------------------------------ keys
class Keys:
    """Cache keys for one run configuration (profile, scenario, rule set, catalog)."""

    def __init__(self, rules: dict[str, Any], catalog: dict[str, Any], profile: str, scenario: str,
                 timeout_ms: int, depth: int):
        import z3

        self.rules = rules
        self.catalog = catalog
        self.profile = profile
        self.scenario = scenario
        self.timeout_ms = timeout_ms
        self.depth = depth
        self.z3 = z3.get_version_string()
        core = module_closure(*CORE_MODULES)
        self.prover_src = sources_digest(core | module_closure(*PROVER_MODULES))
        self.bmc_src = sources_digest(core | module_closure(*BMC_MODULES))
        self.scenario_src = sources_digest(module_closure("model.scenarios"))
        self._rule: dict[str, str] = {}
        self._prop: dict[str, str] = {}
        self.context = _hash(SCHEMA, self.z3, profile, scenario, self.scenario_src, self.prover_src)

    def rule_src(self, name: str) -> str:
        if name not in self._rule:
            mod = self.rules[name].fn.__module__
            f = module_file(mod)
            files = closure(f) if f else frozenset()
            self._rule[name] = _hash(name, self.rules[name].kernel, sources_digest(files))
        return self._rule[name]

    def prop_src(self, pid: str) -> str:
        if pid not in self._prop:
            p = self.catalog[pid]
            f = module_file(p.check.__module__)
            files = closure(f) if f else frozenset()
            self._prop[pid] = _hash(pid, p.kind, p.rules, p.support, sources_digest(files))
        return self._prop[pid]

    # obligations ---------------------------------------------------------
    def base(self, pid: str) -> str:
        return _hash("base", self.context, self.prop_src(pid))

    def step(self, pid: str, rule: str, lemmas: Iterable[str]) -> str:
        lem = sorted(set(lemmas))
        return _hash("step", self.context, self.prop_src(pid), rule, self.rule_src(rule),
                     [(lid, self.prop_src(lid)) for lid in lem])

    def combined(self, pid: str, lemmas: Iterable[str]) -> str:
        lem = sorted(set(lemmas))
        return _hash("combined", self.context, self.prop_src(pid), [(r, self.rule_src(r)) for r in sorted(self.rules)],
                     [(lid, self.prop_src(lid)) for lid in lem])

    # whole properties ----------------------------------------------------
    def lemma_closure(self, pid: str) -> list[str]:
        out: list[str] = []
        todo = [pid]
        while todo:
            q = todo.pop()
            if q in out or q not in self.catalog:
                continue
            out.append(q)
            todo.extend(self.catalog[q].support)
        return sorted(out)

    def rules_of(self, pid: str) -> list[str]:
        """The rules a property's verdict can depend on (every rule, unless a transition property without
        lemmas names its rules; BMC explores every rule, so refutable verdicts use them all)."""
        return sorted(self.rules)

    def property(self, pid: str) -> str:
        group = self.lemma_closure(pid)
        return _hash("property", self.context, self.bmc_src, self.timeout_ms, self.depth,
                     [(q, self.prop_src(q)) for q in group], [(r, self.rule_src(r)) for r in self.rules_of(pid)])


# ------------------------------------------------------------------ the store
@dataclass
class Stats:
    hits: int = 0
    misses: int = 0

    def add(self, other: "Stats") -> None:
        self.hits += other.hits
        self.misses += other.misses

    def to_json(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}


@dataclass
class CacheStats:
    properties: Stats = field(default_factory=Stats)
    obligations: Stats = field(default_factory=Stats)

    def add(self, other: "CacheStats") -> None:
        self.properties.add(other.properties)
        self.obligations.add(other.obligations)

    def to_json(self) -> dict[str, dict[str, int]]:
        return {"properties": self.properties.to_json(), "obligations": self.obligations.to_json()}

    @classmethod
    def from_json(cls, d: dict | None) -> "CacheStats":
        d = d or {}
        return cls(Stats(**d.get("properties", {})), Stats(**d.get("obligations", {})))


class ResultCache:
    """JSON entries under ``root/<kind>/<key[:2]>/<key>.json``."""

    def __init__(self, root: str | Path = DEFAULT_DIR):
        self.root = Path(root)
        self.stats = CacheStats()

    def _path(self, kind: str, key: str) -> Path:
        return self.root / "v1" / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str) -> dict | None:
        p = self._path(kind, key)
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            data = None
        if data is not None and data.get("key") != key:
            data = None
        st = self.stats.properties if kind == "property" else self.stats.obligations
        if data is None:
            st.misses += 1
            return None
        st.hits += 1
        return data["value"]

    def put(self, kind: str, key: str, value: Any) -> None:
        p = self._path(kind, key)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w") as fh:
                json.dump({"key": key, "value": value}, fh, sort_keys=True)
            os.replace(tmp, p)
        except OSError:
            pass  # a read-only or full cache directory only costs speed


# ------------------------------------------------------------------ obligation-level caching prover
def caching_prover(rules, catalog, init, keys: Keys, cache: ResultCache,
                   cacheable: Callable[[str, str, tuple[str, ...]], bool] | None = None, **kw):
    """An ``InductionProver`` whose obligations go through ``cache``.

    It overrides the prover's public obligation methods (``base_case``,
    ``step_case``, ``combined``): a stored ``unsat`` answer is returned without
    building the rule's symbolic transition; anything else is solved and, when
    ``unsat``, stored.  ``cacheable(prop_id, rule, lemmas)`` (``rule``: a rule
    name, ``"init"`` or ``"combined"``) keeps the obligations whose inputs the
    keys do not describe out of the cache (``tokenproof.review``: a proposal's
    changed rules and properties); they are solved every time.
    """
    from tokenproof.prover import InductionProver, Obligation

    allowed = cacheable or (lambda pid, rule, lemmas: True)

    class CachingProver(InductionProver):
        def _cached(self, key: Callable[[], str], pid: str, rule: str, lemmas: tuple[str, ...],
                    solve) -> Obligation:
            if not allowed(pid, rule, lemmas):
                return solve()
            key = key()
            hit = cache.get("obligation", key)
            if hit is not None:
                return Obligation(pid, rule, "unsat", 0.0, tuple(hit["core"]), hit.get("reason", ""))
            ob = solve()
            if ob.status == "unsat":
                cache.put("obligation", key, {"core": list(ob.core), "reason": ob.reason, "seconds": ob.seconds})
            return ob

        def base_case(self, prop_id: str) -> Obligation:
            if prop_id in self._base:
                return self._base[prop_id]
            ob = self._cached(lambda: keys.base(prop_id), prop_id, "init", (),
                              lambda: InductionProver.base_case(self, prop_id))
            self._base[prop_id] = ob
            return ob

        def step_case(self, prop_id: str, rule_name: str, lemmas: Iterable[str]) -> Obligation:
            lemmas = tuple(sorted(set(lemmas)))
            mem = (prop_id, rule_name, lemmas)
            if mem in self._cache:
                return self._cache[mem]
            ob = self._cached(lambda: keys.step(prop_id, rule_name, lemmas), prop_id, rule_name, lemmas,
                              lambda: InductionProver.step_case(self, prop_id, rule_name, lemmas))
            self._cache[mem] = ob
            return ob

        def combined(self, prop_id: str, lemmas: Iterable[str]) -> Obligation:
            lemmas = tuple(sorted(set(lemmas)))
            mem = (prop_id, "combined", lemmas)
            if mem in self._cache:
                return self._cache[mem]
            ob = self._cached(lambda: keys.combined(prop_id, lemmas), prop_id, "combined", lemmas,
                              lambda: InductionProver.combined(self, prop_id, lemmas))
            self._cache[mem] = ob
            return ob

    return CachingProver(rules, catalog, init, **kw)


__all__ = ["Keys", "ResultCache", "CacheStats", "Stats", "caching_prover", "closure", "module_closure",
           "sources_digest", "DEFAULT_DIR", "SCHEMA", "clear_memo"]
