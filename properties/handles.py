"""Handle properties (§4.8 token access rights, Appendix A §1/§2 token fds)."""

from __future__ import annotations

from model import domain as D
from model.access import access_check
from model.rules.common import default_token_sd
from model.rules.handles import PEER_TOKEN_MASK
from model.values import and_, eq, has_any, implies, not_, subset
from model.access import sid_matches_token
from properties.base import prop
from properties.catalog_support import IOCTL_RIGHTS, fd_has, new_fd_opened, ok


@prop("handle-masks-never-grow",
      "The cached access mask of an fd of a live process that is open before and after a step, on the "
      "same token, never gains a right.",
      kind="transition", sections=("§4.8", "§13.2"), clauses=("RIGHTS-16", "TOK-14", "SESS-14"),
      mutants=("open-self-token-reuses-an-open-fd",))
def handle_masks_never_grow(pre, post, step):
    """§4.8: AccessCheck runs once at fd acquisition; later operations use the cached mask (RIGHTS-16)."""
    return pre.forall2("Process", "Handle", lambda p, h: implies(
        and_(pre.proc_alive[p], pre.fd_open[p, h], post.fd_open[p, h], eq(pre.fd_token[p, h], post.fd_token[p, h])),
        subset(post.fd_mask[p, h], pre.fd_mask[p, h])))


@prop("token-operations-are-authorized-by-the-handle-mask",
      "Every successful token ioctl used an open fd whose cached mask holds the right it needs: "
      "TOKEN_ASSIGN_PRIMARY (install, external replacement), TOKEN_DUPLICATE (duplicate, restrict, "
      "link), TOKEN_IMPERSONATE (impersonate), TOKEN_ADJUST_* (adjustments), TOKEN_QUERY (get linked token).",
      kind="transition", sections=("§4.8", "Appendix A §2"),
      clauses=("IOCTL-01", "IOCTL-06", "IOCTL-12", "IOCTL-16", "IOCTL-21", "IOCTL-24", "IOCTL-27", "IOCTL-28",
               "IOCTL-29", "IOCTL-34", "IOCTL-37", "RIGHTS-16", "LIFE-23"),
      mutants=("adjust-privs-ignores-the-handle-mask", "adjust-privs-checks-no-guards"))
def ops_authorized_by_mask(pre, post, step):
    """Appendix A §2: "Each token fd carries a per-handle access mask that gates which ioctls are allowed" (IOCTL-01)."""
    needs = IOCTL_RIGHTS.get(step.rule)
    if needs is None:
        return True
    return implies(ok(step), and_(*(fd_has(pre, step, arg, right) for arg, right in needs)))


_NEVER_SELF = D.TOKEN_DUPLICATE | D.TOKEN_IMPERSONATE | D.WRITE_DAC


@prop("default-self-access-grants-no-duplicate-impersonate-or-write-dac",
      "AccessCheck of a subject against the default token SD of a token of its own user, created by that "
      "user, grants neither TOKEN_DUPLICATE nor TOKEN_IMPERSONATE nor WRITE_DAC, unless the subject "
      "matches SYSTEM (the SD's SYSTEM ACE) (no intent flags).",
      kind="access", sections=("§4.8", "§10.2", "§10.10"), clauses=("RIGHTS-12", "RIGHTS-13", "RIGHTS-14", "RIGHTS-15"),
      note="An access property: it quantifies over every subject token and desired mask and depends on no "
           "rule, so no rule mutant can break it (mutants=() on purpose).  q.sd is ignored: the SD is the "
           "default one built from q.token's own user.")
def default_self_access(s, q):
    """§4.8 Default token SD: the token's subject is not granted TOKEN_DUPLICATE, TOKEN_IMPERSONATE or
    WRITE_DAC (RIGHTS-15); the OWNER RIGHTS ACE removes the implicit WRITE_DAC (RIGHTS-14)."""
    user = s.token_user[q.token]
    sd = default_token_sd(s, user, user)
    dec = access_check(s, q.token, sd, q.desired, D.TOKEN_MAPPING)
    system = sid_matches_token(s, q.token, s.sid(D.SID_SYSTEM), True)
    return implies(not_(system), not_(has_any(dec.granted, _NEVER_SELF)))


@prop("token-fds-are-created-close-on-exec",
      "Every token fd a step opens in a process that was alive before it has FD_CLOEXEC set.",
      kind="transition", sections=("Appendix A §2", "§4.8"), clauses=("IOCTL-02",),
      mutants=("open-self-token-forgets-cloexec",),
      note="fork copies the parent's fd table (flags included) into a new process, which the statement "
           "excludes; set_cloexec only changes fds that are already open.")
def fds_created_cloexec(pre, post, step):
    """Appendix A §2: token fds are created O_CLOEXEC (IOCTL-02)."""
    return pre.forall2("Process", "Handle", lambda p, h: implies(
        and_(pre.proc_alive[p], new_fd_opened(pre, post, p, h)), post.fd_cloexec[p, h]))


@prop("peer-token-handles-cache-query-and-impersonate-only",
      "A successful kacs_open_peer_token yields an fd whose cached mask is exactly TOKEN_QUERY | "
      "TOKEN_IMPERSONATE, on a new Impersonation-type token.",
      kind="transition", sections=("§4.8", "§13.1"), clauses=("RIGHTS-03",),
      mutants=("open-peer-token-leaves-the-mask-stale",))
def peer_handles_fixed_mask(pre, post, step):
    """§4.8: kacs_open_peer_token takes no desired mask and always caches TOKEN_QUERY | TOKEN_IMPERSONATE (RIGHTS-03)."""
    if step.rule != "kacs_open_peer_token":
        return True
    p, h = pre.thread_proc[step.actor], step.args["fd"]
    tok = post.fd_token[p, h]
    return implies(ok(step), and_(eq(post.fd_mask[p, h], PEER_TOKEN_MASK), not_(post.token_primary[tok]),
                                  not_(pre.token_alive[tok])))
