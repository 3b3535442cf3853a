"""Replaying a trace and telling it as a story a reviewer reads in a minute.

``replay_trace(trace, profile, mutant)`` re-executes a ``tokenproof-trace/1``
file on the concrete executor (with the profile's rules, or a seeded
mutant's) and evaluates its recorded ``violation``; ``narrate`` turns the
result into text::

    [0] thread sh1 (alice's shell) calls exec(file_labelled=true, file_level=Low)
        → OK
        token#6: created: user alice, primary, integrity Low, ...
        process shell: primary alice → token#6
    ...
    property primary-changes-only-by-privileged-install (transition; §4.3)
      "A process's primary token changes only ..."
    VIOLATED after step 0 (exec by sh1):
      process shell: primary alice → token#6

The values that break a property are found by evaluating the property's own
check on a *probe* state: the outermost ``forall`` records the objects for
which its body is false, and every field the body reads for such an object
is listed with its value (``evidence``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from model import domain as D
from model.concrete import ConcreteState
from model.rules.registry import RULES, Arg, Rule
from model.state import FIELDS, FieldView, State
from model.world import World
from tokenproof.render import ARROW, call_text, object_label, render_value
from tokenproof.trace import (
    RunResult,
    StepImpossible,
    StepResult,
    Trace,
    TraceError,
    ViolationResult,
    check_violation_property,
    evaluate_violation,
    execute,
    property_catalog,
    provenance_warnings,
)

NO_MUTANT = "none"


# ====================================================================== rule sets
def rules_for(profile: str = "kacs", mutant: str | None = None) -> tuple[dict[str, Rule], str]:
    """The rule set to replay on, and its label (``kacs`` or ``mutant:NAME``).
    ``TraceError`` for an unknown profile or mutant."""
    import difflib

    from model.profiles import PROFILE_NAMES, get_profile

    if profile not in PROFILE_NAMES:
        raise TraceError(f"--profile: unknown profile {profile!r} (known: {', '.join(PROFILE_NAMES)})")
    rules = get_profile(profile)
    if mutant is None or mutant == NO_MUTANT:
        return rules, profile
    from tokenproof.mutants import load_seeded

    seeded = load_seeded()
    if mutant not in seeded:
        close = difflib.get_close_matches(mutant, list(seeded), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(seeded))}"
        raise TraceError(f"--mutant: no seeded mutant {mutant!r} ({hint})")
    return seeded[mutant].rules(rules), f"mutant:{mutant}"


# ====================================================================== evidence
@dataclass
class Read:
    state: str  # "pre", "post" or "" (a state property)
    field: str
    key: tuple
    value: Any


@dataclass
class Offender:
    sort: str | None  # the quantified sort, None when the check has no outer forall
    obj: Any
    reads: list[Read] = field(default_factory=list)


class _Log:
    def __init__(self) -> None:
        self.depth = 0
        self.reads: list[Read] | None = None
        self.offenders: list[Offender] = []


class Probe(State):
    """A read-only wrapper around a concrete state that notes what a property
    check reads and which objects of its outermost ``forall`` fail.  (A
    wrapper, not a subclass: it depends only on the ``State`` interface.)"""

    backend = "concrete"

    def __init__(self, base: ConcreteState, log: _Log, tag: str = ""):
        self._base, self._log, self._tag = base, log, tag
        self.universe = base.universe

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        spec = FIELDS.get(name)
        if spec is None:
            return getattr(self._base, name)
        v = self.view(name)
        return v() if not spec.keys else v

    def _note(self, name: str, key: tuple, value: Any) -> None:
        if self._log.reads is not None:
            self._log.reads.append(Read(self._tag, name, key, value))

    def view(self, name: str) -> FieldView:
        inner = self._base.view(name)
        spec = FIELDS[name]

        def get(*k: Any) -> Any:
            v = inner(*k)
            self._note(name, tuple(k), v)
            return v
        return FieldView(spec, get)

    def sid(self, text: str) -> Any:
        return self._base.sid(text)

    def sid_wellformed(self, sid: Any) -> Any:
        return self._base.sid_wellformed(sid)

    def forall(self, sort: str, fn: Callable[[Any], Any]) -> bool:
        log = self._log
        if log.depth > 0:
            log.depth += 1
            try:
                return all(fn(x) for x in self.universe[sort])
            finally:
                log.depth -= 1
        log.depth += 1
        saved = log.reads
        try:
            bad = []
            for x in self.universe[sort]:
                log.reads = []
                if not fn(x):
                    bad.append(Offender(sort, x, log.reads))
        finally:
            log.depth -= 1
            log.reads = saved
        log.offenders.extend(bad)
        return not bad

    def exists(self, sort: str, fn: Callable[[Any], Any]) -> bool:
        log = self._log
        log.depth += 1
        try:
            return any(fn(x) for x in self.universe[sort])
        finally:
            log.depth -= 1


def find_offenders(prop: Any, before: ConcreteState, after: ConcreteState, info: Any = None) -> list[Offender]:
    """The objects for which ``prop``'s check fails, with what the check read about them.
    A check without an outer ``forall`` gives one offender (``sort`` None) with all its reads."""
    log = _Log()
    log.reads = []
    if prop.kind == "state":
        holds = prop.check(Probe(after, log))
    else:
        holds = prop.check(Probe(before, log, "pre"), Probe(after, log, "post"), info)
    top = log.reads
    if log.offenders:
        return log.offenders
    if not holds:
        return [Offender(None, None, top or [])]
    return []


def _key_title(world: World, spec_keys: tuple, key: tuple) -> str:
    from tokenproof.render import object_title

    if not spec_keys:
        return "globals"
    if spec_keys == ("Process", "Handle"):
        return f"fd {object_label(world, 'Process', key[0])}:{key[1]}"
    return object_title(world, spec_keys[0], key[0])


def render_evidence(offenders: list[Offender], world: World, limit: int = 12) -> list[str]:
    """Readable lines: per offending object, the fields its check read (``a → b`` across a step)."""
    from tokenproof.render import field_label, object_title

    lines: list[str] = []
    for off in offenders[:6]:
        if off.sort is not None:
            lines.append(f"{object_title(world, off.sort, off.obj)} breaks it:")
        else:
            lines.append("the check reads:")
        seen: dict[tuple, dict[str, Any]] = {}
        for r in off.reads:
            k = (r.field, r.key)
            seen.setdefault(k, {}).setdefault(r.state, r.value)
        shown = 0
        for (fname, key), vals in seen.items():
            if shown >= limit:
                lines.append(f"  ... ({len(seen) - limit} more fields read)")
                break
            spec = FIELDS[fname]
            where = _key_title(world, spec.keys, key)
            label = field_label(spec)
            if "pre" in vals and "post" in vals:
                b, a = render_value(fname, vals["pre"], world), render_value(fname, vals["post"], world)
                text = f"{b} {ARROW} {a}" if b != a else f"{a} (unchanged)"
            elif "pre" in vals:
                text = f"{render_value(fname, vals['pre'], world)} (before the step)"
            elif "post" in vals:
                text = f"{render_value(fname, vals['post'], world)} (after the step)"
            else:
                text = render_value(fname, vals[""], world)
            lines.append(f"  {where}: {label} = {text}")
            shown += 1
    if len(offenders) > 6:
        lines.append(f"... and {len(offenders) - 6} more objects")
    return lines


# ====================================================================== replay
@dataclass
class Replay:
    trace: Trace
    target: str  # "kacs" or "mutant:NAME"
    rules: dict[str, Rule]
    result: RunResult | None
    steps: list[StepResult]
    error: str | None = None  # a step that is not possible on these rules
    violation: ViolationResult | None = None
    offenders: list[Offender] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def world(self) -> World | None:
        return self.result.world if self.result is not None else None

    @property
    def expectations_hold(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def reproduced(self) -> bool:
        """The recorded violation happens (steps possible, property violated)."""
        if self.error is not None or self.result is None:
            return False
        if self.trace.violation is None:
            return True
        return bool(self.violation is not None and self.violation.evaluated and self.violation.violated)

    @property
    def exit_code(self) -> int:
        """0 replays as recorded and the violation reproduces; 1 it does not."""
        return 0 if self.reproduced and self.expectations_hold else 1

    def to_json(self) -> dict[str, Any]:
        v = self.trace.violation
        return {"target": self.target, "description": self.trace.description,
                "steps": [s.to_json() for s in self.steps], "error": self.error,
                "violation": None if self.violation is None else {**self.violation.to_json(),
                                                                   "statement": _statement(v.property) if v else ""},
                "evidence": self.evidence, "warnings": self.warnings, "reproduced": self.reproduced,
                "expectations_hold": self.expectations_hold, "exit_code": self.exit_code}


def _statement(prop_id: str) -> str:
    catalog, _ = property_catalog()
    p = (catalog or {}).get(prop_id)
    return p.statement if p is not None else ""


def trace_mutant(trace: Trace, mutant: str | None) -> str | None:
    """The mutant to replay on: ``mutant`` if given (``none``: the plain profile), else the trace's own."""
    if mutant is not None:
        return None if mutant == NO_MUTANT else mutant
    return trace.mutant


