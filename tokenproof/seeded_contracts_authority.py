"""Seeded mutants for the rule contracts in ``properties/contracts_authority.py`` (registered with ``seed``).

Each breaks one spec contract of an authority rule (impersonation, primary replacement, LogonSessions,
linked tokens); indices count the rule's own ``require`` / effect calls (``tokenproof.mutants.count_sites``);
swaps replace one helper by a real one (never a copy of a rule).
"""

from __future__ import annotations

from typing import Any

from model.rules.common import effective_token
from tokenproof.mutants import Mutant, seed  # noqa: F401


def _always(*_: Any) -> bool:
    """A privilege test that always passes (the privilege check is skipped)."""
    return True


# ------------------------------------------------------------------ impersonation
seed(Mutant("impersonate-peer-serves-foreign-sockets", "kacs_impersonate_peer",
            "kacs_impersonate_peer without its EBADF guard: any caller impersonates any socket's peer",
            drop_guard=0))
seed(Mutant("impersonate-peer-without-a-snapshot", "kacs_impersonate_peer",
            "kacs_impersonate_peer without its EACCES guard: a socket without a KACS peer snapshot is accepted",
            drop_guard=1))
seed(Mutant("impersonate-peer-skips-the-hard-deny", "kacs_impersonate_peer",
            "kacs_impersonate_peer without the restricted-server hard deny (EPERM)", drop_guard=2))
seed(Mutant("impersonate-peer-reuses-the-token-id", "kacs_impersonate_peer",
            "kacs_impersonate_peer does not advance the token id counter for its copy", skip_effect=1))
seed(Mutant("impersonate-peer-forgets-to-impersonate", "kacs_impersonate_peer",
            "kacs_impersonate_peer never sets the thread impersonating", skip_effect=3))
seed(Mutant("impersonate-peer-forgets-se-impersonate-used", "kacs_impersonate_peer",
            "kacs_impersonate_peer does not mark SeImpersonatePrivilege used", skip_effect=6))
seed(Mutant("ioctl-impersonate-accepts-primary-tokens", "ioctl_impersonate",
            "KACS_IOC_IMPERSONATE without its EINVAL guard: primary tokens are impersonated", drop_guard=2))
seed(Mutant("ioctl-impersonate-keeps-the-old-token", "ioctl_impersonate",
            "KACS_IOC_IMPERSONATE does not store the new impersonation token on the thread", skip_effect=4))
seed(Mutant("ioctl-impersonate-gates-on-the-effective-token", "ioctl_impersonate",
            "KACS_IOC_IMPERSONATE judges the gates on the effective instead of the primary token",
            swap=("real_token", effective_token)))
seed(Mutant("ioctl-impersonate-forgets-se-impersonate-used", "ioctl_impersonate",
            "KACS_IOC_IMPERSONATE does not mark SeImpersonatePrivilege used", skip_effect=6))
seed(Mutant("set-impersonation-level-after-connect", "kacs_set_impersonation_level",
            "kacs_set_impersonation_level accepts connected sockets", drop_guard=1))
seed(Mutant("set-impersonation-level-is-ignored", "kacs_set_impersonation_level",
            "kacs_set_impersonation_level succeeds without storing the level", skip_effect=0))
seed(Mutant("revert-keeps-impersonating", "kacs_revert", "kacs_revert leaves the thread impersonating",
            skip_effect=0))

# ------------------------------------------------------------------ primary replacement
seed(Mutant("install-ignores-the-user-check", "ioctl_install",
            "KACS_IOC_INSTALL without the same-user-unless-SeTcbPrivilege guard", drop_guard=4))
seed(Mutant("install-ignores-the-session-check", "ioctl_install",
            "KACS_IOC_INSTALL without the same-LogonSession-unless-SeTcbPrivilege guard", drop_guard=5))
seed(Mutant("install-judges-on-the-effective-token", "ioctl_install",
            "KACS_IOC_INSTALL judges privileges and identity on the effective instead of the real token",
            swap=("real_token", effective_token)))
seed(Mutant("install-forgets-tcb-used", "ioctl_install",
            "KACS_IOC_INSTALL does not mark SeTcbPrivilege used when it waived a user/session change",
            skip_effect=1))
seed(Mutant("install-keeps-the-old-real-token", "ioctl_install",
            "KACS_IOC_INSTALL does not switch the caller's real_cred", skip_effect=3))
seed(Mutant("install-keeps-the-process-sd", "ioctl_install",
            "KACS_IOC_INSTALL does not regenerate the process SD on a user change", skip_effect=5))
seed(Mutant("install-work-stays-pending", "install_converge",
            "install_converge does not clear the thread's queued install work", skip_effect=1))
seed(Mutant("external-replace-ignores-the-session-check", "external_replace_primary",
            "external replacement without the same-LogonSession-unless-SeTcbPrivilege guard", drop_guard=7))
