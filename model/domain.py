"""Constants from the KACS specification (PSD-004 v0.22).

Rights (§4.8, §5.3, Appendix A §10), privileges and their bit positions
(§7.2), impersonation levels (§9.1), integrity levels (§2.2, §10.3), group
attributes (Appendix A), errnos, well-known SIDs (§2.2) and the model's
structural bounds.  Values are ``BV`` constants so that they work in both the
concrete and the symbolic value layer.
"""

from __future__ import annotations

from model.values import BV

# ---------------------------------------------------------------- bounds
GROUP_SLOTS = 8  # model bound on groups per token (spec: 64, §4.2); DECISIONS.md
RSID_SLOTS = 4  # model bound on restricting SIDs per token
CAP_SLOTS = 2  # model bound on confinement capabilities per token
ACE_SLOTS = 4  # model bound on DACL entries in token and process SDs
SPEC_MAX_GROUPS = 64  # §4.2: a token holds at most 64 groups

MASK_W = 32
PRIV_W = 64
LEVEL_W = 2
IL_W = 32
ERRNO_W = 8
ID_W = 64
GROUP_W = GROUP_SLOTS
RSID_W = RSID_SLOTS
CAP_W = CAP_SLOTS
POLICY_W = 2
ELEV_W = 2
INDEX_W = 8
SCOPE_W = 32
DACL_W = 16


def mask(v: int) -> BV:
    return BV(v, MASK_W)


# ---------------------------------------------------------------- errnos
OK = BV(0, ERRNO_W)
EPERM = BV(1, ERRNO_W)
ENOENT = BV(2, ERRNO_W)
ESRCH = BV(3, ERRNO_W)
EBADF = BV(9, ERRNO_W)
EACCES = BV(13, ERRNO_W)
EBUSY = BV(16, ERRNO_W)
EINVAL = BV(22, ERRNO_W)
ERRNO_NAMES = {0: "OK", 1: "EPERM", 2: "ENOENT", 3: "ESRCH", 9: "EBADF",
               13: "EACCES", 16: "EBUSY", 22: "EINVAL"}

# ---------------------------------------------------------------- standard / generic rights (Appendix A §9)
DELETE = mask(0x00010000)
READ_CONTROL = mask(0x00020000)
WRITE_DAC = mask(0x00040000)
WRITE_OWNER = mask(0x00080000)
SYNCHRONIZE = mask(0x00100000)
ACCESS_SYSTEM_SECURITY = mask(0x01000000)
MAXIMUM_ALLOWED = mask(0x02000000)
GENERIC_ALL = mask(0x10000000)
GENERIC_EXECUTE = mask(0x20000000)
GENERIC_WRITE = mask(0x40000000)
GENERIC_READ = mask(0x80000000)
STANDARD_RIGHTS_REQUIRED = mask(0x000F0000)

# ---------------------------------------------------------------- token rights (§4.8)
TOKEN_ASSIGN_PRIMARY = mask(0x0001)
TOKEN_DUPLICATE = mask(0x0002)
TOKEN_IMPERSONATE = mask(0x0004)
TOKEN_QUERY = mask(0x0008)
TOKEN_QUERY_SOURCE = mask(0x0010)
TOKEN_ADJUST_PRIVILEGES = mask(0x0020)
TOKEN_ADJUST_GROUPS = mask(0x0040)
TOKEN_ADJUST_DEFAULT = mask(0x0080)
TOKEN_ADJUST_INTERACTIVITY_SCOPE = mask(0x0100)
TOKEN_ALL_ACCESS = mask(0x000F01FF)
TOKEN_SELF_RIGHTS = TOKEN_QUERY | TOKEN_ADJUST_PRIVILEGES | TOKEN_ADJUST_GROUPS | TOKEN_ADJUST_DEFAULT

# ---------------------------------------------------------------- process rights (§5.3)
PROCESS_TERMINATE = mask(0x0001)
PROCESS_SIGNAL = mask(0x0002)
PROCESS_VM_READ = mask(0x0010)
PROCESS_VM_WRITE = mask(0x0020)
PROCESS_DUP_HANDLE = mask(0x0040)
PROCESS_SET_INFORMATION = mask(0x0200)
PROCESS_QUERY_INFORMATION = mask(0x0400)
PROCESS_SUSPEND_RESUME = mask(0x0800)
PROCESS_QUERY_LIMITED = mask(0x1000)

