"""AccessCheck relations (§10, issue 5): properties that relate AccessCheck
results, declared as data.

Kind ``access relation``: unlike the induction catalog (properties/catalog.py,
run by ``tokenproof prove``), these properties are not invariants of the
token state; each says something about one access bit of one or more
AccessCheck results (two tokens against one SD, or one token with two
requests) and is proved for every SD whose DACL has up to N ACEs over a
symbolic SID universe by ``tokenproof access-proofs`` (machinery:
tokenproof/relational.py).  ``tokenproof coverage`` counts their sections and
clause IDs.

Each declaration gives: id, one-line statement, spec sections, clause IDs,
the expected verdict per profile, the mutants (tokenproof/relational.py
``MUTANTS``) that must refute it, and one check function ``build(ctx, m) ->
(hypotheses, goal)`` written in the value layer for the one-bit mask ``m``.
``ctx`` is a ``tokenproof.relational.Ctx``: symbolic (proofs) or concrete
(counterexample replay), so the same text is proved and replayed.

``walk_induction=True`` declares that the property may be proved by the
N-independent walk induction of tokenproof/relational.py: its goal does not
mention the DACL's ACEs, and its hypotheses mention them only as a condition
on each ACE (``v != ace.sid`` for every ACE).  Only under these conditions is
that proof sound, so the flag is part of the declaration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from model import access as A
from model import domain as D
from model.state import BOOL, PRIVS, SID, BVT
from model.values import and_, any_, clear, eq, has_any, iff, implies, ne, not_, or_, subset

KIND = "access relation"
SYSTEM_LOGON_SID = "S-1-5-5-0-999"
# Bits a proof looks at: object-specific and standard rights and ACCESS_SYSTEM_SECURITY
# (not the reserved bits, MAXIMUM_ALLOWED or the generic bits, §3.3).
ALL_BITS = [*range(21), 24]

Ctx = Any  # tokenproof.relational.Ctx (duck-typed here: properties do not import the machinery)


def bit(x: Any, m: Any) -> Any:
    return has_any(x, m)


# ====================================================================== properties
@dataclass
class RelProp:
    """One AccessCheck relation (kind ``access relation``)."""

    id: str
    statement: str
    sections: tuple[str, ...]
    clauses: tuple[str, ...]
    build: Callable[[Ctx, Any], tuple[list[Any], Any]]  # (hypotheses, goal) for the one-bit mask m
    bits: Callable[[D.GenericMapping], list[int]] = lambda mapping: list(ALL_BITS)
    expect_by_profile: dict[str, str] = field(default_factory=lambda: {"kacs": "proved"})
    mutants: tuple[str, ...] = ()
    nice: Callable[[Ctx, Any], list[Any]] | None = None  # readability constraints for counterexamples
    note: str = ""
    walk_induction: bool = False
    kind: str = KIND

    def expected(self, profile: str = "kacs") -> str:
        return self.expect_by_profile.get(profile, self.expect_by_profile.get("kacs", "proved"))

    @property
    def expect(self) -> str:
        """The expected verdict on the kacs profile (the one AccessCheck pipeline proved here)."""
        return self.expected("kacs")


RELATIONAL: dict[str, RelProp] = {}


def relprop(id: str, statement: str, *, sections: tuple[str, ...], clauses: tuple[str, ...] = (),
            bits: Callable[[D.GenericMapping], list[int]] | None = None, expect: str | dict[str, str] = "proved",
            mutants: tuple[str, ...] = (), nice: Callable[..., list[Any]] | None = None, note: str = "",
            walk_induction: bool = False):
    """Declare the decorated ``build(ctx, m)`` as an AccessCheck relation."""
    exp = {"kacs": expect} if isinstance(expect, str) else dict(expect)
    for v in exp.values():
        if v not in ("proved", "refuted", "unknown"):
            raise ValueError(f"{id}: expected verdict {v!r}")

    def deco(fn: Callable[[Ctx, Any], tuple[list[Any], Any]]):
        if id in RELATIONAL:
            raise ValueError(f"relation {id} declared twice")
        RELATIONAL[id] = RelProp(id, statement, tuple(sections), tuple(clauses), fn,
                                 bits or (lambda mapping: list(ALL_BITS)), exp, tuple(mutants), nice, note,
                                 walk_induction)
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
         mutants=("deny-only-allows", "restricted-union"),
         walk_induction=True)
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
         note="§10.10 EnrichToken tests the owner with for_allow=true; §3.7 says deny-only does not change ownership.",
         walk_induction=True)
def p_filter_owner_rights(c: Ctx, m: Any):
    t, u = c.token("source"), "filtered"
    return _filter_token(c, t, u, False), _no_gain(c, u, t, m)


def _nice(c: Ctx, m: Any) -> list[Any]:
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
         note="Spec consequence, recorded as a finding: FilterToken on an already restricted token can widen access.",
         walk_induction=True)
def p_refilter(c: Ctx, m: Any):
    t, u = c.token("source"), "filtered"
    return _filter_token(c, t, u, True), _no_gain(c, u, t, m)


@relprop("access-deny-only-never-grants",
         "A deny-only group never grants: a token with a USE_FOR_DENY_ONLY group is granted no bit the same "
         "token without that group is not granted",
         sections=("§10.2", "§4.4"), clauses=("AC-04", "AC-05"), mutants=("deny-only-allows",),
         walk_induction=True)
def p_deny_only(c: Ctx, m: Any):
    s, t = c.s, c.token("with")
    u = c.derive("without", t, {"token_groups": clear(s.token_groups[t], D.BV(1, D.GROUP_W))})
    hyp = [has_any(s.token_groups[t], 1), has_any(s.token_g_deny_only[t], 1)]
    return hyp, _no_gain(c, t, u, m)


@relprop("access-user-deny-only",
         "user_deny_only never grants through the user SID: such a token is granted no bit the same token "
         "would not be granted with a user SID that no ACE, owner or self SID names",
         sections=("§10.2", "§4.2"), clauses=("AC-07",), mutants=("user-deny-only-ignored",),
         walk_induction=True)
def p_user_deny_only(c: Ctx, m: Any):
    s, t = c.s, c.token("deny_only_user")
    v = c.sid_var("other_user")
    u = c.derive("other_user", t, {"token_user": v})
    hyp = [s.token_user_deny_only[t]] + [ne(v, a.sid) for a in c.sd.aces] + [ne(v, c.sd.owner), ne(v, c.self_sid)]
    return hyp, _no_gain(c, t, u, m)


@relprop("access-gates-deny-all",
         "Identification-level impersonation tokens and tokens of a dead LogonSession are granted nothing and "
         "never allowed",
         sections=("§10.10",), clauses=("AC-18",), mutants=("no-gates",),
         walk_induction=True)
def p_gates(c: Ctx, m: Any):
    t = c.token("caller")
    d = c.check(t)
    return [not_(_not_gated(c, t))], and_(not_(bit(d.granted, m)), not_(d.allowed))


@relprop("access-mic-no-write-up",
         "Under a NO_WRITE_UP label (or the default label), a caller with NO_WRITE_UP policy below the label's "
         "level never receives a write-mapped bit from the DACL (only privileges grant it)",
         sections=("§10.3",), clauses=("MIC-03", "MIC-05", "MIC-06", "MIC-17", "MIC-20"),
         bits=lambda mapping: _bits_of(mapping.write), mutants=("mic-skipped",),
         walk_induction=True)
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
         mutants=("max-mode-last-writer-wins",),
         walk_induction=True)
def p_max_allowed(c: Ctx, m: Any):
    t = c.token("caller")
    return [], iff(bit(c.check(t, D.MAXIMUM_ALLOWED).granted, m), c.check(t, m).allowed)


@relprop("access-privilege-survives-restricted",
         "Privilege-granted bits survive the restricted pass (they are restored after the intersection)",
         sections=("§10.4", "§10.10"), clauses=("RESTR-06", "PRIV-06"),
         mutants=("restricted-no-privilege-restore",),
         walk_induction=True)
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
         note="Group enable/disable is not monotonic; §4.5 lets a caller disable a non-mandatory group.",
         walk_induction=True)
def p_toggle(c: Ctx, m: Any):
    s, t = c.s, c.token("enabled")
    u = c.derive("disabled", t, {"token_g_enabled": clear(s.token_g_enabled[t], D.BV(1, D.GROUP_W))})
    hyp = [has_any(s.token_groups[t], 1), has_any(s.token_g_enabled[t], 1),
           not_(has_any(s.token_g_mandatory[t], 1)), not_(has_any(s.token_g_deny_only[t], 1))]
    return hyp, implies(bit(c.check(u).granted, m), bit(c.check(t).granted, m))
