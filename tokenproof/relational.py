"""Relational proofs over every DACL of up to N ACEs (§10, issue 5): the machinery.

The properties themselves are data in properties/access_relations.py (kind
``access relation``: id, statement, sections, clauses, expected verdict per
profile, mutants, and one ``build(ctx, m)`` check in the value layer).  Each
relates one or more AccessCheck results and is written against a *context*:

* ``SymCtx``: tokens are named views over a ``LiteState`` (every field of
  every token a fresh z3 constant); SIDs are bit-vectors wide enough to give
  every SID term of the query its own value, which is equivalent to an
  unbounded SID universe since AccessCheck compares SIDs by equality only;
  the SD has N symbolic ACEs (present, allow, inherit_only, sid, mask) and
  two symbolic mandatory labels; the desired mask, the intent and the
  PRINCIPAL_SELF SID are symbolic.
* ``ConcreteCtx``: the same names bound to the concrete values of a z3 model;
  every counterexample is replayed through it (the same property text, the
  same ``access_check``) before it is reported.

Proofs are split per access bit ``m`` (a one-bit mask).  Two methods:

* direct (``prove_bit(..., method="direct")``): one query over N symbolic
  ACEs, solved by bit-blasting (``direct_solver``).  Proved means: for every
  SD with at most N ACEs.  Refutations come only from here, and are replayed.
* walk induction (``prove_bit_by_walk_induction``), for properties declared
  ``walk_induction=True``: the DACL walk is the fold ``model.access.fold_aces``
  of ``model.access.ace_step``; an invariant over bit m of every walk's state
  is found (Houdini over templates) and checked at the start of the walks,
  across one arbitrary ACE step, and at the end.  Proved means: for every SD
  with any number of ACEs (every N).  Never a refutation.

``method="auto"`` (the default, used by ``tokenproof access-proofs``) tries
the walk induction first where declared, then the direct query.  A timeout or
an invariant too weak is "unknown", never "proved".

Mutants are the real ``access_check`` with one helper rebound in its globals
(``types.FunctionType``, as tokenproof/mutants.py does for rules).
"""

from __future__ import annotations

import functools
import time
import types
from dataclasses import dataclass, field
from typing import Any, Callable

import z3

from model import access as A
from model import domain as D
from model.access import ACE, SD, Decision, Label, access_check
from model.concrete import ConcreteState
from model.state import BOOL, FIELDS, IL, MASK, SID, BVT, FieldView, State, Type
from model.values import and_, eq, has_any, implies, is_sym, not_, or_
from properties.access_relations import ALL_BITS, RELATIONAL, SYSTEM_LOGON_SID, RelProp  # the declarations


ACCESS_TOKEN_FIELDS = (
    ["token_user", "token_user_deny_only", "token_groups", "token_g_enabled", "token_g_deny_only",
     "token_g_mandatory", "token_g_default", "token_g_owner", "token_g_logon",
     "token_restricted", "token_rsids", "token_write_restricted",
     "token_primary", "token_level", "token_integrity", "token_policy", "token_privs_enabled",
     "token_session", "token_confined", "token_conf_sid", "token_caps", "token_conf_exempt"]
    + [f"token_group_sid{i}" for i in range(D.GROUP_SLOTS)]
    + [f"token_rsid{i}" for i in range(D.RSID_SLOTS)]
    + [f"token_cap{i}" for i in range(D.CAP_SLOTS)]
)
CONF_FIELDS = ("token_confined", "token_conf_sid", "token_caps", "token_conf_exempt",
               *[f"token_cap{i}" for i in range(D.CAP_SLOTS)])
GROUP_FIELDS = ("token_groups", "token_g_enabled", "token_g_deny_only", "token_g_mandatory", "token_g_default",
                "token_g_owner", "token_g_logon", *[f"token_group_sid{i}" for i in range(D.GROUP_SLOTS)])
RSID_FIELDS = ("token_restricted", "token_rsids", "token_write_restricted",
               *[f"token_rsid{i}" for i in range(D.RSID_SLOTS)])


# ====================================================================== contexts
class TokenViewState(State):
    """A state whose tokens are named views: a base token of the underlying
    state, with some AccessCheck fields overridden by terms (a derived token,
    e.g. FilterToken's output, is its source with a few fields replaced).
    Non-token keys (sessions) read the underlying state."""

    def __init__(self, base: State, tokens: dict[str, tuple[Any, dict[str, Any]]]):
        self.base, self.tokens = base, tokens
        self.backend = base.backend

    def view(self, name: str) -> FieldView:
        inner = self.base.view(name)
        spec = FIELDS[name]

        def get(*k: Any) -> Any:
            if len(k) == 1 and isinstance(k[0], str) and k[0] in self.tokens:
                obj, over = self.tokens[k[0]]
                return over[name] if name in over else inner(obj)
            return inner(*k)

        return FieldView(spec, get)

    def sid(self, text: str) -> Any:
        return self.base.sid(text)