def replay_trace(trace: Trace, profile: str | None = None, mutant: str | None = None,
                 rules: dict[str, Rule] | None = None, label: str | None = None) -> Replay:
    """Execute ``trace`` on ``rules`` (default: ``profile``/the trace's profile,
    with ``mutant``/the trace's mutant) and evaluate its violation."""
    check_violation_property(trace)
    if rules is None:
        rules, label = rules_for(profile or trace.profile, trace_mutant(trace, mutant))
    label = label or "custom rules"
    warnings = provenance_warnings(trace)
    try:
        result = execute(trace, rules=rules)
        error = None
        steps = result.steps
    except StepImpossible as e:
        result, error = None, str(e)
        steps = e.partial.steps if e.partial is not None else []
    rep = Replay(trace, label, rules, result, steps, error, warnings=warnings)
    if result is not None:
        rep.violation = evaluate_violation(result)
        if rep.violation is not None and rep.violation.violated:
            rep.offenders, rep.evidence = _evidence(rep)
    return rep


def _evidence(rep: Replay) -> tuple[list[Offender], list[str]]:
    catalog, _ = property_catalog()
    v = rep.trace.violation
    assert v is not None and rep.result is not None and catalog is not None
    prop = catalog[v.property]
    sr = rep.steps[v.step]
    world = rep.result.world
    try:
        if prop.kind == "state":
            offs = find_offenders(prop, sr.before, sr.after)
        else:
            from properties.base import StepInfo

            actor = None if RULES[sr.rule].kernel else world.names["Thread"].get(sr.actor)
            if actor is None and "#" in sr.actor:
                actor = int(sr.actor.split("#", 1)[1])
            offs = find_offenders(prop, sr.before, sr.post, StepInfo(sr.rule, actor, sr.args, sr.errno))
    except Exception as e:  # noqa: BLE001 - evidence is a courtesy; the verdict stands
        return [], [f"(the offending values could not be computed: {type(e).__name__}: {e})"]
    lines = render_evidence(offs, world)
    if not lines or all(not ln.startswith("  ") for ln in lines):
        # nothing read per object: show what the violating step changed
        lines += [c.text for c in sr.changes] + [c.text for k in sr.kernel for c in k.changes]
    return offs, lines