RIGHT_NAMES: dict[str, BV] = {
    "DELETE": DELETE, "READ_CONTROL": READ_CONTROL, "WRITE_DAC": WRITE_DAC,
    "WRITE_OWNER": WRITE_OWNER, "SYNCHRONIZE": SYNCHRONIZE,
    "ACCESS_SYSTEM_SECURITY": ACCESS_SYSTEM_SECURITY, "MAXIMUM_ALLOWED": MAXIMUM_ALLOWED,
    "GENERIC_ALL": GENERIC_ALL, "GENERIC_EXECUTE": GENERIC_EXECUTE,
    "GENERIC_WRITE": GENERIC_WRITE, "GENERIC_READ": GENERIC_READ,
    "TOKEN_ASSIGN_PRIMARY": TOKEN_ASSIGN_PRIMARY, "TOKEN_DUPLICATE": TOKEN_DUPLICATE,
    "TOKEN_IMPERSONATE": TOKEN_IMPERSONATE, "TOKEN_QUERY": TOKEN_QUERY,
    "TOKEN_QUERY_SOURCE": TOKEN_QUERY_SOURCE,
    "TOKEN_ADJUST_PRIVILEGES": TOKEN_ADJUST_PRIVILEGES, "TOKEN_ADJUST_GROUPS": TOKEN_ADJUST_GROUPS,
    "TOKEN_ADJUST_DEFAULT": TOKEN_ADJUST_DEFAULT,
    "TOKEN_ADJUST_INTERACTIVITY_SCOPE": TOKEN_ADJUST_INTERACTIVITY_SCOPE,
    "TOKEN_ALL_ACCESS": TOKEN_ALL_ACCESS,
    "PROCESS_TERMINATE": PROCESS_TERMINATE, "PROCESS_SIGNAL": PROCESS_SIGNAL,
    "PROCESS_VM_READ": PROCESS_VM_READ, "PROCESS_VM_WRITE": PROCESS_VM_WRITE,
    "PROCESS_DUP_HANDLE": PROCESS_DUP_HANDLE, "PROCESS_SET_INFORMATION": PROCESS_SET_INFORMATION,
    "PROCESS_QUERY_INFORMATION": PROCESS_QUERY_INFORMATION,
    "PROCESS_SUSPEND_RESUME": PROCESS_SUSPEND_RESUME, "PROCESS_QUERY_LIMITED": PROCESS_QUERY_LIMITED,
}
TOKEN_RIGHT_NAMES = [n for n in RIGHT_NAMES if n.startswith("TOKEN_") and n != "TOKEN_ALL_ACCESS"] + [
    "DELETE", "READ_CONTROL", "WRITE_DAC", "WRITE_OWNER"]


class GenericMapping:
    """A GenericMapping (§3.3): what each generic bit maps to for one object type."""

    def __init__(self, read: int, write: int, execute: int, all_: int):
        self.read, self.write, self.execute, self.all = mask(read), mask(write), mask(execute), mask(all_)


TOKEN_MAPPING = GenericMapping(  # §4.8
    TOKEN_QUERY | READ_CONTROL,
    TOKEN_ADJUST_PRIVILEGES | TOKEN_ADJUST_GROUPS | TOKEN_ADJUST_DEFAULT | WRITE_DAC,
    TOKEN_IMPERSONATE,
    TOKEN_ALL_ACCESS,
)
PROCESS_MAPPING = GenericMapping(  # §5.3
    PROCESS_QUERY_INFORMATION | PROCESS_VM_READ | READ_CONTROL,
    PROCESS_SET_INFORMATION | PROCESS_VM_WRITE | WRITE_DAC,
    PROCESS_TERMINATE | PROCESS_SUSPEND_RESUME | PROCESS_QUERY_LIMITED,
    PROCESS_TERMINATE | PROCESS_SIGNAL | PROCESS_SUSPEND_RESUME | PROCESS_VM_READ | PROCESS_VM_WRITE
    | PROCESS_DUP_HANDLE | PROCESS_SET_INFORMATION | PROCESS_QUERY_INFORMATION | PROCESS_QUERY_LIMITED
    | READ_CONTROL | WRITE_DAC | WRITE_OWNER,
)

