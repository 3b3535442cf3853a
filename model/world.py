"""Building concrete states: the boot state (§4.3 Bootstrap) and readable
scenarios on top of it (sessions, tokens, processes, fds, sockets by name).

Token specs are plain dicts with readable names (see ``token_from_spec``);
the trace loader and the tests use the same builder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model import domain as D
from model.access import sd_values
from model.concrete import ConcreteState, next_free
from model.rules.common import default_process_sd, default_token_sd
from model.state import FIELDS


class SpecError(ValueError):
    """A readable spec (token, SD, scenario) is wrong; the message says where and what."""


def logon_sid(luid: int) -> str:
    """S-1-5-5-{luid >> 32}-{luid & 0xFFFFFFFF} (§4.4)."""
    return f"S-1-5-5-{luid >> 32}-{luid & 0xFFFFFFFF}"


def parse_level(v: Any, where: str) -> int:
    if isinstance(v, int) and 0 <= v <= 3:
        return v
    for k, name in D.LEVEL_NAMES.items():
        if isinstance(v, str) and v.lower() == name.lower():
            return k
    raise SpecError(f"{where}: expected an impersonation level "
                    f"({', '.join(D.LEVEL_NAMES.values())}), got {v!r}")


def parse_integrity(v: Any, where: str) -> int:
    if isinstance(v, bool):
        raise SpecError(f"{where}: expected an integrity level, got {v!r}")
    if isinstance(v, int) and 0 <= v < 2**32:
        return v
    for k, name in D.INTEGRITY_NAMES.items():
        if isinstance(v, str) and v.lower() == name.lower():
            return k
    raise SpecError(f"{where}: expected an integrity level ({', '.join(D.INTEGRITY_NAMES.values())} "
                    f"or a number 0..4294967295), got {v!r}")


def parse_rights(v: Any, where: str) -> int:
    """A mask from a right name, a list of names, ``A|B`` or a number."""
    if isinstance(v, bool):
        raise SpecError(f"{where}: expected access rights, got {v!r}")
    if isinstance(v, int):
        if 0 <= v < 2**32:
            return v
        raise SpecError(f"{where}: access mask {v} is out of range (0..0xFFFFFFFF)")
    names = v.split("|") if isinstance(v, str) else v
    if not isinstance(names, list):
        raise SpecError(f"{where}: expected a right name, a list of names or a number, got {v!r}")
    out = 0
    for n in names:
        if not isinstance(n, str) or n.strip() not in D.RIGHT_NAMES:
            raise SpecError(f"{where}: unknown access right {n!r} (known: {', '.join(sorted(D.RIGHT_NAMES))})")
        out |= int(D.RIGHT_NAMES[n.strip()])
    return out


def parse_privileges(v: Any, where: str) -> int:
    names = v if isinstance(v, list) else [v]
    out = 0
    for n in names:
        if not isinstance(n, str) or n not in D.PRIVILEGE_BITS:
            raise SpecError(f"{where}: unknown privilege {n!r} (for example SeTcbPrivilege, SeImpersonatePrivilege)")
        out |= 1 << D.PRIVILEGE_BITS[n]
    return out


@dataclass
class World:
    """A concrete state plus the names of its objects and SIDs."""

    state: ConcreteState
    names: dict[str, dict[str, int]] = field(default_factory=lambda: {s: {} for s in
                                              ("Thread", "Process", "Token", "Session", "Socket")})
    sid_aliases: dict[str, str] = field(default_factory=lambda: dict(D.SID_ALIASES))

    # ------------------------------------------------------------ names
    def name_of(self, sort: str, oid: int) -> str:
        for n, i in self.names.get(sort, {}).items():
            if i == oid:
                return n
        return f"{sort.lower()}#{oid}"

    def lookup(self, sort: str, name: Any, where: str) -> int:
        table = self.names[sort]
        if isinstance(name, str) and name in table:
            return table[name]
        if isinstance(name, str) and name.startswith(f"{sort.lower()}#"):
            try:
                return int(name.split("#", 1)[1])
            except ValueError:
                pass
        known = ", ".join(sorted(table)) or "none"
        raise SpecError(f"{where}: no {sort.lower()} named {name!r} (known: {known})")

    def fresh_id(self, sort: str) -> int:
        return next_free(self.state.universe[sort], start=1)

    def resolve_sid(self, v: Any, where: str) -> str:
        if not isinstance(v, str):
            raise SpecError(f"{where}: expected a SID string like S-1-5-18 or a name, got {v!r}")
        if v in self.sid_aliases:
            return self.sid_aliases[v]
        if valid_sid(v):
            return v
        raise SpecError(f"{where}: {v!r} is neither a SID (S-1-...) nor a known name "
                        f"(known: {', '.join(sorted(self.sid_aliases))})")

    def sid_label(self, sid: str) -> str:
        for n, v in self.sid_aliases.items():
            if v == sid and n not in D.SID_ALIASES:
                return n
        for n, v in D.SID_ALIASES.items():
            if v == sid:
                return n
        return sid

    # ------------------------------------------------------------ objects
    def add_session(self, name: str, luid: int | None = None) -> int:
        s = self.state
        sid = self.fresh_id("Session")
        if luid is None:
            luid = s.value("next_luid")
            s.set("next_luid", None, luid + 1)
        s.set("sess_alive", sid, True)
        s.set("sess_luid", sid, luid)
        s.set("sess_logon_sid", sid, logon_sid(luid))
        s.set("sess_elevated", sid, 0)
        s.set("sess_filtered", sid, 0)
        self.names["Session"][name] = sid
        return sid

    def add_token(self, name: str, spec: dict[str, Any], where: str = "token") -> int:
        tid = self.fresh_id("Token")
        for fname, value in token_from_spec(self, spec, where).items():
            self.state.set(fname, tid, value)
        self.state.set("token_id", tid, self.state.value("next_token_id"))
        self.state.set("next_token_id", None, self.state.value("next_token_id") + 1)
        self.state.set("sess_had_token", self.state.value("token_session", tid), True)
        self.names["Token"][name] = tid
        return tid

    def add_process(self, name: str, token: int, threads: list[str], sd_creator: int | None = None) -> int:
        s = self.state
        pid = self.fresh_id("Process")
        s.set("proc_alive", pid, True)
        s.set("proc_primary", pid, token)
        creator = s.value("token_user", token if sd_creator is None else sd_creator)
        sd = default_process_sd(s, creator, s.value("token_user", token), s.value("token_integrity", token))
        for fname, value in sd_values("proc_sd", sd).items():
            s.set(fname, pid, value)
        self.names["Process"][name] = pid
        for tname in threads:
            self.add_thread(tname, pid)
        return pid

    def add_thread(self, name: str, pid: int) -> int:
        s = self.state
        th = self.fresh_id("Thread")
        tok = s.value("proc_primary", pid)
        for fname, value in {"thread_alive": True, "thread_proc": pid, "thread_real": tok,
                             "thread_install_pending": False, "thread_impersonating": False,
                             "thread_imp_token": tok, "thread_imp_level": 0}.items():
            s.set(fname, th, value)
        self.names["Thread"][name] = th
        return th

    def add_fd(self, pid: int, token: int, mask: int, cloexec: bool = True, fd: int | None = None) -> int:
        s = self.state
        if fd is None:
            fd = next_free([h for h in s.universe["Handle"] if s.value("fd_open", (pid, h))], start=3)
        s.set("fd_open", (pid, fd), True)
        s.set("fd_token", (pid, fd), token)
        s.set("fd_mask", (pid, fd), mask)
        s.set("fd_cloexec", (pid, fd), cloexec)
        return fd

    def add_socket(self, name: str, server: int, capturing: bool = True) -> int:
        s = self.state
        k = self.fresh_id("Socket")
        for fname, value in {"sock_alive": True, "sock_capturing": capturing, "sock_level": int(D.IMPERSONATION),
                             "sock_connected": False, "sock_server": server, "sock_has_peer": False,
                             "sock_peer_token": 0, "sock_peer_level": 0}.items():
            s.set(fname, k, value)
        self.names["Socket"][name] = k
        return k


def valid_sid(text: str) -> bool:
    parts = text.split("-")
    if len(parts) < 3 or parts[0] != "S" or parts[1] != "1":
        return False
    try:
        nums = [int(p) for p in parts[2:]]
    except ValueError:
        return False
    return len(nums) <= 16 and all(0 <= n < 2**48 for n in nums[:1]) and all(0 <= n < 2**32 for n in nums[1:])


def _flags(v: Any, allowed: dict[str, int], where: str) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if not isinstance(v, list):
        raise SpecError(f"{where}: expected a list of flag names ({', '.join(allowed)}), got {v!r}")
    out = 0
    for n in v:
        if n not in allowed:
            raise SpecError(f"{where}: unknown flag {n!r} (known: {', '.join(allowed)})")
        out |= allowed[n]
    return out


TOKEN_SPEC_KEYS = {"user", "groups", "privileges", "integrity", "policy", "type", "level", "session",
                   "restricted_sids", "write_restricted", "user_deny_only", "elevation", "owner_index",
                   "group_index", "confinement", "creator", "scope", "default_dacl"}


def token_from_spec(w: World, spec: dict[str, Any], where: str) -> dict[str, Any]:
    """Token field values from a readable spec.

    Keys: user, groups [{sid, attrs}], privileges {name: [enabled, default, used]},
    integrity, policy [NO_WRITE_UP, NEW_PROCESS_MIN], type primary|impersonation,
    level, session, restricted_sids, write_restricted, user_deny_only, elevation,
    owner_index, group_index, confinement {sid, capabilities, exempt}, creator, scope.
    The session's logon SID is appended to the groups as CreateToken does (§4.4).
    """
    if not isinstance(spec, dict):
        raise SpecError(f"{where}: a token spec is an object, got {type(spec).__name__}")
    unknown = set(spec) - TOKEN_SPEC_KEYS
    if unknown:
        raise SpecError(f"{where}: unknown token spec keys {sorted(unknown)} (known: {sorted(TOKEN_SPEC_KEYS)})")
    s = w.state
    user = w.resolve_sid(spec.get("user", "SYSTEM"), f"{where}.user")
    sess = w.lookup("Session", spec.get("session", "system"), f"{where}.session")
    groups = spec.get("groups", [])
    if not isinstance(groups, list):
        raise SpecError(f"{where}.groups: expected a list")
    if len(groups) + 1 > D.GROUP_SLOTS:
        raise SpecError(f"{where}.groups: the model holds at most {D.GROUP_SLOTS - 1} groups "
                        f"plus the logon SID (DECISIONS.md), got {len(groups)}")
    out: dict[str, Any] = {"token_alive": True, "token_user": user,
                           "token_user_deny_only": bool(spec.get("user_deny_only", False))}
    masks = {k: 0 for k in ("token_groups", "token_g_enabled", "token_g_default", "token_g_mandatory",
                            "token_g_deny_only", "token_g_logon", "token_g_owner")}
    attr_field = {D.SE_GROUP_ENABLED: "token_g_enabled", D.SE_GROUP_ENABLED_BY_DEFAULT: "token_g_default",
                  D.SE_GROUP_MANDATORY: "token_g_mandatory", D.SE_GROUP_USE_FOR_DENY_ONLY: "token_g_deny_only",
                  D.SE_GROUP_LOGON_ID: "token_g_logon", D.SE_GROUP_OWNER: "token_g_owner"}
    lsid = s.value("sess_logon_sid", sess)
    entries = []
    for i, g in enumerate(groups):
        gw = f"{where}.groups[{i}]"
        if isinstance(g, str):
            g = {"sid": g, "attrs": ["MANDATORY", "ENABLED", "ENABLED_BY_DEFAULT"]}
        if not isinstance(g, dict) or "sid" not in g:
            raise SpecError(f"{gw}: expected {{\"sid\": ..., \"attrs\": [...]}} or a SID string")
        entries.append((w.resolve_sid(g["sid"], gw + ".sid"),
                        _flags(g.get("attrs", ["ENABLED", "ENABLED_BY_DEFAULT"]), D.GROUP_ATTR_NAMES, gw + ".attrs")))
    entries.append((lsid, D.SE_GROUP_MANDATORY | D.SE_GROUP_ENABLED | D.SE_GROUP_ENABLED_BY_DEFAULT
                    | D.SE_GROUP_LOGON_ID))
    for i in range(D.GROUP_SLOTS):
        sid, attrs = entries[i] if i < len(entries) else (D.SID_NULL, 0)
        out[f"token_group_sid{i}"] = sid
        if i < len(entries):
            masks["token_groups"] |= 1 << i
            for bit, fname in attr_field.items():
                if attrs & bit == bit:
                    masks[fname] |= 1 << i
    out.update(masks)
    out["token_logon_sid"] = lsid

    rs = spec.get("restricted_sids")
    rlist = [] if rs is None else rs
    if not isinstance(rlist, list) or len(rlist) > D.RSID_SLOTS:
        raise SpecError(f"{where}.restricted_sids: expected a list of at most {D.RSID_SLOTS} SIDs")
    out["token_restricted"] = rs is not None
    out["token_rsids"] = (1 << len(rlist)) - 1
    for i in range(D.RSID_SLOTS):
        out[f"token_rsid{i}"] = w.resolve_sid(rlist[i], f"{where}.restricted_sids[{i}]") if i < len(rlist) else D.SID_NULL
    out["token_write_restricted"] = bool(spec.get("write_restricted", False))

    ttype = spec.get("type", "primary")
    if ttype not in ("primary", "impersonation"):
        raise SpecError(f"{where}.type: expected 'primary' or 'impersonation', got {ttype!r}")
    out["token_primary"] = ttype == "primary"
    out["token_level"] = parse_level(spec.get("level", "Anonymous" if ttype == "primary" else "Impersonation"),
                                     f"{where}.level")
    out["token_integrity"] = parse_integrity(spec.get("integrity", "Medium"), f"{where}.integrity")
    out["token_policy"] = _flags(spec.get("policy", ["NO_WRITE_UP"]),
                                 {"NO_WRITE_UP": 1, "NEW_PROCESS_MIN": 2}, f"{where}.policy")

    privs = spec.get("privileges", {})
    if isinstance(privs, list):
        privs = {p: ["enabled", "default"] for p in privs}
    if not isinstance(privs, dict):
        raise SpecError(f"{where}.privileges: expected {{name: [enabled, default, used]}} or a list of names")
    pm = {"present": 0, "enabled": 0, "default": 0, "used": 0}
    for name, states in privs.items():
        bit = parse_privileges(name, f"{where}.privileges")
        pm["present"] |= bit
        if not isinstance(states, list):
            raise SpecError(f"{where}.privileges.{name}: expected a list of states (enabled, default, used)")
        for st_name in states:
            if st_name not in ("enabled", "default", "used"):
                raise SpecError(f"{where}.privileges.{name}: unknown state {st_name!r} (enabled, default, used)")
            pm[st_name] |= bit
    out.update({"token_privs_present": pm["present"], "token_privs_enabled": pm["enabled"],
                "token_privs_default": pm["default"], "token_privs_used": pm["used"]})

    elev = spec.get("elevation", "Default")
    rev = {v.lower(): k for k, v in D.ELEVATION_NAMES.items()}
    if not isinstance(elev, str) or elev.lower() not in rev:
        raise SpecError(f"{where}.elevation: expected Default, Full or Limited, got {elev!r}")
    out["token_elevation"] = rev[elev.lower()]
    out["token_owner_index"] = int(spec.get("owner_index", 0))
    out["token_group_index"] = int(spec.get("group_index", 0))
    out["token_default_dacl"] = int(spec.get("default_dacl", 0))
    out["token_session"] = sess
    out["token_modified_id"] = 0
    out["token_scope"] = int(spec.get("scope", 0))

    conf = spec.get("confinement")
    caps = (conf or {}).get("capabilities", [])
    if conf is not None and (not isinstance(conf, dict) or "sid" not in conf):
        raise SpecError(f"{where}.confinement: expected {{\"sid\": ..., \"capabilities\": [...], \"exempt\": bool}}")
    if len(caps) > D.CAP_SLOTS:
        raise SpecError(f"{where}.confinement.capabilities: at most {D.CAP_SLOTS} in the model")
    out["token_confined"] = conf is not None
    out["token_conf_sid"] = w.resolve_sid(conf["sid"], f"{where}.confinement.sid") if conf else D.SID_NULL
    out["token_caps"] = (1 << len(caps)) - 1
    for i in range(D.CAP_SLOTS):
        out[f"token_cap{i}"] = w.resolve_sid(caps[i], f"{where}.confinement.capabilities[{i}]") if i < len(caps) else D.SID_NULL
    out["token_conf_exempt"] = bool((conf or {}).get("exempt", False))
    out["token_isolation"] = False

    creator = w.resolve_sid(spec.get("creator", "SYSTEM"), f"{where}.creator")
    out.update(sd_values("token_sd", default_token_sd(s, creator, user)))
    missing = [f for f in FIELDS if f.startswith("token_") and f not in out and f != "token_id"]
    assert not missing, missing
    return out


SYSTEM_TOKEN_SPEC = {
    "user": "SYSTEM", "session": "system", "integrity": "System",
    "groups": [{"sid": "Administrators", "attrs": ["MANDATORY", "ENABLED", "ENABLED_BY_DEFAULT", "OWNER"]},
               "Everyone", "AuthenticatedUsers"],
    "privileges": {n: ["enabled", "default"] for n in D.PRIVILEGE_BITS},
    "policy": ["NO_WRITE_UP"],
}


def boot(anon_includes_everyone: bool = False) -> World:
    """The state at kernel init (§4.3 Bootstrap): the SYSTEM and ANONYMOUS logon
    sessions, the SYSTEM token running init (one process, one thread) and the
    global Anonymous token."""
    w = World(ConcreteState.empty())
    s = w.state
    s.set("next_luid", None, D.FIRST_DYNAMIC_LUID)
    s.set("next_token_id", None, 1)
    s.set("anon_includes_everyone", None, anon_includes_everyone)
    sys_sess = w.add_session("system", D.SYSTEM_LUID)
    anon_sess = w.add_session("anonymous", D.ANONYMOUS_LOGON_LUID)
    s.set("system_session", None, sys_sess)
    s.set("anon_session", None, anon_sess)
    system = w.add_token("system", SYSTEM_TOKEN_SPEC, "boot.system")
    anon_spec: dict[str, Any] = {"user": "Anonymous", "session": "anonymous", "integrity": "Untrusted",
                                 "type": "impersonation", "level": "Anonymous", "policy": ["NO_WRITE_UP"]}
    anon = w.add_token("anonymous", anon_spec, "boot.anonymous")
    _anonymous_groups(s, anon, anon_includes_everyone)
    s.set("anon_token", None, anon)
    w.add_process("init", system, ["init"])
    return w


def _anonymous_groups(s: ConcreteState, anon: int, everyone: bool) -> None:
    """The Anonymous token has no logon SID and no groups except Everyone under the policy (§9.3)."""
    bits = 1 if everyone else 0
    s.set("token_group_sid0", anon, D.SID_EVERYONE)
    for f in ("token_groups", "token_g_enabled", "token_g_default", "token_g_mandatory"):
        s.set(f, anon, bits)
    for f in ("token_g_deny_only", "token_g_logon", "token_g_owner"):
        s.set(f, anon, 0)
    s.set("token_logon_sid", anon, D.SID_NULL)
    for i in range(1, D.GROUP_SLOTS):
        s.set(f"token_group_sid{i}", anon, D.SID_NULL)
