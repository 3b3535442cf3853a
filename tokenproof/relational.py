"""Relational proofs over every DACL of up to N ACEs (§10, issue 5).

Each property relates one or more AccessCheck results.  It is written once,
in the value layer, against a *context* (``SymCtx`` or ``ConcreteCtx``):

* ``SymCtx``: a fresh unbounded ``model.symbolic.Universe``; tokens are
  constants of the Token sort whose fields are read from a fresh symbolic
  state; the SD has N symbolic ACEs (present, allow, inherit_only, sid,
  mask) over the uninterpreted SID sort and two symbolic mandatory labels;
  the desired mask, the intent and the PRINCIPAL_SELF SID are symbolic.  So a
  proof covers every token and every SD with at most N ACEs.
* ``ConcreteCtx``: the same names bound to the concrete values of a z3 model;
  every counterexample is replayed through it (the same property text, the
  same ``access_check``) before it is reported.

Proofs are split per access bit: a property says something about bit ``m``
(a one-bit mask) of the result; whole-mask queries are much slower at N = 64.

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
from model.state import BOOL, FIELDS, IL, MASK, PRIVS, SID, TOKEN, BVT, FieldView, State, Type
from model.values import and_, any_, clear, eq, has_any, iff, implies, is_sym, ne, not_, or_, subset

SYSTEM_LOGON_SID = "S-1-5-5-0-999"
# Bits a proof looks at: object-specific and standard rights and ACCESS_SYSTEM_SECURITY
# (not the reserved bits, MAXIMUM_ALLOWED or the generic bits, §3.3).
ALL_BITS = [*range(21), 24]

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


def bit(x: Any, m: Any) -> Any:
    return has_any(x, m)


# ====================================================================== properties
@dataclass
class RelProp:
    id: str
    statement: str
    sections: tuple[str, ...]
    clauses: tuple[str, ...]
    build: Callable[[Ctx, Any], tuple[list[Any], Any]]  # (hypotheses, goal) for the one-bit mask m
    bits: Callable[[D.GenericMapping], list[int]] = lambda mapping: list(ALL_BITS)
    expect: str = "proved"
    mutants: tuple[str, ...] = ()
    nice: Callable[["SymCtx", Any], list[Any]] | None = None  # readability constraints for counterexamples
    note: str = ""


RELATIONAL: dict[str, RelProp] = {}


def relprop(id: str, statement: str, *, sections: tuple[str, ...], clauses: tuple[str, ...] = (),
            bits: Callable[[D.GenericMapping], list[int]] | None = None, expect: str = "proved",
            mutants: tuple[str, ...] = (), nice: Callable[..., list[Any]] | None = None, note: str = ""):
    def deco(fn: Callable[[Ctx, Any], tuple[list[Any], Any]]):
        RELATIONAL[id] = RelProp(id, statement, sections, clauses, fn, bits or (lambda mapping: list(ALL_BITS)),
                                 expect, mutants, nice, note)
        return fn

    return deco


def _bits_of(mask: Any) -> list[int]:
    return [b for b in range(32) if int(mask) >> b & 1]


def _not_gated(c: Ctx, t: Any) -> Any:
    return not_(or_(A.session_dead_gate(c.s, t), A.identification_gate(c.s, t)))


def _filter_token(c: Ctx, t: str, u: str, source_restricted: bool) -> list[Any]:
    """Token ``u`` := FilterToken(``t``) (§4.4): same identity; some groups made
    deny-only; privileges removed; restricting SIDs set (a non-empty subset of
    the source's when it was restricted: the intersection); write_restricted
    sticky, and then user_deny_only set."""
    s, G = c.s, BVT(D.GROUP_W)
    wr = or_(c.var("write_restricted_requested", BOOL), s.token_write_restricted[t])
    over: dict[str, Any] = {
        "token_g_deny_only": s.token_g_deny_only[t] | c.var("made_deny_only", G),
        "token_privs_enabled": s.token_privs_enabled[t] & c.var("kept_privileges", PRIVS),
        "token_restricted": True, "token_rsids": c.var("rsids", BVT(D.RSID_W)),
        "token_write_restricted": wr, "token_user_deny_only": or_(wr, s.token_user_deny_only[t]),
    }
    for i in range(D.RSID_SLOTS):
        over[f"token_rsid{i}"] = c.var(f"rsid{i}", SID)
    c.derive(u, t, over)
    if not source_restricted:
        return [not_(A.restricted_applies(s, t))]
    hyp = [A.restricted_applies(s, t), A.restricted_applies(s, u)]
    for i in range(D.RSID_SLOTS):
        hyp.append(implies(A.bit_of(s.token_rsids[u], i), A.in_restricting_sids(s, t, s.rsid(u, i))))
    return hyp


@relprop("access-filter-subset",
         "FilterToken never adds access: a token derived from an unrestricted source (groups made deny-only, "
         "privileges removed, restricting SIDs added, write-restricted) is granted a subset of the source's bits",
         sections=("§4.4", "§10.4", "§10.10"), clauses=("RESTR-04", "RESTR-05", "RESTR-06", "AC-04", "AC-05"),
         mutants=("deny-only-allows", "restricted-union"))
def p_filter_subset(c: Ctx, m: Any):
    t, u = c.token("source"), "filtered"
    hyp = _filter_token(c, t, u, False)
    hyp.append(iff(A.sid_matches_token(c.s, t, c.sd.owner, True), A.sid_matches_token(c.s, u, c.sd.owner, True)))
    return hyp, _no_gain(c, u, t, m)


def _no_gain(c: Ctx, u: Any, t: Any, m: Any) -> Any:
    """Bit m granted to ``u`` other than by a privilege is granted to ``t``."""
    du = c.check(u)
    return implies(and_(bit(du.granted, m), not_(bit(du.privilege_granted, m))), bit(c.check(t).granted, m))


@relprop("access-filter-owner-rights",
         "FilterToken never adds access, also when it makes the owner's group deny-only (FINDING: refuted: "
         "EnrichToken injects OWNER RIGHTS only for an owner matching for allow, so a deny-only owner group "
         "escapes OWNER RIGHTS deny ACEs)",
         sections=("§4.4", "§10.10", "§3.7"), clauses=("AC-17",), expect="refuted",
         nice=lambda c, m: _nice(c, m),
         note="§10.10 EnrichToken tests the owner with for_allow=true; §3.7 says deny-only does not change ownership.")
def p_filter_owner_rights(c: Ctx, m: Any):
    t, u = c.token("source"), "filtered"
    return _filter_token(c, t, u, False), _no_gain(c, u, t, m)


def _nice(c: "SymCtx", m: Any) -> list[Any]:
    """Constraints that make a counterexample expressible as token specs and a
    readable SD (they only narrow the search; a refutation stays a refutation)."""
    s, out = c.s, []
    for t in c.tokens:
        out += [s.token_primary[t], not_(s.sess_dead[s.token_session[t]]), not_(s.token_confined[t]),
                eq(s.token_integrity[t], D.IL_MEDIUM), eq(s.token_policy[t], D.POLICY_NO_WRITE_UP),
                eq(s.token_privs_enabled[t], 0), not_(s.token_user_deny_only[t]),
                eq(s.group_sid(t, D.GROUP_SLOTS - 1), c.sid(SYSTEM_LOGON_SID)),
                eq(s.token_user[t], c.sid_var("user"))]
        last = 1 << (D.GROUP_SLOTS - 1)
        out += [has_any(s.token_groups[t], last), has_any(s.token_g_enabled[t], last),
                has_any(s.token_g_mandatory[t], last), not_(has_any(s.token_g_deny_only[t], last))]
        for i in range(D.GROUP_SLOTS - 1):
            out.append(ne(s.group_sid(t, i), c.sid(SYSTEM_LOGON_SID)))
            for w in D.WELL_KNOWN_SIDS:
                if w not in (D.SID_EVERYONE, D.SID_ADMINISTRATORS, D.SID_AUTHENTICATED_USERS):
                    out.append(ne(s.group_sid(t, i), c.sid(w)))
    out += [c.sd.valid, c.sd.owner_present, c.sd.dacl_present, eq(c.intent, 0), eq(c.desired, m)]
    out += [not_(lab.present) for lab in c.sd.labels or []]
    out += [not_(a.inherit_only) for a in c.sd.aces]
    out += [subset(a.mask, c.mapping.all) for a in c.sd.aces]
    out += [ne(c.self_sid, x) for x in [c.sd.owner, *[a.sid for a in c.sd.aces], *[
        c.s.group_sid(t, i) for t in c.tokens for i in range(D.GROUP_SLOTS)], c.sid_var("user")]]
    return out


@relprop("access-refilter-monotonic",
         "Re-filtering a restricted token never adds access (FINDING: refuted: narrowing the restricting SIDs "
         "can drop a restricted-pass deny, and a write-restricted re-filter of a fully restricted token lifts "
         "the read intersection)",
         sections=("§4.4", "§10.4"), clauses=("RESTR-04", "RESTR-05"), expect="refuted",
         nice=lambda c, m: _nice(c, m),
         note="Spec consequence, recorded as a finding: FilterToken on an already restricted token can widen access.")
def p_refilter(c: Ctx, m: Any):
    t, u = c.token("source"), "filtered"
    return _filter_token(c, t, u, True), _no_gain(c, u, t, m)


@relprop("access-deny-only-never-grants",
         "A deny-only group never grants: a token with a USE_FOR_DENY_ONLY group is granted no bit the same "
         "token without that group is not granted",
         sections=("§10.2", "§4.4"), clauses=("AC-04", "AC-05"), mutants=("deny-only-allows",))
def p_deny_only(c: Ctx, m: Any):
    s, t = c.s, c.token("with")
    u = c.derive("without", t, {"token_groups": clear(s.token_groups[t], D.BV(1, D.GROUP_W))})
    hyp = [has_any(s.token_groups[t], 1), has_any(s.token_g_deny_only[t], 1)]
    return hyp, _no_gain(c, t, u, m)


@relprop("access-user-deny-only",
         "user_deny_only never grants through the user SID: such a token is granted no bit the same token "
         "would not be granted with a user SID that no ACE, owner or self SID names",
         sections=("§10.2", "§4.2"), clauses=("AC-07",), mutants=("user-deny-only-ignored",))
def p_user_deny_only(c: Ctx, m: Any):
    s, t = c.s, c.token("deny_only_user")
    v = c.sid_var("other_user")
    u = c.derive("other_user", t, {"token_user": v})
    hyp = [s.token_user_deny_only[t]] + [ne(v, a.sid) for a in c.sd.aces] + [ne(v, c.sd.owner), ne(v, c.self_sid)]
    return hyp, _no_gain(c, t, u, m)


@relprop("access-gates-deny-all",
         "Identification-level impersonation tokens and tokens of a dead LogonSession are granted nothing and "
         "never allowed",
         sections=("§10.10",), clauses=("AC-18",), mutants=("no-gates",))
def p_gates(c: Ctx, m: Any):
    t = c.token("caller")
    d = c.check(t)
    return [not_(_not_gated(c, t))], and_(not_(bit(d.granted, m)), not_(d.allowed))


@relprop("access-mic-no-write-up",
         "Under a NO_WRITE_UP label (or the default label), a caller with NO_WRITE_UP policy below the label's "
         "level never receives a write-mapped bit from the DACL (only privileges grant it)",
         sections=("§10.3",), clauses=("MIC-03", "MIC-05", "MIC-06", "MIC-17", "MIC-20"),
         bits=lambda mapping: _bits_of(mapping.write), mutants=("mic-skipped",))
def p_mic(c: Ctx, m: Any):
    s, t = c.s, c.token("caller")
    has, _, policy = A.effective_label(c.sd)
    hyp = [A.mic_applies(s, t, c.sd), or_(not_(has), has_any(policy, D.LABEL_NO_WRITE_UP))]
    if int(m) == int(D.WRITE_OWNER):
        hyp.append(not_(has_any(s.token_privs_enabled[t], D.SE_RELABEL)))
    d = c.check(t)
    return hyp, implies(bit(d.granted, m), bit(d.privilege_granted, m))


@relprop("access-owner-implicit",
         "The owner is granted READ_CONTROL and WRITE_DAC unless a non-inherit-only OWNER RIGHTS ACE is "
         "present (absent MIC, confinement, and a restricted pass whose restricting SIDs lack the owner)",
         sections=("§10.2", "§3.7", "§10.4"), clauses=("AC-14", "AC-16", "RESTR-07"),
         bits=lambda mapping: _bits_of(D.READ_CONTROL | D.WRITE_DAC), mutants=("owner-implicit-after-walk",))
def p_owner(c: Ctx, m: Any):
    s, t, sd = c.s, c.token("owner"), c.sd
    ors = s.sid(D.SID_OWNER_RIGHTS)
    hyp = [_not_gated(c, t), sd.valid, sd.owner_present, A.sid_matches_token(s, t, sd.owner, True),
           not_(any_(and_(a.present, not_(a.inherit_only), eq(a.sid, ors)) for a in sd.aces)),
           not_(A.mic_applies(s, t, sd)), not_(A.confinement_applies(s, t)),
           implies(A.restricted_applies(s, t), A.in_restricting_sids(s, t, sd.owner))]
    return hyp, bit(c.check(t).granted, m)


@relprop("access-max-allowed-agrees",
         "MAXIMUM_ALLOWED agrees with targeted requests (first writer wins): bit b is in the MAXIMUM_ALLOWED "
         "grant iff a request for b alone is allowed",
         sections=("§10.2", "§10.10"), clauses=("AC-01", "AC-13", "AC-18", "AC-20"),
         mutants=("max-mode-last-writer-wins",))
def p_max_allowed(c: Ctx, m: Any):
    t = c.token("caller")
    return [], iff(bit(c.check(t, D.MAXIMUM_ALLOWED).granted, m), c.check(t, m).allowed)


@relprop("access-privilege-survives-restricted",
         "Privilege-granted bits survive the restricted pass (they are restored after the intersection)",
         sections=("§10.4", "§10.10"), clauses=("RESTR-06", "PRIV-06"),
         mutants=("restricted-no-privilege-restore",))
def p_priv_restricted(c: Ctx, m: Any):
    s, t = c.s, c.token("caller")
    d = c.check(t)
    hyp = [A.restricted_applies(s, t), not_(A.confinement_applies(s, t))]
    return hyp, implies(bit(d.privilege_granted, m), bit(d.granted, m))


def _confinement_justifies(c: Ctx, t: Any, m: Any) -> Any:
    s, sd = c.s, c.sd
    inconf = lambda x: A.in_confinement_sids(s, t, x)  # noqa: E731
    ors, ps = s.sid(D.SID_OWNER_RIGHTS), s.sid(D.SID_PRINCIPAL_SELF)
    aces = [and_(a.present, not_(a.inherit_only), a.allow,
                 or_(inconf(a.sid), and_(eq(a.sid, ors), inconf(sd.owner)), and_(eq(a.sid, ps), inconf(c.self_sid))),
                 bit(A.map_generic(a.mask, c.mapping), m)) for a in sd.aces]
    return or_(and_(not_(sd.dacl_present), bit(c.mapping.all, m)), *aces)


@relprop("access-confinement-absolute",
         "Privileges do not bypass confinement: a confined, non-exempt token is granted bit b only if the DACL "
         "is NULL or an allow ACE for a confinement SID (or OWNER RIGHTS / PRINCIPAL_SELF scoped to them) "
         "carries b",
         sections=("§10.6", "§10.10"), clauses=("PRIV-06", "AC-15"), mutants=("confinement-privilege-bypass",))
def p_confinement(c: Ctx, m: Any):
    t = c.token("caller")
    return [A.confinement_applies(c.s, t)], implies(bit(c.check(t).granted, m), _confinement_justifies(c, t, m))


@relprop("access-group-toggle-monotonic",
         "Disabling a non-mandatory group never adds access (FINDING: refuted: disabling a group lifts the deny "
         "ACEs that name it)",
         sections=("§10.2", "§4.5"), clauses=("AC-03", "AC-05", "AC-06"), expect="refuted",
         nice=lambda c, m: _nice(c, m),
         note="Group enable/disable is not monotonic; §4.5 lets a caller disable a non-mandatory group.")
def p_toggle(c: Ctx, m: Any):
    s, t = c.s, c.token("enabled")
    u = c.derive("disabled", t, {"token_g_enabled": clear(s.token_g_enabled[t], D.BV(1, D.GROUP_W))})
    hyp = [has_any(s.token_groups[t], 1), has_any(s.token_g_enabled[t], 1),
           not_(has_any(s.token_g_mandatory[t], 1)), not_(has_any(s.token_g_deny_only[t], 1))]
    return hyp, implies(bit(c.check(u).granted, m), bit(c.check(t).granted, m))


# ====================================================================== mutants
def _m_deny_only_allows(s, tok, user=True):
    groups = A.token_matcher(s, tok, user=False)
    return lambda sid, allow: or_(A.user_matches(s, tok, sid, allow), groups(sid, False))


def _m_udo_ignored(s, tok, user=True):
    groups = A.token_matcher(s, tok, user=False)
    return lambda sid, allow: or_(eq(sid, s.token_user[tok]), groups(sid, allow))


def _m_max_lww(*args, max_mode=False, **kw):
    return A.evaluate_dacl(*args, max_mode=max_mode, first_writer_wins=not_(max_mode), **kw)


MUTANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "deny-only-allows": ("SidMatchesToken lets deny-only groups match allow ACEs",
                         {"token_matcher": _m_deny_only_allows}),
    "user-deny-only-ignored": ("the user SID matches allow ACEs despite user_deny_only",
                               {"token_matcher": _m_udo_ignored}),
    "last-writer-wins": ("the DACL walk lets later ACEs overwrite decided bits",
                         {"evaluate_dacl": functools.partial(A.evaluate_dacl, first_writer_wins=False)}),
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
                                  {"evaluate_dacl": functools.partial(A.evaluate_dacl, owner_implicit_first=False)}),
}


def mutant_access(name: str | None) -> Callable[..., Decision]:
    """``access_check`` itself, or with the mutant's helpers rebound in its globals."""
    if name is None:
        return access_check
    if name not in MUTANTS:
        raise KeyError(f"no access mutant {name!r} (known: {', '.join(MUTANTS)})")
    fn = access_check
    return types.FunctionType(fn.__code__, {**fn.__globals__, **MUTANTS[name][1]}, fn.__name__,
                              fn.__defaults__, fn.__closure__)


# ====================================================================== solving
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


def prove_bit(prop: RelProp | str, n_aces: int, b: int, mapping: D.GenericMapping = D.TOKEN_MAPPING,
              mutant: str | None = None, timeout_ms: int = 10000, nice: bool = True,
              ctx: SymCtx | None = None) -> BitResult:
    """Prove ``prop`` for bit ``b`` over every SD with at most ``n_aces`` ACEs.
    Pass the same ``ctx`` for several bits to share the AccessCheck terms."""
    prop = RELATIONAL[prop] if isinstance(prop, str) else prop
    t0 = time.perf_counter()
    ctx = ctx or SymCtx(n_aces, mapping, mutant_access(mutant))
    m = D.mask(1 << b)
    hyp, goal = prop.build(ctx, m)
    solver = z3.Solver()
    solver.set("timeout", int(timeout_ms))
    solver.add(*ctx.axioms)
    solver.add(*[h for h in hyp if is_sym(h)])
    if any(h is False for h in hyp):
        return BitResult(prop.id, b, n_aces, "proved", time.perf_counter() - t0, mutant, detail="vacuous")
    if not is_sym(goal):
        verdict = "proved" if goal else "refuted"
        return BitResult(prop.id, b, n_aces, verdict, time.perf_counter() - t0, mutant)
    solver.add(z3.Not(goal))
    if nice and prop.nice is not None:
        solver.push()
        solver.add(*[x for x in prop.nice(ctx, m) if is_sym(x)])
        r = solver.check()
        if r != z3.sat:
            solver.pop()
            r = solver.check()
    else:
        r = solver.check()
    secs = time.perf_counter() - t0
    if r == z3.unsat:
        return BitResult(prop.id, b, n_aces, "proved", secs, mutant)
    if r == z3.unknown:
        return BitResult(prop.id, b, n_aces, "unknown", secs, mutant, detail=solver.reason_unknown())
    cex = extract(ctx, solver.model(), m)
    replay_counterexample(prop, cex, mapping, mutant)
    return BitResult(prop.id, b, n_aces, "refuted", secs, mutant, cex)


def prove_property(prop: RelProp | str, n_aces: int, mapping: D.GenericMapping = D.TOKEN_MAPPING,
                   mutant: str | None = None, timeout_ms: int = 10000, bits: list[int] | None = None,
                   stop_at_refutation: bool = False) -> list[BitResult]:
    prop = RELATIONAL[prop] if isinstance(prop, str) else prop
    out = []
    ctx = SymCtx(n_aces, mapping, mutant_access(mutant))
    for b in bits if bits is not None else prop.bits(mapping):
        r = prove_bit(prop, n_aces, b, mapping, mutant, timeout_ms, ctx=ctx)
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


__all__ = ["RELATIONAL", "MUTANTS", "prove_bit", "prove_property", "overall", "mutant_access", "BitResult",
           "counterexample_document", "field"]
