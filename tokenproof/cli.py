"""The ``tokenproof`` command line.

Exit codes (for CI): 0 everything as expected; 1 some result not as expected
(a property not meeting its expected verdict, a failing step); 2 bad input or
usage; 3 unknown/timeout under ``--strict``.
"""

from __future__ import annotations

import click

from tokenproof import commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tokenproof")
def main() -> None:
    """tokenproof: a formal model of KACS (PSD-004 v0.22) access tokens.

    \b
    Prove the property catalog:      tokenproof prove
    Bounded check of one property:   tokenproof check PROPERTY --depth 4
    Execute a trace step by step:    tokenproof run examples/file-server.json
    """


for _cmd in commands.all_commands():
    main.add_command(_cmd)