class Ctx:
    """What a property sees: a state, an SD, a request, and ways to name tokens."""

    s: TokenViewState
    sd: SD
    desired: Any
    intent: Any
    self_sid: Any
    mapping: D.GenericMapping
    access: Callable[..., Decision]
    tokens: dict[str, tuple[Any, dict[str, Any]]]

    def check(self, tok: Any, desired: Any = None) -> Decision:
        """AccessCheck of ``tok`` against the context's SD (memoized: the terms are
        built once per token and request and shared by every bit's query)."""
        cache = self.__dict__.setdefault("_decisions", {})
        key = (str(tok), None if desired is None else str(desired))
        if key not in cache:
            cache[key] = self.access(self.s, tok, self.sd, self.desired if desired is None else desired,
                                     self.mapping, self.intent, self.self_sid)
        return cache[key]

    def f(self, name: str, tok: Any) -> Any:
        return self.s.view(name)[tok]

    def derive(self, name: str, src: str, overrides: dict[str, Any]) -> str:
        """Token ``name``: token ``src`` (a base token) with ``overrides``."""
        self.tokens[name] = (self.tokens[src][0], overrides)
        return name


class LiteState(State):
    """The lighter symbolic token view: every (field, token) and (field, session)
    is a fresh z3 constant, and SIDs are bit-vectors of ``sid_width`` bits with
    one fixed value per well-known SID.

    AccessCheck compares SIDs by equality only, so a query mentioning at most
    2**sid_width SID terms (ACE SIDs, owner, self SID, the tokens' SIDs, the
    well-known SIDs) has a counterexample over this finite SID sort iff it has
    one over an unbounded SID sort: a proof here covers every SID universe
    (DECISIONS.md §10.2)."""

    backend = "symbolic"

    def __init__(self, sid_width: int, sid_names: list[str]):
        self.sid_width = sid_width
        self.sid_names = list(sid_names)
        self.consts: dict[tuple[str, Any], Any] = {}

    def z3sort(self, t: Type) -> Any:
        if t.kind == "bool":
            return z3.BoolSort()
        if t.kind == "bv":
            return z3.BitVecSort(t.width)
        if t.kind == "sid":
            return z3.BitVecSort(self.sid_width)
        raise TypeError(f"no object sorts in the lite view ({t})")

    def const(self, name: str, t: Type) -> Any:
        return z3.Const(f"{name}_{next(_lite_counter)}", self.z3sort(t))

    def view(self, name: str) -> FieldView:
        spec = FIELDS[name]

        def get(*k: Any) -> Any:
            key = (name, k)
            if key not in self.consts:
                if spec.type.kind == "obj":
                    self.consts[key] = f"{spec.type.sort.lower()}:{'/'.join(map(str, k))}"
                else:
                    self.consts[key] = self.const(f"{name}[{'/'.join(map(str, k))}]", spec.type)
            return self.consts[key]

        return FieldView(spec, get)

    def sid(self, text: str) -> Any:
        return z3.BitVecVal(self.sid_names.index(text), self.sid_width)


_lite_counter = __import__("itertools").count()
WELL_KNOWN = list(dict.fromkeys([*D.WELL_KNOWN_SIDS, SYSTEM_LOGON_SID]))


class SymCtx(Ctx):
    def __init__(self, n_aces: int, mapping: D.GenericMapping, access: Callable[..., Decision] = access_check,
                 n_labels: int = 2):
        # SID terms: ACEs, owner, self, per token 16, free SID variables, well-known constants
        width = max(6, (n_aces + len(WELL_KNOWN) + 3 * 16 + 8).bit_length())
        self.base = LiteState(width, WELL_KNOWN)
        self.tokens = {}
        self.s = TokenViewState(self.base, self.tokens)
        self.mapping, self.access = mapping, access
        c = self.base.const
        self.vars: dict[str, tuple[Any, Type]] = {}
        aces = [ACE(c(f"ace{i}_present", BOOL), c(f"ace{i}_allow", BOOL), c(f"ace{i}_io", BOOL),
                    c(f"ace{i}_sid", SID), c(f"ace{i}_mask", MASK)) for i in range(n_aces)]
        labels = [Label(c(f"lab{i}_present", BOOL), c(f"lab{i}_io", BOOL), c(f"lab{i}_level", IL),
                        c(f"lab{i}_policy", BVT(3))) for i in range(n_labels)]
        self.sd = SD(c("sd_owner", SID), c("sd_dacl_present", BOOL), aces, valid=c("sd_valid", BOOL),
                     owner_present=c("sd_owner_present", BOOL), labels=labels)
        self.desired = c("desired", MASK)
        self.intent = c("intent", BVT(2))
        self.self_sid = c("self_sid", SID)
        self.axioms: list[Any] = []

    def token(self, name: str) -> str:
        if name not in self.tokens:
            self.tokens[name] = (name, {})
        return name

    def var(self, name: str, t: Type) -> Any:
        if name not in self.vars:
            self.vars[name] = (self.base.const(f"var_{name}", t), t)
        return self.vars[name][0]

    def sid_var(self, name: str) -> Any:
        return self.var(name, SID)

    def sid(self, text: str) -> Any:
        return self.base.sid(text)