# ====================================================================== describing steps
def thread_desc(world: World, s: ConcreteState, th: int) -> str:
    """``thread sh1 (alice's shell)``: the thread, the user of its process's primary token, the process."""
    name = world.name_of("Thread", th)
    p = s.value("thread_proc", th)
    proc = world.name_of("Process", p)
    tok = s.value("proc_primary", p) if s.value("proc_alive", p) else s.value("thread_real", th)
    user = world.sid_label(s.value("token_user", tok))
    return f"thread {name} ({user}'s {proc})"


def token_desc(world: World, s: ConcreteState, tok: int) -> str:
    """``token#7 (alice)``, or ``alice`` when the token's name is its user's."""
    name = object_label(world, "Token", tok)
    if name == "none":
        return name
    user = world.sid_label(s.value("token_user", tok))
    kind = "" if s.value("token_primary", tok) else f", {D.LEVEL_NAMES.get(s.value('token_level', tok), '?')}"
    return name if (user == name and not kind) else f"{name} ({user}{kind})"


def _zeroish(a: Arg, v: Any) -> bool:
    if v is None:
        return True
    if a.type.kind == "sid":
        return str(v) == D.SID_NULL
    if a.type.kind == "bool":
        return not v
    if a.type.kind == "bv":
        return int(v) == 0
    return False