# ---------------------------------------------------------------- privileges (§7.2: Windows LUID bit positions)
PRIVILEGE_BITS: dict[str, int] = {
    "SeCreateTokenPrivilege": 2,
    "SeAssignPrimaryTokenPrivilege": 3,
    "SeLockMemoryPrivilege": 4,
    "SeIncreaseQuotaPrivilege": 5,
    "SeMachineAccountPrivilege": 6,
    "SeTcbPrivilege": 7,
    "SeSecurityPrivilege": 8,
    "SeTakeOwnershipPrivilege": 9,
    "SeLoadDriverPrivilege": 10,
    "SeSystemProfilePrivilege": 11,
    "SeSystemtimePrivilege": 12,
    "SeProfileSingleProcessPrivilege": 13,
    "SeIncreaseBasePriorityPrivilege": 14,
    "SeBackupPrivilege": 17,
    "SeRestorePrivilege": 18,
    "SeShutdownPrivilege": 19,
    "SeDebugPrivilege": 20,
    "SeAuditPrivilege": 21,
    "SeChangeNotifyPrivilege": 23,
    "SeRemoteShutdownPrivilege": 24,
    "SeSyncAgentPrivilege": 26,
    "SeEnableDelegationPrivilege": 27,
    "SeImpersonatePrivilege": 29,
    "SeRelabelPrivilege": 32,
    "SeCreateSymbolicLinkPrivilege": 35,
    "SeCreateJobPrivilege": 62,
    "SeBindPrivilegedPortPrivilege": 63,
}


def priv(name: str) -> BV:
    """The one-bit privilege mask for ``name`` (e.g. ``priv("SeTcbPrivilege")``)."""
    return BV(1 << PRIVILEGE_BITS[name], PRIV_W)


def priv_names(bits: int) -> list[str]:
    return [n for n, b in sorted(PRIVILEGE_BITS.items(), key=lambda kv: kv[1]) if int(bits) >> b & 1]


ALL_PRIVILEGES = BV(sum(1 << b for b in PRIVILEGE_BITS.values()), PRIV_W)
SE_CREATE_TOKEN = priv("SeCreateTokenPrivilege")
SE_ASSIGN_PRIMARY = priv("SeAssignPrimaryTokenPrivilege")
SE_TCB = priv("SeTcbPrivilege")
SE_IMPERSONATE = priv("SeImpersonatePrivilege")
SE_SECURITY = priv("SeSecurityPrivilege")
SE_TAKE_OWNERSHIP = priv("SeTakeOwnershipPrivilege")
SE_BACKUP = priv("SeBackupPrivilege")
SE_RESTORE = priv("SeRestorePrivilege")
SE_RELABEL = priv("SeRelabelPrivilege")
SE_CHANGE_NOTIFY = priv("SeChangeNotifyPrivilege")

# ---------------------------------------------------------------- impersonation levels (§9.1)
ANONYMOUS = BV(0, LEVEL_W)
IDENTIFICATION = BV(1, LEVEL_W)
IMPERSONATION = BV(2, LEVEL_W)
DELEGATION = BV(3, LEVEL_W)
LEVEL_NAMES = {0: "Anonymous", 1: "Identification", 2: "Impersonation", 3: "Delegation"}

# ---------------------------------------------------------------- integrity (§2.2)
IL_UNTRUSTED = BV(0, IL_W)
IL_LOW = BV(4096, IL_W)
IL_MEDIUM = BV(8192, IL_W)
IL_HIGH = BV(12288, IL_W)
IL_SYSTEM = BV(16384, IL_W)
INTEGRITY_NAMES = {0: "Untrusted", 4096: "Low", 8192: "Medium", 12288: "High", 16384: "System"}