seed(Mutant("external-replace-judges-on-the-effective-token", "external_replace_primary",
            "external replacement judges the privileges and identity on the effective instead of the real token",
            swap=("real_token", effective_token)))
seed(Mutant("external-replace-reaches-dead-processes", "external_replace_primary",
            "external replacement without its ESRCH guard: a process that no longer exists is 'replaced'",
            drop_guard=3))
seed(Mutant("external-replace-ignores-the-user-check", "external_replace_primary",
            "external replacement without the same-user-unless-SeTcbPrivilege guard", drop_guard=6))
seed(Mutant("external-replace-forgets-assign-primary-used", "external_replace_primary",
            "external replacement does not mark SeAssignPrimaryTokenPrivilege used", skip_effect=0))
seed(Mutant("external-replace-queues-no-work", "external_replace_primary",
            "external replacement queues no install work on the target's threads", skip_effect=3))

# ------------------------------------------------------------------ LogonSessions
seed(Mutant("create-logon-session-without-tcb", "kacs_create_logon_session",
            "kacs_create_logon_session without its SeTcbPrivilege guard", drop_guard=0))
seed(Mutant("create-logon-session-reuses-the-luid", "kacs_create_logon_session",
            "kacs_create_logon_session does not advance the LUID counter", skip_effect=2))
seed(Mutant("invalidate-unknown-session", "kacs_invalidate_logon_session",
            "kacs_invalidate_logon_session without its ENOENT guard", drop_guard=1))
seed(Mutant("invalidate-does-not-mark-dead", "kacs_invalidate_logon_session",
            "kacs_invalidate_logon_session succeeds without setting the dead flag", skip_effect=1))
seed(Mutant("invalidate-forgets-tcb-used", "kacs_invalidate_logon_session",
            "kacs_invalidate_logon_session does not mark SeTcbPrivilege used", skip_effect=0))
seed(Mutant("destroy-session-with-live-tokens", "kacs_destroy_empty_logon_session",
            "kacs_destroy_empty_logon_session without its EBUSY guard", drop_guard=2))
seed(Mutant("destroy-unknown-session", "kacs_destroy_empty_logon_session",
            "kacs_destroy_empty_logon_session without its ENOENT guard", drop_guard=1))
seed(Mutant("destroy-session-keeps-it", "kacs_destroy_empty_logon_session",
            "kacs_destroy_empty_logon_session succeeds without destroying the session", skip_effect=1))

# ------------------------------------------------------------------ linked tokens
seed(Mutant("link-tokens-without-tcb", "ioctl_link_tokens",
            "KACS_IOC_LINK_TOKENS without its SeTcbPrivilege guard", drop_guard=0))
seed(Mutant("link-tokens-links-a-token-to-itself", "ioctl_link_tokens",
            "KACS_IOC_LINK_TOKENS without its same-token EINVAL guard", drop_guard=3))
seed(Mutant("link-tokens-forgets-the-pair", "ioctl_link_tokens",
            "KACS_IOC_LINK_TOKENS sets the roles but does not register the pair on the session", skip_effect=1))
seed(Mutant("get-linked-token-ignores-the-pair", "ioctl_get_linked_token",
            "KACS_IOC_GET_LINKED_TOKEN without its ENOENT guard", drop_guard=2))
seed(Mutant("linked-clone-reuses-the-token-id", "ioctl_get_linked_token",
            "KACS_IOC_GET_LINKED_TOKEN does not advance the token id counter for its clone", skip_effect=1))
seed(Mutant("get-linked-token-never-creates-the-clone", "ioctl_get_linked_token",
            "KACS_IOC_GET_LINKED_TOKEN returns an fd to a clone it never brought to life", skip_effect=0))
seed(Mutant("get-linked-token-forgets-tcb-used", "ioctl_get_linked_token",
            "KACS_IOC_GET_LINKED_TOKEN does not mark SeTcbPrivilege used", skip_effect=3))
seed(Mutant("get-linked-token-gives-everyone-the-partner", "ioctl_get_linked_token",
            "KACS_IOC_GET_LINKED_TOKEN skips its SeTcbPrivilege test: every caller gets the partner itself",
            swap=("holds", _always)))
seed(Mutant("get-linked-token-clone-owned-by-the-effective-user", "ioctl_get_linked_token",
            "KACS_IOC_GET_LINKED_TOKEN makes the clone's default SD owned by the effective instead of the "
            "primary user", swap=("real_token", effective_token)))

seed(Mutant("link-tokens-accepts-fds-without-token-duplicate", "ioctl_link_tokens",
            "KACS_IOC_LINK_TOKENS without its TOKEN_DUPLICATE handle-right guard (EACCES)", drop_guard=2))
seed(Mutant("get-linked-token-accepts-an-fd-without-token-query", "ioctl_get_linked_token",
            "KACS_IOC_GET_LINKED_TOKEN without its TOKEN_QUERY handle-right guard (EACCES)", drop_guard=1))
