"""Security goals relative to the standard scenario (model/scenarios.py): an
unprivileged interactive user (alice) should not obtain SeTcbPrivilege, nor
act as another user without a cooperating client.

In the model every thread, including SYSTEM's init, acts nondeterministically,
so a literal "no sequence" goal is refuted by the TCB itself doing its job
(peinit minting and installing tokens).  The catalog therefore states both the
literal scenario goals (expected refuted, each note naming the path) and the
rule-level goals that capture "by her own steps" (expected proved).
"""

from __future__ import annotations

from model import domain as D
from model.scenarios import ALICE
from model.values import and_, eq, implies, not_
from properties.base import prop
from properties.catalog_support import (
    IMPERSONATION_RULES,
    acting,
    has_present,
    holds_priv,
    ok,
    real_of,
)


@prop("alice-processes-never-run-with-tcb",
      "No live process whose primary token's user is alice (standard scenario) has SeTcbPrivilege present "
      "in its primary token.",
      kind="state", sections=("§4.3", "§4.4", "§7.2"), clauses=("PRIV-01", "CREATE-01", "IOCTL-12"),
      expect={"kacs": "refuted"}, mutants=("install-ignores-its-guards",),
      note="Refuted by the TCB's cooperation, not by alice: SYSTEM's init calls kacs_create_token for "
           "user alice with SeTcbPrivilege, forks, and the child installs it (SeTcbPrivilege lets the "
           "user and LogonSession differ) - peinit's designed job (§4.3).  What alice cannot do by herself "
           "is unprivileged-steps-never-grant-a-tcb-primary.")
def alice_processes_no_tcb(s):
    """§7.1: privileges are fixed at token creation; only SeCreateTokenPrivilege holders mint tokens."""
    alice = s.sid(ALICE)
    return s.forall("Process", lambda p: implies(
        and_(s.proc_alive[p], eq(s.token_user[s.proc_primary[p]], alice)),
        not_(has_present(s, s.proc_primary[p], D.SE_TCB))))


@prop("unprivileged-steps-never-grant-a-tcb-primary",
      "A step by a thread whose real token holds neither SeTcbPrivilege (present) nor "
      "SeAssignPrimaryTokenPrivilege (enabled), and every kernel step, leaves every process with a "
      "SeTcbPrivilege primary either alive before with such a primary already.",
      expect={"kacs": "proved", "nt": "refuted"}, kind="transition", sections=("§4.3", "§4.4", "§7.1", "§13.2"),
      clauses=("PRIV-01", "IOCTL-12", "LIFE-01", "LIFE-14", "LIFE-23"),
      support=("live-processes-have-live-primaries", "threads-share-the-primary-unless-an-install-is-pending"),
      mutants=("install-ignores-its-guards",),
      note="The goal 'alice cannot give her processes SeTcbPrivilege' stated per step: fork and exec only "
           "copy the caller's real token, and the two replacement paths need SeAssignPrimaryTokenPrivilege "
           "on the real token.  (Tokens with SeTcbPrivilege that alice can mint through the Identification "
           "finding - see identification-level-impersonation-lends-no-privileges - cannot become primaries "
           "without that privilege.)")
def unprivileged_no_tcb_primary(pre, post, step):
    """§7.1 PRIV-01: nothing grants a privilege at runtime; §13.2: install needs SeAssignPrimaryTokenPrivilege."""
    def gained(p):
        return implies(and_(post.proc_alive[p], has_present(post, post.proc_primary[p], D.SE_TCB)),
                       and_(pre.proc_alive[p], has_present(pre, pre.proc_primary[p], D.SE_TCB)))
    body = pre.forall("Process", gained)
    if step.actor is None:
        return body
    real = real_of(pre, step.actor)
    unprivileged = and_(not_(has_present(pre, real, D.SE_TCB)), not_(holds_priv(pre, real, D.SE_ASSIGN_PRIMARY)))
    return implies(unprivileged, body)