def args_desc(rule: Rule, sr: StepResult, world: World, actor: int | None) -> str:
    """The call's arguments in words: fds with the token they refer to, tokens with their user."""
    s = sr.before
    many = len(rule.args) > 6
    parts = []
    for a in rule.args:
        if a.name not in sr.args:
            continue
        v = sr.args[a.name]
        if a.fresh:
            continue
        if a.default is not None and v == a.default:
            continue
        if many and _zeroish(a, v):
            continue
        t = a.type
        if t.kind == "obj" and t.sort == "Handle" and actor is not None:
            p = s.value("thread_proc", actor)
            h = int(v)
            if s.value("fd_open", (p, h)):
                from tokenproof.statefile import rights_names
                from tokenproof.render import join_names

                tok = s.value("fd_token", (p, h))
                mask = join_names(rights_names(s.value("fd_mask", (p, h)), "token"))
                text = f"fd {h} {ARROW} {token_desc(world, s, tok)}, {mask}"
            else:
                text = f"fd {h} (not open)"
            parts.append(text if a.name == "fd" else f"{a.name}={text}")
            continue
        if t.kind == "obj" and t.sort == "Token":
            parts.append(f"{a.name}={token_desc(world, s, int(v))}")
            continue
        if t.kind == "bv" and not a.fmt and t.width == 32 and a.name.endswith(("level", "integrity")) \
                and int(v) in D.INTEGRITY_NAMES:
            parts.append(f"{a.name}={D.INTEGRITY_NAMES[int(v)]}")  # an integrity level written as a number
            continue
        parts.append(f"{a.name}={sr.args_text.get(a.name, v)}")
    return ", ".join(parts)


def step_sentence(sr: StepResult, world: World, rules: dict[str, Rule] | None = None) -> str:
    rule = (rules or RULES).get(sr.rule) or RULES[sr.rule]
    if rule.kernel:
        who = "the kernel"
        actor = None
    else:
        actor = world.names["Thread"].get(sr.actor)
        if actor is None and "#" in sr.actor:
            actor = int(sr.actor.split("#", 1)[1])
        who = thread_desc(world, sr.before, actor) if actor is not None else sr.actor
    return f"{who} calls {sr.rule}({args_desc(rule, sr, world, actor)})"


def result_text(sr: StepResult) -> str:
    ret = ", ".join(f"{k}={v}" for k, v in sr.ret.items())
    return f"{ARROW} {sr.errno_name}" + (f" ({ret})" if ret else "")


