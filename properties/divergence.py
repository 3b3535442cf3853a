"""Properties that tell KACS from the NT reference profile where no other
catalog property does (nt-reference.md §10; docs/review.md's divergence table)."""

from __future__ import annotations

from model import domain as D
from model.values import and_, eq, implies, not_, or_
from properties.base import prop
from properties.catalog_support import ok


@prop("anonymous-duplicates-carry-the-anonymous-identity",
      "A successful KACS_IOC_DUPLICATE to an Impersonation token at Anonymous level yields a token whose "
      "user is ANONYMOUS LOGON (S-1-5-7), whatever the source.",
      kind="transition", sections=("§4.4", "§9.3", "§13.2"), clauses=("IOCTL-19", "IMP-25"),
      rules=("ioctl_duplicate",), expect={"kacs": "proved", "nt": "refuted"},
      mutants=("duplicate-keeps-identity-at-anonymous",),
      note="NT keeps the source identity (nt-reference.md §4): refuted on the nt profile by "
           "counterexamples/nt/anonymous-duplicates-carry-the-anonymous-identity.json (two steps from the "
           "standard world), which `tokenproof prove --profile nt` replays.")
def anonymous_duplicates_carry_the_anonymous_identity(pre, post, step):
    """IOCTL-19, §9.3: the duplicate is stripped to a minimal Anonymous token."""
    if step.rule != "ioctl_duplicate":
        return True
    new = step.args["new_token"]
    anon_target = and_(not_(step.args["primary"]), eq(step.args["level"], D.ANONYMOUS))
    return implies(and_(ok(step), anon_target), eq(post.token_user[new], post.sid(D.SID_ANONYMOUS)))


@prop("open-thread-token-fails-only-with-esrch-or-eacces",
      "kacs_open_thread_token fails only with ESRCH or EACCES: a thread that does not impersonate yields its "
      "primary token (no STATUS_NO_TOKEN, no STATUS_CANT_OPEN_ANONYMOUS).",
      kind="transition", sections=("§13.1", "§4.8"), clauses=("RIGHTS-01",), rules=("kacs_open_thread_token",),
      expect={"kacs": "proved", "nt": "refuted"}, mutants=("open-thread-token-misreports-esrch",))
def open_thread_token_fails_only_with_esrch_or_eacces(pre, post, step):
    """§13.1 kacs_open_thread_token: the effective token of the thread, its primary when it does not
    impersonate; the call fails only with ESRCH or EACCES."""
    if step.rule != "kacs_open_thread_token":
        return True
    return or_(ok(step), eq(step.errno, D.ESRCH), eq(step.errno, D.EACCES))