POLICY_NO_WRITE_UP = BV(0x1, POLICY_W)  # §4.2 mandatory_policy
POLICY_NEW_PROCESS_MIN = BV(0x2, POLICY_W)
LABEL_NO_WRITE_UP = BV(0x2, 3)  # §10.3 label ACE policy bits
LABEL_NO_READ_UP = BV(0x1, 3)
LABEL_NO_EXECUTE_UP = BV(0x4, 3)

# ---------------------------------------------------------------- elevation (§4.2; TokenElevationType values)
ELEV_DEFAULT = BV(1, ELEV_W)
ELEV_FULL = BV(2, ELEV_W)
ELEV_LIMITED = BV(3, ELEV_W)
ELEVATION_NAMES = {1: "Default", 2: "Full", 3: "Limited"}

# ---------------------------------------------------------------- group attributes (Appendix A §11)
SE_GROUP_MANDATORY = 0x00000001
SE_GROUP_ENABLED_BY_DEFAULT = 0x00000002
SE_GROUP_ENABLED = 0x00000004
SE_GROUP_OWNER = 0x00000008
SE_GROUP_USE_FOR_DENY_ONLY = 0x00000010
SE_GROUP_LOGON_ID = 0xC0000000
GROUP_ATTR_NAMES = {
    "MANDATORY": SE_GROUP_MANDATORY, "ENABLED_BY_DEFAULT": SE_GROUP_ENABLED_BY_DEFAULT,
    "ENABLED": SE_GROUP_ENABLED, "OWNER": SE_GROUP_OWNER,
    "USE_FOR_DENY_ONLY": SE_GROUP_USE_FOR_DENY_ONLY, "LOGON_ID": SE_GROUP_LOGON_ID,
}

# ---------------------------------------------------------------- well-known SIDs (§2.2)
SID_NULL = "S-1-0-0"
SID_EVERYONE = "S-1-1-0"
SID_OWNER_RIGHTS = "S-1-3-4"
SID_INTERACTIVE = "S-1-5-4"
SID_SERVICE = "S-1-5-6"
SID_ANONYMOUS = "S-1-5-7"
SID_PRINCIPAL_SELF = "S-1-5-10"
SID_AUTHENTICATED_USERS = "S-1-5-11"
SID_RESTRICTED_CODE = "S-1-5-12"
SID_SYSTEM = "S-1-5-18"
SID_LOCAL_SERVICE = "S-1-5-19"
SID_NETWORK_SERVICE = "S-1-5-20"
SID_ADMINISTRATORS = "S-1-5-32-544"
SID_USERS = "S-1-5-32-545"
SID_ALL_APP_PACKAGES = "S-1-15-2-1"
SID_ALIASES = {
    "Nobody": SID_NULL, "Everyone": SID_EVERYONE, "OwnerRights": SID_OWNER_RIGHTS,
    "Interactive": SID_INTERACTIVE, "Service": SID_SERVICE, "Anonymous": SID_ANONYMOUS,
    "PrincipalSelf": SID_PRINCIPAL_SELF, "AuthenticatedUsers": SID_AUTHENTICATED_USERS,
    "RestrictedCode": SID_RESTRICTED_CODE, "SYSTEM": SID_SYSTEM, "LocalService": SID_LOCAL_SERVICE,
    "NetworkService": SID_NETWORK_SERVICE, "Administrators": SID_ADMINISTRATORS,
    "Users": SID_USERS, "AllApplicationPackages": SID_ALL_APP_PACKAGES,
}
# SIDs that rules mention by name; the symbolic SID sort has a distinct constant for each.
WELL_KNOWN_SIDS = (SID_NULL, SID_EVERYONE, SID_OWNER_RIGHTS, SID_ANONYMOUS,
                   SID_AUTHENTICATED_USERS, SID_SYSTEM, SID_ADMINISTRATORS, SID_PRINCIPAL_SELF)
MALFORMED_SID = "S-malformed"  # what a structurally invalid SID parses to (§4.4 validation 2)

# ---------------------------------------------------------------- logon sessions (§4.3)
SYSTEM_LUID = 999
ANONYMOUS_LOGON_LUID = 998
FIRST_DYNAMIC_LUID = 1000