# ====================================================================== the narrative
def world_summary(trace: Trace) -> str:
    if trace.state is not None:
        n = {k: len(v) for k, v in (trace.state.get("universe") or {}).items()}
        return ("an explicit state (a counterexample to induction's pre-state): "
                + ", ".join(f"{v} {k.lower()}{'s' if v != 1 else ''}" for k, v in n.items() if v))
    text = f"scenario {trace.scenario or 'standard'}"
    su = trace.setup
    if su is not None:
        extra = []
        if su.sessions:
            extra.append("sessions " + ", ".join(su.sessions))
        if su.tokens:
            extra.append("tokens " + ", ".join(su.tokens))
        if su.processes:
            extra.append("processes " + ", ".join(f"{p} ({', '.join(ps.threads) or 'no threads'})"
                                                  for p, ps in su.processes.items()))
        if su.fds:
            extra.append(f"{len(su.fds)} fd{'s' if len(su.fds) != 1 else ''}")
        if su.sockets:
            extra.append("sockets " + ", ".join(su.sockets))
        if extra:
            text += " plus " + "; ".join(extra)
    return text


def narrate(rep: Replay, verbose_kernel: bool = True) -> list[str]:
    """The replay as lines of text."""
    t = rep.trace
    out: list[str] = []
    if t.description:
        out.append(t.description)
    out.append(f"replayed on {rep.target}, starting from {world_summary(t)}")
    for w in rep.warnings:
        out.append(f"warning: {w}")
    world = rep.world
    if world is None:
        # a step was impossible: names are those of the partial run, rebuild from the trace
        from tokenproof.trace import build_world

        world = build_world(t)
    vstep = t.violation.step if t.violation is not None else None
    for sr in rep.steps:
        out.append("")
        mark = "  ← violation" if sr.index == vstep else ""
        out.append(f"[{sr.index}] {step_sentence(sr, world, rep.rules)}{mark}")
        out.append(f"    {result_text(sr)}")
        for f in sr.failures:
            out.append(f"    NOT AS RECORDED: {f}")
        for c in sr.changes:
            out.append(f"    {c.text}")
        if verbose_kernel:
            for k in sr.kernel:
                out.append(f"    kernel: {call_text(k.rule, k.args_text)}: "
                           + ("; ".join(c.text for c in k.changes) or "no change"))
    if rep.error is not None:
        out.append("")
        out.append(f"NOT POSSIBLE on {rep.target}: {rep.error}")
    if t.violation is not None:
        out.append("")
        catalog, _ = property_catalog()
        prop = (catalog or {}).get(t.violation.property)
        if prop is not None:
            out.append(f"property {prop.id} ({prop.kind}; {' '.join(prop.sections)})")
            out.append(f"  \"{' '.join(prop.statement.split())}\"")
        v = rep.violation
        if v is None:
            out.append(f"violation of {t.violation.property} at step {t.violation.step}: not evaluated "
                       f"(the trace did not run to it)")
        elif not v.evaluated:
            out.append(f"violation: {v.message}")
        elif v.violated:
            sr = rep.steps[v.step]
            out.append(f"VIOLATED after step {v.step} ({sr.rule} by {sr.actor}):")
            out.extend(f"  {ln}" for ln in rep.evidence)
        else:
            sr = rep.steps[v.step]
            out.append(f"NOT violated after step {v.step} ({sr.rule} by {sr.actor}): the property holds "
                       f"on {rep.target}")
    out.append("")
    out.append(verdict_line(rep))
    return out


def verdict_line(rep: Replay) -> str:
    if rep.error is not None:
        return f"does not reproduce on {rep.target}: a step is not possible"
    if rep.trace.violation is None:
        return ("replays as recorded" if rep.expectations_hold
                else f"does not replay as recorded on {rep.target}")
    if not rep.reproduced:
        return f"does not reproduce on {rep.target}"
    if not rep.expectations_hold:
        return f"the violation reproduces on {rep.target}, but some steps did not return what the trace records"
    return f"reproduces on {rep.target}"


__all__ = ["Replay", "replay_trace", "narrate", "rules_for", "find_offenders", "render_evidence", "Offender",
           "Probe", "step_sentence", "thread_desc", "token_desc", "NO_MUTANT", "trace_mutant", "verdict_line"]


# ====================================================================== AccessCheck counterexamples
ACCESS_SCHEMA = "tokenproof-access-counterexample/1"