class ConcreteCtx(Ctx):
    """A context whose every name is bound to a concrete value."""

    def __init__(self, state: ConcreteState, base_ids: dict[str, int], vars: dict[str, Any], sd: SD, desired: int,
                 intent: int, self_sid: str | None, mapping: D.GenericMapping, access: Callable[..., Decision]):
        self.tokens = {}
        self.base_ids = base_ids
        self.s = TokenViewState(state, self.tokens)
        self.vars, self.sd = vars, sd
        self.desired, self.intent, self.self_sid = D.mask(desired), intent, self_sid
        self.mapping, self.access = mapping, access

    def token(self, name: str) -> str:
        self.tokens.setdefault(name, (self.base_ids[name], {}))
        return name

    def var(self, name: str, t: Type) -> Any:
        return self.vars[name]

    def sid_var(self, name: str) -> str:
        return self.vars[name]

    def sid(self, text: str) -> str:
        return text


# ====================================================================== mutants
def _m_deny_only_allows(s, tok, user=True):
    groups = A.token_matcher(s, tok, user=False)
    return lambda sid, allow: or_(A.user_matches(s, tok, sid, allow), groups(sid, False))


def _m_udo_ignored(s, tok, user=True):
    groups = A.token_matcher(s, tok, user=False)
    return lambda sid, allow: or_(eq(sid, s.token_user[tok]), groups(sid, allow))


def _m_max_lww(evaluate_dacl):
    return lambda *args, max_mode=False, **kw: evaluate_dacl(*args, max_mode=max_mode,
                                                            first_writer_wins=not_(max_mode), **kw)


# Each mutant rebinds helpers in access_check's globals.  The value for
# ``evaluate_dacl`` is a function of the EvaluateDACL to wrap (so that the walk
# induction can wrap the abstract walk of a mutant, not only the real one).
MUTANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "deny-only-allows": ("SidMatchesToken lets deny-only groups match allow ACEs",
                         {"token_matcher": _m_deny_only_allows}),
    "user-deny-only-ignored": ("the user SID matches allow ACEs despite user_deny_only",
                               {"token_matcher": _m_udo_ignored}),
    "last-writer-wins": ("the DACL walk lets later ACEs overwrite decided bits",
                         {"evaluate_dacl": lambda ev: functools.partial(ev, first_writer_wins=False)}),
    "max-mode-last-writer-wins": ("MAXIMUM_ALLOWED walks last-writer-wins, targeted requests first-writer-wins",
                                  {"evaluate_dacl": _m_max_lww}),
    "restricted-union": ("the restricted pass is merged by union instead of intersection",
                         {"restricted_merge": lambda g, r, p, wr, mp: g | r | p}),
    "restricted-no-privilege-restore": ("privilege-granted bits are not restored after the restricted pass",
                                        {"restricted_merge": lambda g, r, p, wr, mp: A.restricted_merge(
                                            g, r, D.mask(0), wr, mp)}),
    "confinement-privilege-bypass": ("privilege-granted bits are restored after the confinement pass",
                                     {"confinement_merge": lambda g, c, p: (g & c) | p}),
    "no-gates": ("no LogonSession-dead or Identification gate",
                 {"session_dead_gate": lambda s, t: False, "identification_gate": lambda s, t: False}),
    "mic-skipped": ("EnforceMIC decides nothing", {"enforce_mic": lambda s, t, sd, mp, d: (d, D.mask(0))}),
    "owner-implicit-after-walk": ("owner implicit rights granted after the walk instead of before",
                                  {"evaluate_dacl": lambda ev: functools.partial(ev, owner_implicit_first=False)}),
}


