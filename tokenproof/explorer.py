"""Explicit-state exploration of a small universe (docs/explorer.md).

The explorer enumerates every state reachable from a start world with the
concrete executor, breadth-first, applying every rule by every live thread
with every argument combination from finite *domains*, and checks every
state property on every new state and every transition property on every
step of the rules it is scoped to (except the (property, rule) pairs z3 proves
true on every step from every state: ``tokenproof.abstraction.valid_steps``;
and a property already violated is not evaluated again: BFS reported its
shortest violation).  States are identified by canonical keys (``tokenproof.symmetry``), so
isomorphic states are one node; the state graph is a networkx ``MultiDiGraph``.

A *universe* (``Universe``) bounds the objects: a fixed number of slots per
sort (threads, processes, tokens, logon sessions, sockets, fd numbers),
counting the start world's objects.  An object whose ``*_alive`` flag is
false is a free slot that a rule may allocate again, exactly as in BMC's
finite universe (``tokenproof.bmc``: the start world plus ``extra`` elements
per sort), so the two engines explore the same system.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import networkx as nx

import model.rules  # noqa: F401  (registers the rules)
from model import domain as D
from model.concrete import ConcreteState
from model.reclaim import collect_garbage
from model.rules.registry import RULES, Rule
from model.sim import ModelPreconditionError, apply_rule
from model.state import ALIVE_FIELD, SORTS
from model.world import World, boot, parse_privileges
from properties.base import Property, StepInfo
from tokenproof.symmetry import Canonicalizer

USER_SID = "S-1-5-21-1-1-1-1001"
DEFAULT_PRIVILEGES = ("SeAssignPrimaryTokenPrivilege", "SeImpersonatePrivilege", "SeTcbPrivilege")
BOUND_SORTS = ("Thread", "Process", "Token", "Session", "Socket", "Handle")


# ------------------------------------------------------------------ the universe
@dataclass(frozen=True)
class Universe:
    """What the explorer enumerates: object bounds, privileges, the start world, the inputs.

    ``threads``, ``processes``, ``tokens``, ``sessions``, ``sockets``: slots
    per sort *including* the start world's objects (boot has 1 thread, 1
    process, 2 tokens, 2 sessions; the user principal adds 1 of each);
    ``handles``: fd numbers per process (3, 4, ...).  ``None`` for sessions
    means "the start world's sessions only".
    """

    threads: int = 2
    processes: int = 2
    tokens: int = 3
    sessions: int | None = None
    sockets: int = 0
    handles: int = 1
    privileges: tuple[str, ...] = DEFAULT_PRIVILEGES
    user: bool = False
    auto_gc: bool = False
    masks: str = "small"  # small | full: the access-mask domain

    def describe(self) -> str:
        return (f"threads={self.threads} processes={self.processes} tokens={self.tokens} "
                f"sessions={self.sessions if self.sessions is not None else 'start'} sockets={self.sockets} "
                f"handles={self.handles} privileges={','.join(self.privileges) or 'none'} "
                f"user={'yes' if self.user else 'no'} auto_gc={'yes' if self.auto_gc else 'no'} masks={self.masks}")


class UniverseError(ValueError):
    """A universe that cannot hold its start world, or a bad option."""


def start_world(u: Universe) -> World:
    """The start world: ``boot()`` with the SYSTEM token's privileges restricted to
    ``u.privileges`` (present, enabled, enabled by default), plus, with
    ``u.user``, a user principal: a logon session ``user-session``, a Medium
    primary token ``user`` (user S-1-5-21-1-1-1-1001, groups Users, Everyone,
    AuthenticatedUsers, Interactive plus the logon SID, NO_WRITE_UP |
    NEW_PROCESS_MIN) holding ``u.privileges`` enabled, and a process ``user``
    with one thread ``u1``."""
    try:
        mask = parse_privileges(list(u.privileges), "--privileges") if u.privileges else 0
    except ValueError as e:
        raise UniverseError(str(e)) from None
    w = boot()
    s = w.state
    sys_tok = w.names["Token"]["system"]
    for f in ("token_privs_present", "token_privs_enabled", "token_privs_default"):
        s.set(f, sys_tok, mask)
    if u.user:
        from model.scenarios import user_token_spec

        w.sid_aliases["user"] = USER_SID
        w.add_session("user-session")
        spec = user_token_spec("user", "user-session",
                               privileges={p: ["enabled", "default"] for p in u.privileges})
        tok = w.add_token("user", spec)
        w.add_process("user", tok, ["u1"])
    return w


def extra_elements(u: Universe, w: World) -> dict[str, int]:
    """The slots beyond the start world's objects, per sort (BMC's ``extra``)."""
    want = {"Thread": u.threads, "Process": u.processes, "Token": u.tokens, "Socket": u.sockets,
            "Session": len(w.state.universe["Session"]) if u.sessions is None else u.sessions,
            "Handle": u.handles}
    out = {}
    for sort, n in want.items():
        have = len(w.state.universe[sort])
        if n < have:
            raise UniverseError(f"the start world has {have} {sort.lower()}(s) but the universe allows {n} "
                                f"(raise the bound{' or drop --user' if u.user else ''})")
        out[sort] = n - have
    return out


def universe_state(u: Universe, w: World) -> ConcreteState:
    from tokenproof.bmc import extend_universe

    return extend_universe(w.state, extra_elements(u, w))


# ------------------------------------------------------------------ argument domains
def privilege_masks(u: Universe) -> list[int]:
    return [1 << D.PRIVILEGE_BITS[p] for p in u.privileges]


def mask_domain(u: Universe) -> list[int]:
    """Desired-access masks: MAXIMUM_ALLOWED, TOKEN_QUERY, TOKEN_ALL_ACCESS (small);
    ``full`` adds every single right a token ioctl checks."""
    small = [int(D.MAXIMUM_ALLOWED), int(D.TOKEN_QUERY), int(D.TOKEN_ALL_ACCESS)]
    if u.masks == "small":
        return small
    singles = [D.TOKEN_ASSIGN_PRIMARY, D.TOKEN_DUPLICATE, D.TOKEN_IMPERSONATE, D.TOKEN_ADJUST_PRIVILEGES,
               D.TOKEN_ADJUST_GROUPS, D.TOKEN_ADJUST_DEFAULT, D.TOKEN_ADJUST_INTERACTIVITY_SCOPE]
    return small + [int(m) for m in singles]


def _tuples(names: tuple[str, ...], rows: Iterable[tuple]) -> list[dict[str, Any]]:
    return [dict(zip(names, r)) for r in rows]


def value_domains(u: Universe, rules: dict[str, Rule]) -> dict[str, list[dict[str, Any]]]:
    """Per rule: the list of assignments of its non-object arguments (the explorer's
    abstraction of syscall inputs; documented in docs/explorer.md)."""
    privs = privilege_masks(u)
    masks = mask_domain(u)
    levels = [0, 1, 2, 3]
    out: dict[str, list[dict[str, Any]]] = {}
    user_sid = USER_SID if u.user else D.SID_SYSTEM
    for name, r in rules.items():
        a = {x.name: x for x in r.args}
        non_obj = tuple(x.name for x in r.args if x.type.kind != "obj" and not (x.fresh and x.type.kind == "sid"))
        if name == "ioctl_adjust_privs":
            rows = [(p, 0, 0, False, True) for p in privs] + [(0, p, 0, False, True) for p in privs] + \
                   [(0, 0, p, False, True) for p in privs] + [(0, 0, 0, True, True)]
            out[name] = _tuples(("enable", "disable", "remove", "reset", "entries_ok"), rows)
        elif name == "ioctl_adjust_groups":
            rows = [(b, 0, False, True) for b in (1, 2)] + [(0, b, False, True) for b in (1, 2)] + \
                   [(0, 0, True, True)]
            out[name] = _tuples(("enable", "disable", "reset", "entries_ok"), rows)
        elif name == "ioctl_adjust_default":
            rows = [(True, 1, False, 0, False, 0), (False, 0, True, 1, False, 0), (False, 0, False, 0, True, 1)]
            out[name] = _tuples(("set_dacl", "dacl", "set_owner", "owner_index", "set_group", "group_index"), rows)
        elif name == "ioctl_adjust_interactivity_scope":
            out[name] = _tuples(("scope",), [(1,)])
        elif name == "kacs_privilege_check":
            out[name] = _tuples(("privileges",), [(p,) for p in privs] or [(0,)])
        elif name == "exec":
            out[name] = _tuples(("file_labelled", "file_level"),
                                [(False, 0), (True, int(D.IL_LOW))])
        elif name == "ioctl_duplicate":
            dm = masks[:2]
            rows = [(True, 0, m) for m in dm] + [(False, lv, m) for lv in (0, 2, 3) for m in dm]
            out[name] = _tuples(("primary", "level", "access_mask"), rows)
        elif name == "ioctl_restrict":
            base = {f"r{i}": D.SID_NULL for i in range(D.RSID_SLOTS)}
            rows = []
            p0 = privs[0] if privs else 0
            for deny, remove, rmask, wr in ((0, 0, 0, False), (1, 0, 0, False), (0, p0, 0, False),
                                            (0, 0, 1, False), (0, 0, 1, True), (0, 0, 0, True)):
                rows.append({**base, "deny_mask": deny, "remove_privs": remove, "r0": D.SID_EVERYONE,
                             "r_mask": rmask, "write_restricted": wr, "payload_ok": True})
            out[name] = rows
        elif name == "kacs_create_token":
            rows = []
            for user, primary, level, with_privs in ((user_sid, True, 0, True), (user_sid, False, 2, False),
                                                     (D.SID_SYSTEM, True, 0, False), (D.SID_SYSTEM, False, 2, True)):
                pm = sum(privs) if with_privs else 0
                rows.append(_create_request(user, primary, level, pm))
            out[name] = rows
        else:
            generic = [_generic_domain(a[n], masks, privs, levels) for n in non_obj]
            out[name] = [dict(zip(non_obj, combo)) for combo in itertools.product(*generic)]
        for row in out[name]:
            missing = set(non_obj) - set(row)
            assert not missing, (name, missing)
    return out


def _create_request(user: str, primary: bool, level: int, privs: int) -> dict[str, Any]:
    null = D.SID_NULL
    row: dict[str, Any] = {"user": user, "group_count": 1, "g_enabled": 1, "g_default": 1, "g_mandatory": 1,
                           "g_owner": 0, "g_deny_only": 0, "privs_present": privs, "privs_enabled": privs,
                           "owner_index": 0, "group_index": 0, "default_dacl": 0, "integrity": int(D.IL_MEDIUM),
                           "policy": 1, "primary": primary, "level": level, "restricted": False, "r_mask": 0,
                           "write_restricted": False, "user_deny_only": False, "confined": False,
                           "conf_sid": null, "c_mask": 0, "conf_exempt": False, "isolation": False,
                           "elevation_field": 0, "scope": 0}
    row["g0"] = D.SID_EVERYONE
    for i in range(1, 7):
        row[f"g{i}"] = null
    for i in range(D.RSID_SLOTS):
        row[f"r{i}"] = null
    for i in range(D.CAP_SLOTS):
        row[f"c{i}"] = null
    return row


def _generic_domain(a: Any, masks: list[int], privs: list[int], levels: list[int]) -> list[Any]:
    t = a.type
    if t.kind == "bool":
        return [False, True]
    if a.fmt == "rights":
        return masks
    if a.fmt == "privileges":
        return [0] + privs
    if a.fmt == "level":
        return levels
    if a.fmt == "integrity":
        return [int(D.IL_LOW), int(D.IL_MEDIUM)]
    if t.kind == "sid":
        return [D.SID_EVERYONE]
    if t.kind == "bv":
        return [0, 1]
    raise ValueError(f"no explorer domain for argument {a.name} of type {t}")


# ------------------------------------------------------------------ results
@dataclass
class Violation:
    prop: str
    kind: str
    depth: int  # steps from the start state
    path: list[dict[str, Any]]  # edges: rule, actor, args, errno (concrete ids of the representative states)
    trace_file: str | None = None
    expected: bool = False  # the property's expected verdict (profile) is "refuted"


@dataclass
class RuleStats:
    applications: int = 0  # rule applications that were enabled (a step existed)
    disabled: int = 0  # ModelPreconditionError: no step
    ok: int = 0  # successful steps
    failed: int = 0  # errno != 0
    changed: int = 0  # steps whose post-state differs from the pre-state (key)
    new_states: int = 0  # steps that discovered a state


@dataclass
class ExploreResult:
    universe: Universe
    states: int = 0
    edges: int = 0  # distinct (src, dst, rule) edges stored
    steps: int = 0  # enabled rule applications
    self_loops: int = 0  # steps that left the state unchanged (failing steps, no-ops)
    depth: int = 0  # BFS depth of the deepest state
    complete: bool = True  # every reachable state explored (no --max-states / time cut)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # process CPU time of the exploration (the machine may be shared)
    peak_memory: int = 0  # bytes (tracemalloc peak, if tracing)
    violations: dict[str, Violation] = field(default_factory=dict)
    rule_stats: dict[str, RuleStats] = field(default_factory=dict)
    deadlocks: list[Any] = field(default_factory=list)  # keys of states with no successor other than themselves
    checked: list[str] = field(default_factory=list)
    incomplete_keys: int = 0
    bounded: bool = False  # some state at --max-depth was not expanded (complete up to that depth)
    graph: Any = None

    def first_violation_depth(self, prop_id: str) -> int | None:
        v = self.violations.get(prop_id)
        return None if v is None else v.depth


# ------------------------------------------------------------------ the explorer
class Explorer:
    def __init__(self, u: Universe, rules: dict[str, Rule] | None = None,
                 properties: dict[str, Property] | None = None, symmetry: bool = True,
                 abstraction: bool = True, max_states: int | None = None, max_seconds: float | None = None,
                 keep_graph: bool = True, progress: Callable[[int, int, int], None] | None = None,
                 profile: str = "kacs", stop_on_all_violated: bool = False,
                 max_depth: int | None = None, abstraction_rlimit: int | None = None,
                 prune_valid: bool = True, max_cpu_seconds: float | None = None, guarded: bool = False,
                 cache: Any = None):
        t_setup = time.perf_counter()
        self.u = u
        self.rules = dict(RULES if rules is None else rules)
        if u.auto_gc:
            self.step_rules = {n: r for n, r in self.rules.items() if not r.kernel}
        else:
            self.step_rules = dict(self.rules)
        if properties is None:
            import properties.catalog  # noqa: F401
            from properties.base import CATALOG

            properties = dict(CATALOG)
        self.props = {k: p for k, p in properties.items() if p.kind in ("state", "transition")}
        self.profile = profile
        self.world = start_world(u)
        self.init = universe_state(u, self.world)
        self.domains = value_domains(u, self.step_rules)
        self.max_states = max_states
        self.max_seconds = max_seconds
        self.max_cpu_seconds = max_cpu_seconds  # a bound on the process CPU time of run()
        self.keep_graph = keep_graph
        self.progress = progress
        self.stop_on_all_violated = stop_on_all_violated
        self.max_depth = max_depth
        fixed = {"Thread": frozenset({self.world.names["Thread"]["init"]}),
                 "Process": frozenset({self.world.names["Process"]["init"]}),
                 "Token": frozenset({self.init.value("anon_token")}),
                 "Session": frozenset({self.init.value("system_session"), self.init.value("anon_session")})}
        from tokenproof.encode import state_sids

        static = set(state_sids(self.init)) | set(D.WELL_KNOWN_SIDS) | {D.MALFORMED_SID, USER_SID}
        # the z3 analysis of the rule set (tokenproof.abstraction): the droppable fields (used
        # only with ``abstraction``) and the one-step-valid (transition property, rule) pairs
        # (used with ``prune_valid``: such checks cannot fail, so they are not evaluated)
        # ``cache`` (a ``tokenproof.cache.ResultCache``): the analysis is also kept on disk, keyed on
        # every source it can depend on (``analysis_key``); ``analysis_source``: computed, memory
        # (this process) or disk; ``analysis_seconds``: the time it took here
        t_an = time.perf_counter()
        self.analysis, self.analysis_source = (
            analysis_with_source(self.rules, self.props, self.init, abstraction_rlimit,
                                 guarded=guarded and abstraction, profile=profile, cache=cache)
            if abstraction or prune_valid else (None, "none"))
        self.analysis_cached = self.analysis_source in ("memory", "disk")
        self.analysis_seconds = time.perf_counter() - t_an
        self.abstraction = self.analysis if abstraction else None
        self.dropped = self.abstraction.dropped if self.abstraction is not None else frozenset()
        self.valid_pairs = self.analysis.valid if (prune_valid and self.analysis is not None) else frozenset()
        # guarded resets (dead contents; tokenproof.abstraction.guarded_resets), proved assuming
        # the reference-liveness invariants ``guard_assumed``: if the run finds one violated, it
        # explores again without the resets
        self.guards = dict(self.abstraction.guarded) if (self.abstraction is not None and guarded) else {}
        self.guard_assumed = (self.abstraction.guarded_info.assumed if self.guards else frozenset())
        self.guards_dropped_after_violation = False
        self.canon = Canonicalizer(self.init.universe, frozenset(static), fixed, symmetry=symmetry,
                                   abstraction=abstraction, dropped_fields=self.dropped, guards=self.guards)
        self.free_only = self._free_only()
        self.state_props = [p for p in self.props.values() if p.kind == "state"]
        self.trans_props = [p for p in self.props.values() if p.kind == "transition"]
        self._trans_for = {n: [p for p in self.trans_props if (p.rules is None or n in p.rules)
                               and (p.id, n) not in self.valid_pairs]
                           for n in self.step_rules}
        self._state_props0, self._trans_for0 = list(self.state_props), dict(self._trans_for)
        self.trans_checks_skipped = sum(1 for p in self.trans_props for n in self.step_rules
                                        if (p.rules is None or n in p.rules) and (p.id, n) in self.valid_pairs)
        self.setup_seconds = time.perf_counter() - t_setup  # z3: fresh-slot domains and the abstraction

    # ------------------------------------------------------------ successors
    def _free_only(self) -> dict[tuple[str, str], bool]:
        """Per (rule, fresh object argument): the rule's model preconditions imply the
        slot is free (a dead object, an fd not open in the caller's process), proved
        once with z3 on a symbolic state; then only free slots are tried (the others
        would be disabled steps).  A mutant that drops such a precondition keeps the
        full domain."""
        import z3

        from model.scenarios import standard
        from model.state import ALIVE_FIELD, THREAD
        from model.symbolic import Universe as SymUniverse
        from tokenproof.encode import state_sids

        uni = SymUniverse("unbounded", sids=state_sids(standard().state))
        out: dict[tuple[str, str], bool] = {}
        for name, r in self.step_rules.items():
            fresh = [a for a in r.args if a.fresh and a.type.kind == "obj"]
            if not fresh and r.kernel:
                continue
            pre = uni.fresh_state(f"f_{name}")
            actor = None if r.kernel else uni.const(f"actor_{name}", THREAD)
            args = {a.name: uni.const(f"{name}.{a.name}", a.type) for a in r.args}
            try:
                o = r.apply(pre, actor, args)
            except Exception:  # a rule that cannot run symbolically: keep every slot
                continue
            en = o.enabled if z3.is_expr(o.enabled) else z3.BoolVal(bool(o.enabled))
            checks = [(a.name, z3.Not(pre.fd_open[pre.thread_proc[actor], args[a.name]]) if a.type.sort == "Handle"
                       else z3.Not(pre.view(ALIVE_FIELD[a.type.sort])[args[a.name]])) for a in fresh]
            if actor is not None:
                checks.append(("@actor", pre.thread_alive[actor]))
            for aname, c in checks:
                sv = z3.Solver()
                sv.set("timeout", 5000)
                sv.add(*uni.axioms, en, z3.Not(c))
                out[(name, aname)] = sv.check() == z3.unsat
        return out

    def moves(self, st: ConcreteState) -> Iterable[tuple[Rule, Any, dict[str, Any]]]:
        """Every (rule, actor, args) the explorer tries in ``st``: live threads as actors
        (every rule assumes a live actor), the kernel for kernel rules; object
        arguments range over all slots of their sort (fresh ones too: the rule's
        model preconditions reject slots in use), other arguments over the domains."""
        uni = st.universe
        data = st._data
        alive = data["thread_alive"]
        live = [t for t in uni["Thread"] if alive.get(t, False)]
        for name, r in self.step_rules.items():
            objs = [x for x in r.args if x.type.kind == "obj"]
            who = [None] if r.kernel else (live if self.free_only.get((name, "@actor")) else list(uni["Thread"]))
            for actor in who:
                obj_domains = []
                for x in objs:
                    dom = uni[x.type.sort]
                    if x.fresh and self.free_only.get((name, x.name)):
                        if x.type.sort == "Handle":
                            p = data["thread_proc"].get(actor, -1)
                            dom = [h for h in dom if not data["fd_open"].get((p, h), False)]
                        else:
                            af = data[ALIVE_FIELD[x.type.sort]]
                            dom = [o for o in dom if not af.get(o, False)]
                    obj_domains.append(dom)
                for combo in itertools.product(*obj_domains):
                    base = {x.name: v for x, v in zip(objs, combo)}
                    for vals in self.domains[name]:
                        yield r, actor, {**base, **vals}

    def successors(self, st: ConcreteState):
        for r, actor, args in self.moves(st):
            try:
                out = apply_rule(st, r, actor, args)
            except ModelPreconditionError:
                yield r, actor, args, None, None
                continue
            post = out.post
            args = out.ret.pop("_args", args)
            if self.u.auto_gc:
                post, _ = collect_garbage(post, self.rules)
            yield r, actor, args, int(out.errno), post

    # ------------------------------------------------------------ checks
    def _check_state(self, st: ConcreteState) -> list[str]:
        """The state properties ``st`` violates, among those not violated yet (a property's
        first violation is its shortest one, BFS discovering states by depth, and only the
        first is recorded: a violated property is not evaluated again)."""
        bad = []
        for p in self.state_props:
            if not bool(p.check(st)):
                bad.append(p.id)
        if bad:
            self.state_props = [p for p in self.state_props if p.id not in bad]
        return bad

    def _check_step(self, pre: ConcreteState, post: ConcreteState, r: Rule, actor: Any, args: dict,
                    errno: int) -> list[str]:
        bad = []
        props = self._trans_for[r.name]
        if not props:
            return bad
        info = StepInfo(r.name, None if r.kernel else actor, args, errno)
        for p in props:
            if not bool(p.check(pre, post, info)):
                bad.append(p.id)
        if bad:  # recorded once (the first is a shortest violation): not evaluated again
            self._trans_for = {n: [p for p in ps if p.id not in bad] for n, ps in self._trans_for.items()}
        return bad

    # ------------------------------------------------------------ BFS
    def run(self) -> ExploreResult:
        res = self._run()
        if self.guards and self.guard_assumed & set(res.violations):
            # the resets were proved assuming these invariants: explore again without them
            self.guards = {}
            self.canon = Canonicalizer(self.canon.universe, self.canon.static_sids, self.canon.fixed,
                                       symmetry=self.canon.symmetry, abstraction=self.canon.abstraction,
                                       dropped_fields=self.dropped)
            self.guards_dropped_after_violation = True
            res = self._run()
        return res

    def _run(self) -> ExploreResult:
        res = ExploreResult(self.u, checked=sorted(self.props))
        res.rule_stats = {n: RuleStats() for n in self.step_rules}
        self.state_props, self._trans_for = list(self._state_props0), dict(self._trans_for0)
        t0 = time.perf_counter()
        c0 = time.process_time()
        g = nx.MultiDiGraph() if self.keep_graph else None
        key0 = self.canon.key(self.init)
        states: dict[Any, ConcreteState] = {key0: self.init}
        depth: dict[Any, int] = {key0: 0}
        parent: dict[Any, tuple[Any, dict[str, Any]] | None] = {key0: None}
        ids: dict[Any, int] = {key0: 0}
        if g is not None:
            g.add_node(0, depth=0)
        edge_seen: set[tuple] = set()
        for pid in self._check_state(self.init):
            self._record(res, pid, key0, None, parent, depth, states)
        queue = deque([key0])
        while queue:
            if self.max_states is not None and len(states) >= self.max_states:
                res.complete = False
                break
            if self.max_seconds is not None and time.perf_counter() - t0 > self.max_seconds:
                res.complete = False
                break
            if self.max_cpu_seconds is not None and time.process_time() - c0 > self.max_cpu_seconds:
                res.complete = False
                break
            if self.stop_on_all_violated and len(res.violations) == len(self.props):
                res.complete = False
                break
            k = queue.popleft()
            st = states[k]
            d = depth[k]
            if self.max_depth is not None and d >= self.max_depth:
                res.bounded = True  # states at the depth bound are not expanded
                continue
            has_succ = False
            for r, actor, args, errno, post in self.successors(st):
                rs = res.rule_stats[r.name]
                if post is None:
                    rs.disabled += 1
                    continue
                rs.applications += 1
                res.steps += 1
                if errno == 0:
                    rs.ok += 1
                else:
                    rs.failed += 1
                label = {"rule": r.name, "actor": actor, "args": args, "errno": errno}
                for pid in self._check_step(st, post, r, actor, args, errno):
                    self._record(res, pid, k, label, parent, depth, states, post_key=None, step_depth=d + 1)
                nk = k if post is st else self.canon.key(post)
                if nk == k:
                    res.self_loops += 1
                    continue
                has_succ = True
                rs.changed += 1
                if nk not in states:
                    states[nk] = post
                    depth[nk] = d + 1
                    parent[nk] = (k, label)
                    ids[nk] = len(ids)
                    rs.new_states += 1
                    res.depth = max(res.depth, d + 1)
                    if g is not None:
                        g.add_node(ids[nk], depth=d + 1)
                    for pid in self._check_state(post):
                        self._record(res, pid, nk, None, parent, depth, states)
                    queue.append(nk)
                    if self.progress is not None and len(states) % 200 == 0:
                        self.progress(len(states), res.steps, d + 1)
                ek = (k, nk, r.name, errno)
                if ek not in edge_seen:
                    edge_seen.add(ek)
                    if g is not None:
                        g.add_edge(ids[k], ids[nk], rule=r.name, actor="kernel" if actor is None else str(actor),
                                   args=_args_text(args), errno=str(errno))
            if not has_succ:
                res.deadlocks.append(ids[k])
        res.states = len(states)
        res.edges = len(edge_seen)
        res.seconds = time.perf_counter() - t0
        res.cpu_seconds = time.process_time() - c0
        res.incomplete_keys = self.canon.incomplete
        res.graph = g
        if self.progress is not None:
            self.progress(len(states), res.steps, res.depth)
        self._states, self._parent, self._ids = states, parent, ids
        return res

    def _record(self, res: ExploreResult, pid: str, key: Any, label: dict | None, parent: dict, depth: dict,
                states: dict, post_key: Any = None, step_depth: int | None = None) -> None:
        if pid in res.violations:
            return
        path: list[dict[str, Any]] = []
        k = key
        while parent[k] is not None:
            pk, lab = parent[k]
            path.append(lab)
            k = pk
        path.reverse()
        if label is not None:
            path.append(label)
        p = self.props[pid]
        res.violations[pid] = Violation(pid, p.kind, len(path), path,
                                        expected=p.expected(self.profile) == "refuted")

    # ------------------------------------------------------------ counterexample traces
    def trace_of(self, v: Violation) -> dict[str, Any]:
        """The violation's path as a trace (tokenproof-trace/1): the start world embedded
        as an explicit state, ``auto_gc`` as explored, the steps replayed from the start
        state with their concrete arguments (the path's representative states are
        concrete states connected by these very steps)."""
        from tokenproof.trace import make_trace, step_entry

        world = World(self.init, self.world.names, self.world.sid_aliases)
        steps = [step_entry(world, e["rule"], e["actor"], e["args"], errno=e["errno"]) for e in v.path]
        p = self.props[v.prop]
        return make_trace(steps, description=f"explorer: {p.id} violated after {len(v.path)} step(s) "
                          f"({self.u.describe()})", world=world, auto_gc=self.u.auto_gc,
                          violation={"property": p.id, "step": max(0, len(v.path) - 1), "statement": p.statement})


_ANALYSES: dict[tuple, Any] = {}


def abstraction_of(rules: dict[str, Rule], props: dict[str, Property], init: ConcreteState,
                   rlimit: int | None = None, guarded: bool = False, profile: str = "kacs",
                   cache: Any = None):
    """``tokenproof.abstraction.analyse`` for this rule set, property set and universe
    (memoised in-process: the analysis runs z3 and takes seconds; with ``cache``, a
    ``tokenproof.cache.ResultCache``, also on disk: ``analysis_key``).  ``rlimit``: the z3
    resource limit per independence query (lower: faster, possibly fewer fields dropped)."""
    return analysis_with_source(rules, props, init, rlimit, guarded, profile, cache)[0]


def analysis_with_source(rules: dict[str, Rule], props: dict[str, Property], init: ConcreteState,
                         rlimit: int | None = None, guarded: bool = False, profile: str = "kacs",
                         cache: Any = None) -> tuple[Any, str]:
    """``abstraction_of`` and where its result came from: ``memory`` (this process),
    ``disk`` (``cache``) or ``computed``."""
    from tokenproof.abstraction import RLIMIT, analyse
    from tokenproof.analysis_cache import _state_contents, analysis_from_json, analysis_key, analysis_to_json
    from tokenproof.cache import _hash

    rl = RLIMIT if rlimit is None else rlimit
    # a rule is identified by its function *and* its instance-level ``apply`` (a seeded mutant
    # that skips an effect or drops a guard keeps the function and replaces ``apply``)
    idents = [(r.fn, vars(r).get("apply")) for r in rules.values()]
    key = (tuple((n, id(f), id(a), r.args, r.extra.get("mutant")) for (n, r), (f, a) in zip(rules.items(), idents)),
           tuple(sorted(props)), tuple((s, tuple(init.universe[s])) for s in SORTS), _hash(_state_contents(init)),
           rl, guarded, profile)
    hit = _ANALYSES.get(key)
    if hit is not None and len(hit[0]) == len(idents) and all(x is y and a is b
                                                               for (x, a), (y, b) in zip(hit[0], idents)):
        return hit[1], "memory"
    disk_key = analysis_key(rules, props, init, rl, guarded, profile) if cache is not None else None
    res = source = None
    if disk_key is not None:
        try:
            res = analysis_from_json(cache.get("analysis", disk_key))
            source = "disk"
        except Exception:  # missing, corrupt or from another layout: recomputed, never trusted
            res = None
    if res is None:
        res, source = analyse(rules, props, init, rl, guarded=guarded, profile=profile), "computed"
        if disk_key is not None:
            data = analysis_to_json(res)
            if data is not None:
                cache.put("analysis", disk_key, data)
    _ANALYSES[key] = (idents, res)
    return res, source


def _args_text(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(args.items()))


def explore(u: Universe, **kw: Any) -> tuple[Explorer, ExploreResult]:
    ex = Explorer(u, **kw)
    return ex, ex.run()


__all__ = ["Universe", "UniverseError", "Explorer", "ExploreResult", "Violation", "RuleStats", "explore",
           "start_world", "extra_elements", "universe_state", "value_domains", "DEFAULT_PRIVILEGES"]