@prop("threads-never-act-as-another-user-without-se-impersonate",
      "A successful impersonation step that leaves its actor acting (Impersonation or Delegation) as a "
      "different user was made by a thread whose real token holds SeImpersonatePrivilege enabled.",
      expect={"kacs": "proved", "nt": "refuted"}, kind="transition", sections=("§9.2", "§9.3"), clauses=("IMP-10", "IMP-14", "IMP-15", "IMP-30"),
      mutants=("impersonate-peer-gates-on-effective-token",),
      note="The 'acting identity of another user' goal per step: only a client's token reaches the "
           "impersonation rules (a socket snapshot or a token fd), and another user's identity needs the "
           "privilege on the primary token (no origin-session exception, IMP-15).")
def no_foreign_identity(pre, post, step):
    """§9.2: "If a service needs to impersonate a different user, it MUST hold SeImpersonatePrivilege" (IMP-15)."""
    if step.rule not in IMPERSONATION_RULES:
        return True
    th = step.actor
    real = real_of(pre, th)
    foreign = and_(acting(post.thread_imp_level[th]),
                   not_(eq(post.token_user[post.thread_imp_token[th]], pre.token_user[real])))
    return implies(and_(ok(step), foreign), holds_priv(pre, real, D.SE_IMPERSONATE))


@prop("alice-never-acts-with-tcb",
      "No live thread whose real token's user is alice has SeTcbPrivilege present in its real token or, "
      "when acting at Impersonation or Delegation, in its impersonation token.",
      kind="state", sections=("§9.1", "§7.1", "§4.4"), clauses=("IMP-05", "PRIV-05", "CREATE-01"),
      expect={"kacs": "refuted"}, mutants=("install-ignores-its-guards",),
      note="FINDING (with identification-level-impersonation-lends-no-privileges).  A client connecting at "
           "any level suffices: SYSTEM's init connects to a socket served by alice's shell, alice's "
           "kacs_impersonate_peer is capped to Identification, but kacs_create_token judges "
           "SeCreateTokenPrivilege on that Identification token; alice mints an alice impersonation token "
           "with SeTcbPrivilege at Impersonation level and KACS_IOC_IMPERSONATE accepts it (same user, "
           "unrestricted, integrity <= Medium).  Also refuted by SYSTEM's cooperation proper.")
def alice_no_tcb_acting(s):
    """§9.1: at Identification the server MUST NOT act as the client (IMP-05)."""
    alice = s.sid(ALICE)
    return s.forall("Thread", lambda t: implies(
        and_(s.thread_alive[t], eq(s.token_user[s.thread_real[t]], alice)),
        and_(not_(has_present(s, s.thread_real[t], D.SE_TCB)),
             implies(and_(s.thread_impersonating[t], acting(s.thread_imp_level[t])),
                     not_(has_present(s, s.thread_imp_token[t], D.SE_TCB))))))


@prop("alice-threads-never-act-as-another-user",
      "No live thread whose real token's user is alice acts at Impersonation or Delegation as a different user.",
      kind="state", sections=("§9.2", "§9.3", "§4.3"), clauses=("IMP-10", "IMP-15", "LIFE-09"),
      expect={"kacs": "refuted"}, mutants=("impersonate-peer-gates-on-effective-token",),
      note="Refuted through the TCB, not through alice's own steps: SYSTEM's init impersonates bob at "
           "Impersonation (SeImpersonatePrivilege), then KACS_IOC_INSTALLs alice's token (opened earlier "
           "through kacs_open_process_token on alice's shell); the install keeps the impersonation "
           "(LIFE-09), so a thread whose primary is alice's token acts as bob.  Per-step version: "
           "threads-never-act-as-another-user-without-se-impersonate.")
def alice_no_foreign_identity(s):
    """§9.2 identity gate (IMP-10), checked at impersonation time only."""
    alice = s.sid(ALICE)
    return s.forall("Thread", lambda t: implies(
        and_(s.thread_alive[t], eq(s.token_user[s.thread_real[t]], alice), s.thread_impersonating[t],
             acting(s.thread_imp_level[t])),
        eq(s.token_user[s.thread_imp_token[t]], alice)))