@dataclass
class AccessReplay:
    """A ``tokenproof-access-counterexample/1`` document (tokenproof/relational.py) re-evaluated."""

    doc: dict[str, Any]
    target: str
    lines: list[str]
    reproduced: bool
    expectations_hold: bool

    @property
    def exit_code(self) -> int:
        return 0 if self.reproduced and self.expectations_hold else 1

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "property": self.doc.get("property"), "lines": self.lines,
                "reproduced": self.reproduced, "expectations_hold": self.expectations_hold,
                "exit_code": self.exit_code}


def replay_access_document(doc: dict[str, Any], path: str = "<access counterexample>",
                           mutant: str | None = None) -> AccessReplay:
    """Build the document's tokens (in the boot world, SYSTEM session) and SD,
    run AccessCheck on each token, compare with the recorded results, and
    check the property's relation where it is known (group toggle: disabling
    the group must not add the bit)."""
    from model import access as A
    from model.sddl import sd_from_json
    from model.world import SpecError, boot
    from tokenproof.relational import mutant_access

    if doc.get("schema") != ACCESS_SCHEMA:
        raise TraceError(f"{path}: expected schema {ACCESS_SCHEMA!r}, got {doc.get('schema')!r}")
    for key in ("property", "tokens", "sd", "desired", "mapping", "bit"):
        if key not in doc:
            raise TraceError(f"{path}: missing key {key!r} (an AccessCheck counterexample needs property, tokens, "
                             "sd, desired, mapping, bit)")
    name = doc.get("mutant") if mutant is None else (None if mutant == NO_MUTANT else mutant)
    try:
        check = mutant_access(name)
    except KeyError as e:
        raise TraceError(f"--mutant: {e.args[0]}") from None
    target = f"access mutant:{name}" if name else "kacs AccessCheck"
    w = boot()
    try:
        toks = {k: w.add_token(k, spec, f"{path}: tokens.{k}") for k, spec in doc["tokens"].items()}
        sd = sd_from_json(doc["sd"], f"{path}: sd", w.resolve_sid)
        desired = int(str(doc["desired"]), 0)
        mapping = A.MAPPINGS[doc["mapping"]]
    except (SpecError, KeyError, ValueError) as e:
        raise TraceError(f"{path}: {e}") from None
    self_sid = doc.get("self_sid")
    bitmask = 1 << int(doc["bit"])
    lines = [f"AccessCheck counterexample for {doc['property']} on {target}",
             f"  \"{doc.get('statement', '')}\"",
             f"  desired {desired:#x}, {doc['mapping']} mapping, bit {doc.get('bit_name', doc['bit'])}"]
    granted: dict[str, int] = {}
    same = True
    for k, t in toks.items():
        dec = check(w.state, t, sd, D.mask(desired), mapping, int(doc.get("intent", 0)), self_sid)
        granted[k] = int(dec.granted)
        rec = doc.get("granted", {}).get(k)
        match = rec is None or int(str(rec), 0) == granted[k]
        same &= match
        lines.append(f"  token {k}: granted {granted[k]:#x}, {'allowed' if dec.allowed else 'denied'}"
                     + ("" if match else f"  (NOT AS RECORDED: {rec})"))
    if doc["property"] == "access-group-toggle-monotonic" and {"enabled", "disabled"} <= set(granted):
        violated = bool(granted["disabled"] & bitmask) and not granted["enabled"] & bitmask
        lines.append(("VIOLATED: disabling the group grants " if violated else "holds: disabling the group does not grant ")
                     + f"{doc.get('bit_name', doc['bit'])}, which the enabled token is denied")
        reproduced = violated
    else:
        reproduced = same
        lines.append("the recorded results " + ("reproduce" if same else "do not reproduce"))
    lines.append(("reproduces on " if reproduced else "does not reproduce on ") + target)
    return AccessReplay(doc, target, lines, reproduced, same)
