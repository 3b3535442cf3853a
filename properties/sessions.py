"""LogonSession properties (§4.3 Well-known LUIDs, §4.7 Sessions, §10.10 step 0)."""

from __future__ import annotations

from model import domain as D
from model.access import access_check
from model.values import and_, eq, implies, ne, not_, uge
from properties.base import prop
from properties.catalog_support import TOKEN_SOURCE_LEMMAS, fd_token, ok


@prop("dead-sessions-never-revive",
      "A live LogonSession that is dead stays dead after every step.",
      kind="transition", sections=("§4.7",), clauses=("SESS-12",),
      mutants=("create-session-reuses-a-live-session",))
def dead_never_revives(pre, post, step):
    """§4.7 Mechanism: the dead flag "is set atomically and can never be cleared" (SESS-12)."""
    return pre.forall("Session", lambda x: implies(and_(pre.sess_alive[x], pre.sess_dead[x]), post.sess_dead[x]))


@prop("no-token-of-a-dead-session-is-installed",
      "A successful KACS_IOC_INSTALL never installs a token whose LogonSession is dead.",
      kind="transition", sections=("§4.7", "§13.2"), clauses=("SESS-16", "IOCTL-15"),
      mutants=("install-accepts-dead-session-tokens",))
def no_dead_install(pre, post, step):
    """§4.7 Effects: KACS_IOC_INSTALL rejects a token whose LogonSession is dead (SESS-16)."""
    if step.rule != "ioctl_install":
        return True
    return implies(ok(step), not_(pre.sess_dead[pre.token_session[fd_token(pre, step)]]))


@prop("dead-session-tokens-pass-no-access-check",
      "AccessCheck of a token whose LogonSession is dead allows no non-empty request, against any SD, "
      "and grants nothing.",
      kind="access", sections=("§4.7", "§10.10"), clauses=("SESS-13",),
      note="An access property over every SD, token and desired mask; it depends on no rule, so no rule "
           "mutant can break it (mutants=() on purpose).")
def dead_session_denied(s, q):
    """§4.7 Effects: AccessCheck tests token.logon_session.dead first (step 0) (SESS-13)."""
    dec = access_check(s, q.token, q.sd, q.desired, q.mapping)
    return implies(and_(s.sess_dead[s.token_session[q.token]], ne(q.desired, 0)),
                   and_(not_(dec.allowed), eq(dec.granted, 0)))


@prop("the-anonymous-session-is-never-destroyed",
      "The ANONYMOUS LogonSession (LUID 998) is alive in every reachable state.",
      kind="state", sections=("§4.3", "§4.7"), clauses=("LIFE-18", "LIFE-20"),
      support=("the-anonymous-token-is-well-formed",),
      mutants=("kernel-destroys-well-known-sessions",),
      note="The global Anonymous token is never freed and always belongs to it, so neither the kernel "
           "nor kacs_destroy_empty_logon_session can destroy it.")
def anon_session_alive(s):
    """§4.3 Bootstrap: the Anonymous LogonSession exists from kernel init for Anonymous tokens."""
    return s.sess_alive[s.anon_session]


@prop("the-system-session-is-never-destroyed",
      "The SYSTEM LogonSession (LUID 999) is alive in every reachable state.",
      kind="state", sections=("§4.3", "§4.7"), clauses=("LIFE-16", "SESS-04", "SESS-06"),
      expect={"kacs": "refuted"}, mutants=("kernel-destroys-well-known-sessions",),
      note="Refuted (spec gap): the kernel never reclaims it, but kacs_destroy_empty_logon_session only "
           "asks for SeTcbPrivilege and 'zero live tokens' (SESS-06).  A TCB holder outside the SYSTEM "
           "session (init creates a TCB token in alice's session, forks, the child installs it; init and "
           "the child's SYSTEM copy go away) can then roll back the SYSTEM session.  Concrete witness in 5 "
           "steps: create_token, fork, install, init's process_exit, kacs_destroy_empty_logon_session "
           "(tests/properties/test_mutants_concrete.py).")
def system_session_alive(s):
    """§4.3 Well-known LogonSession LUIDs: the SYSTEM LogonSession is created at kernel init."""
    return s.sess_alive[s.system_session]


@prop("dynamic-session-luids-are-at-least-1000",
      "Every live LogonSession other than SYSTEM and ANONYMOUS has a LUID of at least 1000.",
      kind="state", sections=("§4.3",), clauses=("LIFE-20",),
      expect={"kacs": "unknown"}, mutants=("create-session-resets-the-luid-counter",),
      note="True in every state reachable in fewer than 2^64 session creations, but not inductive: "
           "next_luid is a 64-bit counter that the model lets wrap (inc), so the needed lemma "
           "'next_luid >= 1000' has a counterexample to induction at next_luid = 2^64-1.  Unknown, not proved.")
def dynamic_luids(s):
    """§4.3: dynamic LogonSessions receive LUIDs starting at 1000; 999 and 998 are never assigned (LIFE-20)."""
    return and_(uge(s.next_luid, D.FIRST_DYNAMIC_LUID),
                s.forall("Session", lambda x: implies(
                    and_(s.sess_alive[x], ne(x, s.system_session), ne(x, s.anon_session)),
                    uge(s.sess_luid[x], D.FIRST_DYNAMIC_LUID))))


@prop("live-tokens-belong-to-live-sessions",
      "Every live token's LogonSession is alive.",
      kind="state", sections=("§4.7", "§4.6"), clauses=("SESS-01", "SESS-03", "SESS-06", "ELEV-13"),
      support=("the-anonymous-session-is-never-destroyed", *TOKEN_SOURCE_LEMMAS),
      mutants=("destroy-empty-session-ignores-live-tokens",))
def tokens_in_live_sessions(s):
    """§4.7: each token references a LogonSession (SESS-01), which lives while any of its tokens does."""
    return s.forall("Token", lambda t: implies(s.token_alive[t], s.sess_alive[s.token_session[t]]))
