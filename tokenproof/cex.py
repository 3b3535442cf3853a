"""Counterexamples: a BMC model turned into a concrete, replayable trace.

``from_model(result)`` reads a refuting ``BMCResult``'s z3 model back into
concrete terms through the finite embedding (``tokenproof.encode.extract`` /
``eval_args``): the initial concrete state, then per step the actor, the rule,
its concrete arguments (including the fresh ids the solver chose) and the
errno the model predicts, plus the model's state at every depth.

``tokenproof.replay.replay`` runs the trace on the concrete executor and must
agree with the model at every step; only a replayed counterexample is
written (``write``) to ``counterexamples/<property>[.<mutant>].json`` in the
``tokenproof-trace/1`` format.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import z3

from model import domain as D
from model.concrete import ConcreteState
from model.rules.registry import Rule
from model.values import BV
from properties.base import Property
from tokenproof.encode import Embedding, Extraction, eval_args, extract

TRACE_SCHEMA = "tokenproof-trace/1"
MODEL_DIR = Path(__file__).resolve().parent.parent / "model"


def model_hash(root: Path | None = None) -> str:
    """sha256 over the source of ``model/`` (every ``*.py``, by relative path, in order)."""
    root = Path(root or MODEL_DIR)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        if "__pycache__" in p.parts:
            continue
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


@dataclass
class CexStep:
    actor: int | None  # thread id; None for a kernel rule
    rule: str
    args: dict[str, Any]  # concrete arguments (ids, SID texts, ints, bools)
    errno: int  # what the model says the step returns
    enabled: bool = True


@dataclass
class Counterexample:
    prop: Property
    scenario: str
    profile: str
    mutant: str | None
    rules: dict[str, Rule]
    init: ConcreteState  # the initial world, its universe extended with the fresh ids
    world: Any  # model.world.World: names for objects and SIDs
    emb: Embedding
    steps: list[CexStep]
    states: list[ConcreteState]  # the model's state at depths 0..len(steps)
    violation_step: int  # the depth at which the property fails (= number of steps taken)
    query: Any = None  # concrete AccessQuery (access properties)
    replayed: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------ display
    def name(self, sort: str, oid: Any) -> Any:
        if oid is None:
            return None
        if sort == "Handle":
            return int(oid)
        return self.world.name_of(sort, oid) if self.world is not None else f"{sort.lower()}#{oid}"

    def actor_name(self, step: CexStep) -> str:
        return "kernel" if step.actor is None else self.name("Thread", step.actor)

    def readable_args(self, step: CexStep) -> dict[str, Any]:
        rule = self.rules[step.rule]
        out: dict[str, Any] = {}
        for a in rule.args:
            v = step.args[a.name]
            if a.type.kind == "obj":
                out[a.name] = self.name(a.type.sort, v)
            elif a.type.kind == "bool":
                out[a.name] = bool(v)
            elif a.type.kind == "bv" and a.fmt == "slots":
                from tokenproof.statefile import slot_list

                out[a.name] = slot_list(int(v))
            elif a.type.kind == "bv":
                out[a.name] = int(v)
            else:
                out[a.name] = str(v)
        return out

    def describe(self) -> list[str]:
        lines = []
        for i, st in enumerate(self.steps, 1):
            args = ", ".join(f"{k}={v}" for k, v in self.readable_args(st).items())
            lines.append(f"{i}. {self.actor_name(st)}: {st.rule}({args}) -> {errno_name(st.errno)}")
        return lines

    # ------------------------------------------------------------ the trace file
    def to_json(self) -> dict[str, Any]:
        mut = f" on mutant {self.mutant}" if self.mutant else ""
        doc = {
            "schema": TRACE_SCHEMA,
            "description": f"Counterexample to {self.prop.id}{mut}: {self.prop.statement} "
                           f"(found by bounded model checking, replayed on the concrete executor)",
            "profile": self.profile,
            "model_hash": model_hash(),
            "scenario": self.scenario,
            "auto_gc": False,
            "steps": [{"actor": self.actor_name(st), "rule": st.rule, "args": self.readable_args(st),
                       "expect": {"errno": errno_name(st.errno)}} for st in self.steps],
            # the 0-based index of the step after which the property fails (tokenproof.trace)
            "violation": {"property": self.prop.id, "step": max(self.violation_step - 1, 0),
                          "statement": self.prop.statement},
        }
        if self.query is not None:
            doc["description"] += f"; AccessCheck query: {json.dumps(_jsonable(self.query), sort_keys=True)}"
        return doc


def errno_name(e: int) -> str:
    return D.ERRNO_NAMES.get(int(e), str(int(e)))


def file_name(prop_id: str, mutant: str | None = None) -> str:
    safe = lambda x: "".join(c if c.isalnum() or c in "-_." else "_" for c in x)  # noqa: E731
    return f"{safe(prop_id)}.{safe(mutant)}.json" if mutant else f"{safe(prop_id)}.json"


def write(cex: Counterexample, out_dir: str | Path = "counterexamples/found") -> Path:
    """Write a *replayed* counterexample as a trace file; refuses one that was not replayed."""
    if not cex.replayed:
        raise ValueError("only replayed counterexamples are written (call tokenproof.replay.replay first)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / file_name(cex.prop.id, cex.mutant)
    doc = cex.to_json()
    if not cex.steps:  # the initial world itself violates the property: not a trace of steps
        doc.pop("violation")
    try:
        from tokenproof.trace import dump_trace  # validates the trace before writing it
    except ImportError:  # pragma: no cover - the trace module is optional here
        path.write_text(json.dumps(doc, indent=2) + "\n")
    else:
        dump_trace(doc, path)
    return path


# ------------------------------------------------------------------ model -> concrete trace
def from_model(res: Any) -> Counterexample:
    """The concrete counterexample in a refuting ``tokenproof.bmc.BMCResult``."""
    unr, model = res.unrolling, res.model
    k = res.depth
    extractions: list[Extraction] = [extract(model, unr.states[j], unr.emb) for j in range(k + 1)]
    steps: list[CexStep] = []
    for j in range(k):
        sv = unr.steps[j]
        idx = model.eval(sv.sel, model_completion=True).as_long()
        name = unr.rule_names[idx]
        rule = unr.rules[name]
        actor, args = eval_args(model, extractions[j], rule, sv.args[name], None if rule.kernel else sv.actor)
        errno = _eval_int(model, unr.step_term(j, name, "errno"))
        enabled = _eval_bool(model, unr.step_term(j, name, "enabled"))
        steps.append(CexStep(actor, name, args, errno, enabled))
    query = None
    if res.query is not None:
        query = concrete_query(model, extractions[k], unr.uni, res.query)
    return Counterexample(res.prop, res.scenario, res.profile, res.mutant, unr.rules, unr.init, unr.names,
                          unr.emb, steps, [e.state for e in extractions], k, query)


def _eval_int(model: z3.ModelRef, x: Any) -> int:
    if isinstance(x, z3.ExprRef):
        return model.eval(x, model_completion=True).as_long()
    return int(x)


def _eval_bool(model: z3.ModelRef, x: Any) -> bool:
    if isinstance(x, z3.ExprRef):
        return z3.is_true(model.eval(x, model_completion=True))
    return bool(x)


def concrete_query(model: z3.ModelRef, ex: Extraction, uni: Any, q: Any) -> Any:
    """Every z3 term inside ``q`` (dataclasses, lists) replaced by its concrete value."""
    sort_names = {uni.sorts[s].name(): s for s in uni.sorts}
    typed = getattr(uni, "const_types", {})

    def conv(x: Any) -> Any:
        if isinstance(x, z3.ExprRef):
            t = typed.get(x.get_id())
            if t is not None and t.kind in ("obj", "sid"):  # bit-vector elements: the constant's type decides
                return ex.value(model, t, x)
            v = model.eval(x, model_completion=True)
            if z3.is_bool(v):
                return z3.is_true(v)
            if z3.is_bv(v):
                return BV(v.as_long(), v.size())
            sort = sort_names[v.sort().name()]
            if sort == "SID":
                return ex.sid_text[str(v)]
            return ex.to_id[sort][str(v)]
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            return dataclasses.replace(x, **{f.name: conv(getattr(x, f.name)) for f in dataclasses.fields(x)
                                             if f.init})
        if isinstance(x, list):
            return [conv(y) for y in x]
        if isinstance(x, tuple):
            return tuple(conv(y) for y in x)
        return x

    return conv(q)


def _jsonable(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, (list, tuple)):
        return [_jsonable(y) for y in x]
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int):
        return int(x)
    if hasattr(x, "__dict__"):
        return {k: _jsonable(v) for k, v in vars(x).items()}
    return str(x)


__all__ = ["Counterexample", "CexStep", "from_model", "model_hash", "write", "file_name", "concrete_query",
           "TRACE_SCHEMA", "errno_name"]