def _rebind(fn: Callable[..., Any], overrides: dict[str, Any]) -> Callable[..., Any]:
    """``fn`` with some of its globals replaced (same code, defaults and keyword defaults)."""
    new = types.FunctionType(fn.__code__, {**fn.__globals__, **overrides}, fn.__name__, fn.__defaults__,
                             fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    return new


def mutant_access(name: str | None, walks: "AbstractWalks | None" = None) -> Callable[..., Decision]:
    """``access_check`` itself, or with the mutant's helpers rebound in its globals.

    With ``walks`` (the walk induction), EvaluateDACL's ACE fold
    (``model.access.fold_aces``) and OWNER RIGHTS pre-scan
    (``owner_rights_present``) are replaced by ``walks``' abstract ones; every
    other line of the pipeline is the real (or mutant) code."""
    if name is not None and name not in MUTANTS:
        raise KeyError(f"no access mutant {name!r} (known: {', '.join(MUTANTS)})")
    if name is None and walks is None:
        return access_check
    over = dict(MUTANTS[name][1]) if name is not None else {}
    ev = A.evaluate_dacl
    if walks is not None:
        ev = _rebind(ev, {"fold_aces": walks.fold, "owner_rights_present": walks.owner_rights_present})
    over["evaluate_dacl"] = over.get("evaluate_dacl", lambda e: e)(ev)
    return _rebind(access_check, over)


# ====================================================================== solving
def direct_solver() -> z3.Solver:
    """The solver of the direct (fixed-N) queries: simplify, solve equations,
    eliminate unconstrained terms, bit-blast, SAT.  Measured on the two-token
    properties: user-deny-only at N = 16, bit 3: timeout (60 s) with the
    default solver, 0.9 s CPU with this one; filter-subset at N = 32: 0.9 s."""
    return z3.Then("simplify", "propagate-values", "solve-eqs", "elim-uncnstr", "bit-blast", "sat").solver()


@dataclass
class BitResult:
    prop: str
    bit: int
    n_aces: int
    verdict: str
    seconds: float
    mutant: str | None = None
    counterexample: dict[str, Any] | None = None
    detail: str = ""
    method: str = "direct"  # "direct" (this N) or "walk-induction" (every N)
    cpu_seconds: float = 0.0


# ---------------------------------------------------------------------- walk induction
@dataclass
class Walk:
    """One DACL walk of the pipeline (one pass of one AccessCheck): its step
    function, its state before the first ACE and its (abstract) result."""

    step: Callable[[Any, Any, int, ACE], tuple[Any, Any]]
    decided0: Any
    granted0: Any
    decided: Any
    granted: Any


class AbstractWalks:
    """Replacement for ``model.access.fold_aces``: records each walk and returns
    fresh symbolic masks as its result (any result whatsoever), and for
    ``owner_rights_present`` a fresh boolean shared by every walk (one SD)."""

    def __init__(self, tag: str):
        self.tag, self.walks = tag, []
        self.suppressed = z3.Bool(f"{tag}_owner_rights_present_{next(_lite_counter)}")

    def fold(self, step, decided, granted, aces):
        k = len(self.walks)
        d = z3.BitVec(f"{self.tag}_walk{k}_decided_{next(_lite_counter)}", 32)
        g = z3.BitVec(f"{self.tag}_walk{k}_granted_{next(_lite_counter)}", 32)
        self.walks.append(Walk(step, decided, granted, d, g))
        return d, g

    def owner_rights_present(self, s, sd):
        return self.suppressed


_PREDS = ("G", "Dn", "U", "!G", "!Dn", "!U")


def _candidates(n_walks: int) -> list[tuple]:
    """Template invariants over the walks' bit m: per walk 'granted implies
    decided' and one-walk facts; per ordered pair of walks, P_j => Q_k with
    P in {granted, denied, undecided} and Q in those or their negations."""
    out: list[tuple] = [("wf", j) for j in range(n_walks)] + [("unit", j, p) for j in range(n_walks) for p in _PREDS]
    for j in range(n_walks):
        for k in range(n_walks):
            if j != k:
                out += [("imp", j, p, k, q) for p in _PREDS[:3] for q in _PREDS]
    return out


class _States:
    """Bit m of every walk's (decided, granted) in one situation (start, before
    or after the arbitrary ACE, result) and the candidate clauses over them,
    each built once."""

    def __init__(self, states: list[tuple[Any, Any]], m: Any):
        self.preds: dict[tuple[int, str], Any] = {}
        for k, (d, g) in enumerate(states):
            bd, bg = has_any(d, m), has_any(g, m)
            base = {"G": bg, "Dn": and_(bd, not_(bg)), "U": not_(bd)}
            for p in _PREDS:
                self.preds[k, p] = not_(base[p[1:]]) if p.startswith("!") else base[p]
            self.preds[k, "wf"] = implies(bg, bd)
        self.cache: dict[tuple, Any] = {}

    def __call__(self, c: tuple) -> Any:
        if c not in self.cache:
            if c[0] == "wf":
                self.cache[c] = self.preds[c[1], "wf"]
            elif c[0] == "unit":
                self.cache[c] = self.preds[c[1], c[2]]
            else:
                self.cache[c] = implies(self.preds[c[1], c[2]], self.preds[c[3], c[4]])
        return self.cache[c]


def _conj(xs: list[Any]) -> Any:
    xs = [x for x in xs if x is not True]
    if any(x is False for x in xs):
        return z3.BoolVal(False)
    return z3.And(*xs) if xs else z3.BoolVal(True)


def _holds(model: z3.ModelRef, x: Any) -> bool:
    return x is True or (x is not False and z3.is_true(model.eval(x, model_completion=True)))


def _houdini(solver: z3.Solver, cands: list[tuple], post: Callable[[tuple], Any],
             pre: Callable[[tuple], Any] | None) -> list[tuple] | None:
    """Drop the candidates falsified by a model of (pre(C) and not post(C))
    until none is: the largest subset C closed under this check; None on unknown."""
    while cands:
        solver.push()
        if pre is not None:
            solver.add(_conj([pre(c) for c in cands]))
        solver.add(z3.Not(_conj([post(c) for c in cands])))
        r = solver.check()
        if r == z3.unsat:
            solver.pop()
            return cands
        if r != z3.sat:
            solver.pop()
            return None
        model = solver.model()
        kept = [c for c in cands if _holds(model, post(c))]
        solver.pop()
        if len(kept) == len(cands):  # cannot happen for a sound model; avoid looping
            return None
        cands = kept
    return cands


def _mentions(terms: list[Any], consts: list[Any]) -> bool:
    """Whether any of ``terms`` contains one of the z3 constants ``consts``."""
    want = {c.get_id() for c in consts if is_sym(c)}
    seen: set[int] = set()
    stack = [t for t in terms if is_sym(t)]
    while stack:
        t = stack.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        if t.get_id() in want:
            return True
        stack.extend(t.children())
    return False


def prove_bit_by_walk_induction(prop: RelProp, b: int, mapping: D.GenericMapping = D.TOKEN_MAPPING,
                                mutant: str | None = None, timeout_ms: int = 10000) -> BitResult:
    """Prove ``prop`` for bit ``b`` for SDs with any number of ACEs (N-independent).

    The DACL walk is a fold of ``model.access.ace_step`` over the ACEs
    (``fold_aces``); the pipeline is bitwise in the walk state.  The pipeline
    is built twice with an abstract fold (``AbstractWalks``): with no ACE
    (ctx0: each walk's start state, and its result as free masks) and with one
    arbitrary ACE (ctx1).  An invariant I over bit ``b`` of every walk's
    (decided, granted) is computed by Houdini from the templates of
    ``_candidates``; then three unsat answers prove the property:

    1. init: hypotheses(ctx0) => I(start states);
    2. step: hypotheses(ctx1) and I(pre) => I(ace_step(pre, ace)) for the one
       arbitrary ACE (per-ACE hypotheses of the property included);
    3. final: hypotheses(ctx0) and I(walk results) => goal.

    By induction on the number of ACEs, I holds after the real walk of any
    DACL, so the goal holds for every N.  Sound only for properties declared
    ``walk_induction=True`` (goal does not mention the ACEs; hypotheses
    mention them only per ACE).  The OWNER RIGHTS pre-scan is a free boolean,
    an over-approximation.  Any sat or unknown answer gives "unknown" (the
    invariant may be too weak); never a refutation.  The first half of the
    declared condition is checked: if the goal, or a walk's start state, built
    over one ACE mentions that ACE, the answer is "unknown".
    """
    t0, c0 = time.perf_counter(), time.process_time()

    def result(verdict: str, detail: str) -> BitResult:
        return BitResult(prop.id, b, -1, verdict, time.perf_counter() - t0, mutant, detail=detail,
                         method="walk-induction", cpu_seconds=time.process_time() - c0)

    if not prop.walk_induction:
        return result("unknown", "not declared walk_induction")
    m = D.mask(1 << b)
    w0, w1 = AbstractWalks("w0"), AbstractWalks("w1")
    ctx0 = SymCtx(0, mapping, mutant_access(mutant, w0))
    ctx1 = SymCtx(1, mapping, mutant_access(mutant, w1))
    hyp0, goal = prop.build(ctx0, m)
    hyp1, goal1 = prop.build(ctx1, m)
    if len(w0.walks) != len(w1.walks):
        return result("unknown", "walks differ between the two builds")
    a1 = ctx1.sd.aces[0]
    if _mentions([goal1, *[x for w in w1.walks for x in (w.decided0, w.granted0)]],
                 [a1.present, a1.allow, a1.inherit_only, a1.sid, a1.mask]):
        # the declared condition checked: only the walk (and per-ACE hypotheses) may read the ACEs
        return result("unknown", "the goal or the pipeline outside the walk reads the ACEs: no walk induction")
    if any(h is False for h in hyp0):
        return result("proved", "vacuous")
    n = len(w0.walks)
    ace = ctx1.sd.aces[0]
    pre = [(z3.BitVec(f"pre{k}_d_{next(_lite_counter)}", 32), z3.BitVec(f"pre{k}_g_{next(_lite_counter)}", 32))
           for k in range(n)]
    post = [w1.walks[k].step(pre[k][0], pre[k][1], 0, ace) for k in range(n)]
    init = [(w.decided0, w.granted0) for w in w0.walks]
    final = [(w.decided, w.granted) for w in w0.walks]

    def solver(hyp: list[Any]) -> z3.Solver:
        sv = z3.Solver()
        sv.set("timeout", int(timeout_ms))
        sv.add(*[h for h in hyp if is_sym(h)])
        return sv

    s_init, s_step = solver(hyp0), solver(hyp1)
    if any(h is False for h in hyp1):
        s_step.add(z3.BoolVal(False))
    cands = _candidates(n)
    i_init, i_pre, i_post, i_final = (_States(x, m) for x in (init, pre, post, final))
    while True:
        cands = _houdini(s_init, cands, i_init, None)
        if cands is None:
            return result("unknown", "timeout (init)")
        before = len(cands)
        cands = _houdini(s_step, cands, i_post, i_pre)
        if cands is None:
            return result("unknown", "timeout (step)")
        if len(cands) == before:
            break
    s_final = solver(hyp0)
    s_final.add(_conj([i_final(c) for c in cands]))
    if not is_sym(goal):
        return result("proved" if goal else "unknown", f"invariant of {len(cands)} clauses")
    s_final.add(z3.Not(goal))
    r = s_final.check()
    if r == z3.unsat:
        return result("proved", f"walk induction: invariant of {len(cands)} clauses over {n} walks")
    return result("unknown", "walk induction: invariant too weak" if r == z3.sat else "timeout (final)")


# ---------------------------------------------------------------------- direct, fixed N
def prove_bit(prop: RelProp | str, n_aces: int, b: int, mapping: D.GenericMapping = D.TOKEN_MAPPING,
              mutant: str | None = None, timeout_ms: int = 10000, nice: bool = True,
              ctx: SymCtx | None = None, method: str = "auto") -> BitResult:
    """Prove ``prop`` for bit ``b`` over every SD with at most ``n_aces`` ACEs.

    ``method``: ``direct`` (one query over N symbolic ACEs; refutations come
    only from here and are replayed), ``induction`` (the N-independent walk
    induction only), ``auto`` (walk induction for properties declared
    ``walk_induction``, then the direct query if it did not prove).
    Pass the same ``ctx`` for several bits to share the AccessCheck terms."""
    prop = RELATIONAL[prop] if isinstance(prop, str) else prop
    if method not in ("auto", "direct", "induction"):
        raise ValueError(f"method {method!r}")
    t0, c0 = time.perf_counter(), time.process_time()  # auto: the time includes a failed induction
    if method != "direct" and prop.walk_induction:
        r = prove_bit_by_walk_induction(prop, b, mapping, mutant, timeout_ms)
        r.n_aces = n_aces
        if r.verdict == "proved" or method == "induction":
            return r
    elif method == "induction":
        return BitResult(prop.id, b, n_aces, "unknown", 0.0, mutant, detail="not declared walk_induction",
                         method="walk-induction")

    def done(verdict: str, **kw: Any) -> BitResult:
        return BitResult(prop.id, b, n_aces, verdict, time.perf_counter() - t0, mutant,
                         cpu_seconds=time.process_time() - c0, **kw)

    ctx = ctx or SymCtx(n_aces, mapping, mutant_access(mutant))
    m = D.mask(1 << b)
    hyp, goal = prop.build(ctx, m)
    if any(h is False for h in hyp):
        return done("proved", detail="vacuous")
    if not is_sym(goal):
        return done("proved" if goal else "refuted")
    solver = direct_solver()
    solver.set("timeout", int(timeout_ms))
    solver.add(*ctx.axioms)
    solver.add(*[h for h in hyp if is_sym(h)])
    solver.add(z3.Not(goal))
    r = None
    if nice and prop.nice is not None:
        # readability constraints first (a refutation under them is still a refutation)
        solver.push()
        solver.add(*[x for x in prop.nice(ctx, m) if is_sym(x)])
        r = solver.check()
        if r != z3.sat:
            solver.pop()
            r = None
    if r is None:
        r = solver.check()
    if r == z3.unsat:
        return done("proved")
    if r == z3.unknown:
        return done("unknown", detail=solver.reason_unknown())
    cex = extract(ctx, solver.model(), m)
    replay_counterexample(prop, cex, mapping, mutant)
    return done("refuted", counterexample=cex)


def prove_property(prop: RelProp | str, n_aces: int, mapping: D.GenericMapping = D.TOKEN_MAPPING,
                   mutant: str | None = None, timeout_ms: int = 10000, bits: list[int] | None = None,
                   stop_at_refutation: bool = False, method: str = "auto") -> list[BitResult]:
    prop = RELATIONAL[prop] if isinstance(prop, str) else prop
    out = []
    ctx = SymCtx(n_aces, mapping, mutant_access(mutant))
    for b in bits if bits is not None else prop.bits(mapping):
        r = prove_bit(prop, n_aces, b, mapping, mutant, timeout_ms, method=method, ctx=ctx)
        out.append(r)
        if stop_at_refutation and r.verdict == "refuted":
            break
    return out


def overall(results: list[BitResult]) -> str:
    """refuted if some bit is refuted, else unknown if some bit is unknown, else proved."""
    vs = {r.verdict for r in results}
    return "refuted" if "refuted" in vs else "unknown" if "unknown" in vs else "proved"


# ====================================================================== counterexamples
def _sid_namer(ctx: SymCtx, model: z3.ModelRef) -> Callable[[Any], str]:
    fresh: dict[int, str] = {}

    def name(term: Any) -> str:
        v = model.eval(term, model_completion=True).as_long()
        if v < len(ctx.base.sid_names):
            return ctx.base.sid_names[v]
        if v not in fresh:
            fresh[v] = f"S-1-5-21-7-7-7-{1001 + len(fresh)}"
        return fresh[v]

    return name


def _val(model: z3.ModelRef, term: Any) -> Any:
    if not is_sym(term):
        return term
    v = model.eval(term, model_completion=True)
    if z3.is_true(v) or z3.is_false(v):
        return z3.is_true(v)
    return v.as_long()


def _token_fields(ctx: SymCtx, model: z3.ModelRef, key: Any, name: Callable[[Any], str],
                  sessions: dict[str, int]) -> dict[str, Any]:
    view = ctx.s
    fields: dict[str, Any] = {}
    for f in ACCESS_TOKEN_FIELDS:
        term = view.view(f)[key]
        kind = FIELDS[f].type.kind
        if kind == "sid":
            fields[f] = name(term)
        elif kind == "obj":
            k = str(term)
            sessions.setdefault(k, 100 + len(sessions))
            fields[f] = sessions[k]
            fields["session_dead"] = _val(model, ctx.base.sess_dead[term])
        else:
            fields[f] = _val(model, term)
    return fields


def extract(ctx: SymCtx, model: z3.ModelRef, m: Any) -> dict[str, Any]:
    """The concrete values of a counterexample: base tokens (AccessCheck
    fields), the free variables, the SD and the request; plus every named
    token's fields (derived ones included) for display."""
    name = _sid_namer(ctx, model)
    sessions: dict[str, int] = {}
    base = {n: _token_fields(ctx, model, n, name, sessions) for n, (obj, over) in ctx.tokens.items() if not over}
    shown = {n: _token_fields(ctx, model, n, name, sessions) for n in ctx.tokens}
    variables = {k: (name(v) if tp.kind == "sid" else _val(model, v)) for k, (v, tp) in ctx.vars.items()}
    sd = ctx.sd
    return {
        "base_tokens": base, "tokens": shown, "vars": variables,
        "sd": {"valid": _val(model, sd.valid), "owner_present": _val(model, sd.owner_present),
               "owner": name(sd.owner), "dacl_present": _val(model, sd.dacl_present),
               "aces": [{"present": _val(model, a.present), "allow": _val(model, a.allow),
                         "inherit_only": _val(model, a.inherit_only), "sid": name(a.sid),
                         "mask": _val(model, a.mask)} for a in sd.aces],
               "labels": [{"present": _val(model, lab.present), "inherit_only": _val(model, lab.inherit_only),
                           "level": _val(model, lab.level), "policy": _val(model, lab.policy)}
                          for lab in sd.labels or []]},
        "desired": _val(model, ctx.desired), "intent": _val(model, ctx.intent), "self_sid": name(ctx.self_sid),
        "bit": int(m).bit_length() - 1,
    }


def sd_from_values(v: dict[str, Any]) -> SD:
    return SD(v["owner"], v["dacl_present"],
              [ACE(a["present"], a["allow"], a["inherit_only"], a["sid"], D.mask(a["mask"])) for a in v["aces"]],
              valid=v["valid"], owner_present=v["owner_present"],
              labels=[Label(lab["present"], lab["inherit_only"], lab["level"], lab["policy"]) for lab in v["labels"]])


def concrete_ctx(cex: dict[str, Any], mapping: D.GenericMapping, access: Callable[..., Decision]) -> ConcreteCtx:
    st = ConcreteState.empty()
    ids: dict[str, int] = {}
    for i, (tname, fields) in enumerate(cex["base_tokens"].items()):
        tid = i + 1
        ids[tname] = tid
        st.set("token_alive", tid, True)
        for f, v in fields.items():
            if f != "session_dead":
                st.set(f, tid, v)
        st.set("sess_alive", fields["token_session"], True)
        st.set("sess_dead", fields["token_session"], fields["session_dead"])
    return ConcreteCtx(st, ids, cex["vars"], sd_from_values(cex["sd"]), cex["desired"], cex["intent"],
                       cex["self_sid"], mapping, access)


class ReplayMismatch(AssertionError):
    """The concrete pipeline disagrees with the solver: a tokenproof bug."""


def replay_counterexample(prop: RelProp, cex: dict[str, Any], mapping: D.GenericMapping,
                          mutant: str | None = None) -> ConcreteCtx:
    """Evaluate the property concretely on the counterexample: every hypothesis
    must hold and the goal must fail, or tokenproof has a bug (fails loudly)."""
    ctx = concrete_ctx(cex, mapping, mutant_access(mutant))
    m = D.mask(1 << cex["bit"])
    hyp, goal = prop.build(ctx, m)
    bad = [i for i, h in enumerate(hyp) if not h]
    if bad or goal:
        raise ReplayMismatch(f"{prop.id}: counterexample does not replay (hypotheses {bad} false, goal {goal})")
    cex["replayed"] = {name: {"granted": int(ctx.check(name).granted), "allowed": bool(ctx.check(name).allowed)}
                       for name in list(ctx.tokens)}
    return ctx


# ---------------------------------------------------------------------- readable forms
_GROUP_ATTRS = [("token_g_mandatory", "MANDATORY"), ("token_g_default", "ENABLED_BY_DEFAULT"),
                ("token_g_enabled", "ENABLED"), ("token_g_owner", "OWNER"),
                ("token_g_deny_only", "USE_FOR_DENY_ONLY")]


def token_spec_from_fields(f: dict[str, Any]) -> dict[str, Any]:
    """A token spec (model/world.py ``token_from_spec``) with these AccessCheck
    fields, for a token whose last group slot is the SYSTEM session's logon SID."""
    groups = []
    for i in range(D.GROUP_SLOTS):
        if not f["token_groups"] >> i & 1 or f[f"token_group_sid{i}"] == SYSTEM_LOGON_SID:
            continue
        groups.append({"sid": f[f"token_group_sid{i}"],
                       "attrs": [n for fld, n in _GROUP_ATTRS if f[fld] >> i & 1]})
    spec: dict[str, Any] = {"user": f["token_user"], "session": "system", "groups": groups,
                            "integrity": f["token_integrity"],
                            "policy": [n for n, v in (("NO_WRITE_UP", 1), ("NEW_PROCESS_MIN", 2)) if f["token_policy"] & v],
                            "privileges": {n: ["enabled"] for n in D.priv_names(f["token_privs_enabled"])}}
    if f["token_user_deny_only"]:
        spec["user_deny_only"] = True
    if not f["token_primary"]:
        spec["type"] = "impersonation"
        spec["level"] = D.LEVEL_NAMES[f["token_level"]]
    if f["token_restricted"]:
        spec["restricted_sids"] = [f[f"token_rsid{i}"] for i in range(D.RSID_SLOTS) if f["token_rsids"] >> i & 1]
        if f["token_write_restricted"]:
            spec["write_restricted"] = True
    if f["token_confined"]:
        spec["confinement"] = {"sid": f["token_conf_sid"], "exempt": f["token_conf_exempt"],
                               "capabilities": [f[f"token_cap{i}"] for i in range(D.CAP_SLOTS)
                                                if f["token_caps"] >> i & 1]}
    return spec


def sd_json_from_values(v: dict[str, Any]) -> dict[str, Any] | None:
    """The SD in the CLI's JSON form (absent ACEs and labels dropped)."""
    if not v["valid"]:
        return None
    out: dict[str, Any] = {"owner": v["owner"] if v["owner_present"] else None}
    out["dacl"] = None if not v["dacl_present"] else [
        {"type": "allow" if a["allow"] else "deny", "sid": a["sid"], "mask": f"{a['mask']:#x}",
         "flags": ["INHERIT_ONLY"] if a["inherit_only"] else []} for a in v["aces"] if a["present"]]
    labels = [{"level": lab["level"], "policy": [n for n, b in (("NO_READ_UP", 1), ("NO_WRITE_UP", 2),
                                                                  ("NO_EXECUTE_UP", 4)) if lab["policy"] & b],
               "flags": ["INHERIT_ONLY"] if lab["inherit_only"] else []} for lab in v["labels"] if lab["present"]]
    if labels:
        out["labels"] = labels
    return out


def counterexample_document(prop: RelProp, r: BitResult, mapping_name: str) -> dict[str, Any]:
    """The JSON saved for a refuted property: token specs, SD, request and results."""
    cex = r.counterexample or {}
    toks = cex.get("tokens", {})
    return {
        "schema": "tokenproof-access-counterexample/1",
        "property": prop.id, "statement": prop.statement, "sections": list(prop.sections),
        "expected": prop.expect, "mutant": r.mutant, "n_aces": r.n_aces, "bit": r.bit,
        "bit_name": A.right_name(r.bit, A.MAPPINGS.get(mapping_name)), "mapping": mapping_name,
        "tokens": {k: token_spec_from_fields(v) for k, v in toks.items()},
        "sd": sd_json_from_values(cex["sd"]) if cex else None,
        "desired": f"{cex.get('desired', 0):#x}", "intent": cex.get("intent", 0),
        "self_sid": cex.get("self_sid"),
        "granted": {k: f"{v['granted']:#x}" for k, v in cex.get("replayed", {}).items()},
        "allowed": {k: v["allowed"] for k, v in cex.get("replayed", {}).items()},
    }


__all__ = ["ALL_BITS", "RELATIONAL", "prove_bit_by_walk_induction", "MUTANTS", "prove_bit", "prove_property", "overall", "mutant_access", "BitResult",
           "counterexample_document", "field"]
