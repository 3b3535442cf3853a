"""Named starting worlds: the kernel boot state plus a few principals.

``standard()`` is what BMC, the examples and the tests start from: SYSTEM's
init, an unprivileged interactive user (alice, two threads), a second user
(bob) and a service (svc) holding SeImpersonatePrivilege, each in its own
logon session (§4.3, §4.7).
"""

from __future__ import annotations

from model import domain as D
from model.world import World, boot

ALICE = "S-1-5-21-1-1-1-1001"
BOB = "S-1-5-21-1-1-1-1002"
SVC = "S-1-5-21-1-1-1-2000"

USER_GROUPS = ["Users", "Everyone", "AuthenticatedUsers", "Interactive"]


def user_token_spec(user: str, session: str, **extra) -> dict:
    spec = {
        "user": user, "session": session, "integrity": "Medium",
        "groups": USER_GROUPS,
        "privileges": {"SeChangeNotifyPrivilege": ["enabled", "default"]},
        "policy": ["NO_WRITE_UP", "NEW_PROCESS_MIN"],
    }
    spec.update(extra)
    return spec


def standard(anon_includes_everyone: bool = False) -> World:
    w = boot(anon_includes_everyone)
    w.sid_aliases.update({"alice": ALICE, "bob": BOB, "svc": SVC})
    w.add_session("alice-session")
    w.add_session("bob-session")
    w.add_session("svc-session")
    alice = w.add_token("alice", user_token_spec("alice", "alice-session"))
    bob = w.add_token("bob", user_token_spec("bob", "bob-session"))
    svc = w.add_token("svc", user_token_spec(
        "svc", "svc-session", integrity="High", groups=["Everyone", "AuthenticatedUsers", "Service"],
        privileges={"SeChangeNotifyPrivilege": ["enabled", "default"],
                    "SeImpersonatePrivilege": ["enabled", "default"]}))
    w.add_process("shell", alice, ["sh1", "sh2"])
    w.add_process("bobsh", bob, ["bob1"])
    w.add_process("server", svc, ["srv1", "srv2"])
    return w


SCENARIOS = {"boot": boot, "standard": standard}
__all__ = ["standard", "boot", "SCENARIOS", "D"]
