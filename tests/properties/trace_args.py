"""Argument builders for hand-written traces from the standard world (model/scenarios.py): each gives
the full argument dict of one rule with neutral defaults, overridden by keyword."""

from model import domain as D

NULL = D.SID_NULL


def create_args(**over):
    """kacs_create_token arguments: a plain primary token of SYSTEM's session, no groups."""
    args = {"user": D.SID_SYSTEM, **{f"g{i}": NULL for i in range(7)}, "group_count": 0,
            "g_enabled": 0, "g_default": 0, "g_mandatory": 0, "g_owner": 0, "g_deny_only": 0,
            "privs_present": 0, "privs_enabled": 0, "owner_index": 0, "group_index": 0, "default_dacl": 0,
            "integrity": int(D.IL_MEDIUM), "policy": 1, "primary": True, "level": 0, "session": 1,
            "restricted": False, **{f"r{i}": NULL for i in range(4)}, "r_mask": 0, "write_restricted": False,
            "user_deny_only": False, "confined": False, "conf_sid": NULL, "c0": NULL, "c1": NULL, "c_mask": 0,
            "conf_exempt": False, "isolation": False, "elevation_field": 0, "scope": 0}
    args.update(over)
    return args


def adjust_privs(fd, **over):
    args = {"fd": fd, "enable": 0, "disable": 0, "remove": 0, "reset": False, "entries_ok": True}
    args.update(over)
    return args


def adjust_groups(fd, **over):
    args = {"fd": fd, "enable": 0, "disable": 0, "reset": False, "entries_ok": True}
    args.update(over)
    return args


def adjust_default(fd, **over):
    args = {"fd": fd, "set_dacl": False, "dacl": 0, "set_owner": False, "owner_index": 0,
            "set_group": False, "group_index": 0}
    args.update(over)
    return args


def restrict_args(fd, **over):
    args = {"fd": fd, "deny_mask": 0, "remove_privs": 0, **{f"r{i}": NULL for i in range(4)}, "r_mask": 0,
            "write_restricted": False, "payload_ok": True}
    args.update(over)
    return args
