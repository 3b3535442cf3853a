"""What the system is made of: sorts, fields and the two kinds of state.

A state is a set of *fields*.  A field maps keys (objects of a sort, or
nothing for a global scalar) to a value of one type.  The schema below is the
single declaration of every field; the concrete backend stores fields in
dicts, the symbolic backends as z3 functions (§4.2 token structure, §4.3
lifecycle, §4.7 sessions, §4.8 handles, §5.3 process SDs, §9.3 sockets).

Sorts: Thread, Process, Token, Handle (an fd number; fd fields are keyed by
(Process, Handle) because fd tables belong to processes), Session, Socket and
SID.  Objects are never reused: a dead object keeps ``*_alive = False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from model import domain as D

SORTS = ("Thread", "Process", "Token", "Handle", "Session", "Socket")


@dataclass(frozen=True)
class Type:
    """A value type: ``bool``, ``bv`` (with ``width``), ``obj`` (with ``sort``) or ``sid``."""

    kind: str
    width: int = 0
    sort: str = ""

    def __str__(self) -> str:
        if self.kind == "bv":
            return f"BV{self.width}"
        if self.kind == "obj":
            return self.sort
        return self.kind


BOOL = Type("bool")
SID = Type("sid")


def BVT(width: int) -> Type:
    return Type("bv", width=width)


def OBJ(sort: str) -> Type:
    assert sort in SORTS, sort
    return Type("obj", sort=sort)


THREAD, PROCESS, TOKEN, HANDLE, SESSION, SOCKET = (OBJ(s) for s in SORTS)
MASK = BVT(D.MASK_W)
PRIVS = BVT(D.PRIV_W)
LEVEL = BVT(D.LEVEL_W)
IL = BVT(D.IL_W)
GROUPS = BVT(D.GROUP_W)
ERRNO = BVT(D.ERRNO_W)


def default_of(t: Type) -> Any:
    """The concrete value a field has for an object that never set it."""
    if t.kind == "bool":
        return False
    if t.kind == "bv":
        return 0
    if t.kind == "sid":
        return D.SID_NULL
    return -1  # no object


@dataclass(frozen=True)
class FieldSpec:
    name: str
    keys: tuple[str, ...]
    type: Type
    doc: str = ""


def _sd_fields(prefix: str, owner_sort: str, doc: str) -> list[FieldSpec]:
    """A security descriptor with ``ACE_SLOTS`` DACL entries and a label (§3.1, §3.4)."""
    k = (owner_sort,)
    out = [
        FieldSpec(f"{prefix}_owner", k, SID, f"{doc}: owner SID"),
        FieldSpec(f"{prefix}_dacl_present", k, BOOL, f"{doc}: SE_DACL_PRESENT (false = NULL DACL)"),
        FieldSpec(f"{prefix}_has_label", k, BOOL, f"{doc}: has a mandatory label ACE"),
        FieldSpec(f"{prefix}_label_level", k, IL, f"{doc}: label integrity level"),
        FieldSpec(f"{prefix}_label_policy", k, BVT(3), f"{doc}: label NO_READ_UP/NO_WRITE_UP/NO_EXECUTE_UP"),
    ]
    for i in range(D.ACE_SLOTS):
        out += [
            FieldSpec(f"{prefix}_ace{i}_present", k, BOOL, f"{doc}: ACE {i} exists"),
            FieldSpec(f"{prefix}_ace{i}_allow", k, BOOL, f"{doc}: ACE {i} is ACCESS_ALLOWED (else DENIED)"),
            FieldSpec(f"{prefix}_ace{i}_inherit_only", k, BOOL, f"{doc}: ACE {i} has INHERIT_ONLY"),
            FieldSpec(f"{prefix}_ace{i}_sid", k, SID, f"{doc}: ACE {i} SID"),
            FieldSpec(f"{prefix}_ace{i}_mask", k, MASK, f"{doc}: ACE {i} access mask"),
        ]
    return out


def _slot_fields(prefix: str, n: int, t: Type, doc: str) -> list[FieldSpec]:
    return [FieldSpec(f"{prefix}{i}", ("Token",), t, f"{doc} {i}") for i in range(n)]


TK = ("Token",)
TH = ("Thread",)
PR = ("Process",)
SE = ("Session",)
SO = ("Socket",)
FD = ("Process", "Handle")

SCHEMA: list[FieldSpec] = [
    # global scalars
    FieldSpec("anon_token", (), TOKEN, "the global Anonymous token (§4.3 Bootstrap)"),
    FieldSpec("system_session", (), SESSION, "the SYSTEM logon session, LUID 999 (§4.3)"),
    FieldSpec("anon_session", (), SESSION, "the ANONYMOUS logon session, LUID 998 (§4.3)"),
    FieldSpec("anon_includes_everyone", (), BOOL, "Anonymous-in-Everyone policy (§9.3)"),
    FieldSpec("next_luid", (), BVT(D.ID_W), "next dynamic logon session LUID (§4.3)"),
    FieldSpec("next_token_id", (), BVT(D.ID_W), "next token id (§4.2 token_guid)"),
    # threads (§4.1, §4.3, §9.3)
    FieldSpec("thread_alive", TH, BOOL, "the thread exists"),
    FieldSpec("thread_proc", TH, PROCESS, "the thread's process"),
    FieldSpec("thread_real", TH, TOKEN, "real_cred: the primary token this thread uses"),
    FieldSpec("thread_install_pending", TH, BOOL, "queued install work not yet run (§4.3)"),
    FieldSpec("thread_impersonating", TH, BOOL, "cred differs from real_cred"),
    FieldSpec("thread_imp_token", TH, TOKEN, "the impersonation token (if impersonating)"),
    FieldSpec("thread_imp_level", TH, LEVEL, "impersonation level actually in force"),
    # processes (§4.3, §5.3)
    FieldSpec("proc_alive", PR, BOOL, "the process exists"),
    FieldSpec("proc_primary", PR, TOKEN, "the committed primary token"),
    *_sd_fields("proc_sd", "Process", "process SD"),
    # fds (§4.8, §13.2)
    FieldSpec("fd_open", FD, BOOL, "the fd is an open token handle"),
    FieldSpec("fd_token", FD, TOKEN, "the token the handle refers to"),
    FieldSpec("fd_mask", FD, MASK, "cached granted access mask"),
    FieldSpec("fd_cloexec", FD, BOOL, "FD_CLOEXEC"),
    # tokens (§4.2)
    FieldSpec("token_alive", TK, BOOL, "the token object exists"),
    FieldSpec("token_id", TK, BVT(D.ID_W), "token id / guid (§4.2)"),
    FieldSpec("token_user", TK, SID, "user_sid"),
    FieldSpec("token_user_deny_only", TK, BOOL, "user_deny_only"),
    *_slot_fields("token_group_sid", D.GROUP_SLOTS, SID, "group SID slot"),
    FieldSpec("token_groups", TK, GROUPS, "slots holding a group"),
    FieldSpec("token_g_enabled", TK, GROUPS, "SE_GROUP_ENABLED per slot"),
    FieldSpec("token_g_default", TK, GROUPS, "SE_GROUP_ENABLED_BY_DEFAULT per slot"),
    FieldSpec("token_g_mandatory", TK, GROUPS, "SE_GROUP_MANDATORY per slot"),
    FieldSpec("token_g_deny_only", TK, GROUPS, "SE_GROUP_USE_FOR_DENY_ONLY per slot"),
    FieldSpec("token_g_logon", TK, GROUPS, "SE_GROUP_LOGON_ID per slot"),
    FieldSpec("token_g_owner", TK, GROUPS, "SE_GROUP_OWNER per slot"),
    FieldSpec("token_logon_sid", TK, SID, "logon_sid"),
    FieldSpec("token_restricted", TK, BOOL, "restricted_sids is non-null"),
    *_slot_fields("token_rsid", D.RSID_SLOTS, SID, "restricting SID slot"),
    FieldSpec("token_rsids", TK, BVT(D.RSID_W), "slots holding a restricting SID"),
    FieldSpec("token_write_restricted", TK, BOOL, "write_restricted"),
    FieldSpec("token_primary", TK, BOOL, "token_type == Primary"),
    FieldSpec("token_level", TK, LEVEL, "impersonation_level"),
    FieldSpec("token_integrity", TK, IL, "integrity_level"),
    FieldSpec("token_policy", TK, BVT(D.POLICY_W), "mandatory_policy"),
    FieldSpec("token_privs_present", TK, PRIVS, "privileges present"),
    FieldSpec("token_privs_enabled", TK, PRIVS, "privileges enabled"),
    FieldSpec("token_privs_default", TK, PRIVS, "privileges enabled by default"),
    FieldSpec("token_privs_used", TK, PRIVS, "privileges used"),
    FieldSpec("token_elevation", TK, BVT(D.ELEV_W), "elevation_type"),
    FieldSpec("token_owner_index", TK, BVT(D.INDEX_W), "owner_sid_index"),
    FieldSpec("token_group_index", TK, BVT(D.INDEX_W), "primary_group_index"),
    FieldSpec("token_default_dacl", TK, BVT(D.DACL_W), "default_dacl (opaque id, 0 = none)"),
    FieldSpec("token_session", TK, SESSION, "auth_id: the logon session"),
    FieldSpec("token_modified_id", TK, BVT(D.ID_W), "modified_id"),
    FieldSpec("token_scope", TK, BVT(D.SCOPE_W), "interactivity_scope"),
    FieldSpec("token_confined", TK, BOOL, "confinement_sid is set"),
    FieldSpec("token_conf_sid", TK, SID, "confinement_sid"),
    *_slot_fields("token_cap", D.CAP_SLOTS, SID, "confinement capability slot"),
    FieldSpec("token_caps", TK, BVT(D.CAP_W), "slots holding a capability"),
    FieldSpec("token_conf_exempt", TK, BOOL, "confinement_exempt"),
    FieldSpec("token_isolation", TK, BOOL, "isolation_boundary"),
    *_sd_fields("token_sd", "Token", "token SD"),
    # logon sessions (§4.6, §4.7)
    FieldSpec("sess_alive", SE, BOOL, "the LogonSession object exists"),
    FieldSpec("sess_dead", SE, BOOL, "invalidated (one-way)"),
    FieldSpec("sess_luid", SE, BVT(D.ID_W), "LUID"),
    FieldSpec("sess_logon_sid", SE, SID, "logon SID S-1-5-5-X-Y"),
    FieldSpec("sess_had_token", SE, BOOL, "some token has referenced this session"),
    FieldSpec("sess_linked", SE, BOOL, "a linked pair is registered"),
    FieldSpec("sess_elevated", SE, TOKEN, "the pair's elevated token"),
    FieldSpec("sess_filtered", SE, TOKEN, "the pair's filtered token"),
    # unix sockets (§9.3)
    FieldSpec("sock_alive", SO, BOOL, "the socket exists"),
    FieldSpec("sock_capturing", SO, BOOL, "stream/seqpacket (captures a peer token at connect)"),
    FieldSpec("sock_level", SO, LEVEL, "client-chosen maximum impersonation level"),
    FieldSpec("sock_connected", SO, BOOL, "connect() done"),
    FieldSpec("sock_server", SO, PROCESS, "the accepting (server) process"),
    FieldSpec("sock_has_peer", SO, BOOL, "a KACS peer-token snapshot is installed"),
    FieldSpec("sock_peer_token", SO, TOKEN, "the captured peer token"),
    FieldSpec("sock_peer_level", SO, LEVEL, "the level the peer token was captured at"),
]

FIELDS: dict[str, FieldSpec] = {f.name: f for f in SCHEMA}
SCALARS = [f.name for f in SCHEMA if not f.keys]
ALIVE_FIELD = {"Thread": "thread_alive", "Process": "proc_alive", "Token": "token_alive",
               "Session": "sess_alive", "Socket": "sock_alive"}


class FieldView:
    """Read access to one field of one state: ``view[key]`` or ``view[k1, k2]``."""

    __slots__ = ("spec", "_get")

    def __init__(self, spec: FieldSpec, getter: Callable[..., Any]):
        self.spec = spec
        self._get = getter

    @property
    def name(self) -> str:
        return self.spec.name

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            return self._get(*key)
        return self._get(key)

    def __call__(self, *key: Any) -> Any:
        return self._get(*key)


class State:
    """Backend-neutral read interface shared by the concrete and symbolic states.

    ``s.token_user[t]`` reads a field, ``s.anon_token`` a scalar,
    ``s.group_sid(t, i)`` a slot field; ``s.sid("S-1-5-18")`` is a well-known SID
    in this state's backend; ``s.forall(sort, fn)`` / ``s.exists`` quantify over
    the objects of a sort.
    """

    backend: str = "abstract"

    # -- implemented by backends
    def view(self, name: str) -> FieldView:  # pragma: no cover - interface
        raise NotImplementedError

    def sid(self, text: str) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def forall(self, sort: str, fn: Callable[[Any], Any]) -> Any:  # pragma: no cover
        raise NotImplementedError

    def exists(self, sort: str, fn: Callable[[Any], Any]) -> Any:  # pragma: no cover
        raise NotImplementedError

    def with_writes(self, writes: "list[Write]") -> "State":  # pragma: no cover
        raise NotImplementedError

    def sid_wellformed(self, sid: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    # -- shared conveniences
    def __getattr__(self, name: str) -> Any:
        spec = FIELDS.get(name)
        if spec is None:
            raise AttributeError(name)
        v = self.view(name)
        return v() if not spec.keys else v

    def group_sid(self, t: Any, i: int) -> Any:
        return self.view(f"token_group_sid{i}")[t]

    def rsid(self, t: Any, i: int) -> Any:
        return self.view(f"token_rsid{i}")[t]

    def cap(self, t: Any, i: int) -> Any:
        return self.view(f"token_cap{i}")[t]

    def forall2(self, s1: str, s2: str, fn: Callable[[Any, Any], Any]) -> Any:
        return self.forall(s1, lambda a: self.forall(s2, lambda b: fn(a, b)))

    def exists2(self, s1: str, s2: str, fn: Callable[[Any, Any], Any]) -> Any:
        return self.exists(s1, lambda a: self.exists(s2, lambda b: fn(a, b)))

    def exists_alive(self, sort: str, fn: Callable[[Any], tuple], match: tuple[str, Any] | None = None) -> Any:
        """Some live object ``x`` of ``sort`` (its ``ALIVE_FIELD``) satisfies every condition
        of the tuple ``fn(x)``, and, with ``match = (field, value)``, has ``field[x] == value``:
        exactly ``exists(sort, lambda x: and_(alive[x], eq(field[x], value), *fn(x)))`` (without
        the ``eq`` if there is no ``match``), the same terms on a symbolic state.  (The
        concrete state looks only at the live objects that match.)"""
        from model.values import and_, eq

        alive = self.view(ALIVE_FIELD[sort])
        if match is None:
            return self.exists(sort, lambda x: and_(alive[x], *fn(x)))
        view, value = self.view(match[0]), match[1]
        return self.exists(sort, lambda x: and_(alive[x], eq(view[x], value), *fn(x)))


@dataclass
class Write:
    """One pending update of a field.

    ``key`` set: point update ``field[key] := value`` when ``when``.
    ``where`` set: bulk update ``field[x] := value(x)`` for every ``x`` with
    ``cond(x)``, where ``where(x) -> (cond, value)``.
    """

    field: str
    key: tuple | None = None
    value: Any = None
    when: Any = True
    where: Callable[..., tuple[Any, Any]] | None = None
    rows: Iterable[Any] | None = field(default=None)
