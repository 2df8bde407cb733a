"""`--config FILE`: a TOML file as the defaults of a command's options (command-line flags still win).

A section per command (`[collect]`, ...), keys spelled like the long options without the dashes in front
(`source = ["im871a:/dev/ttyUSB0:t1,c1"]`, `max-outbox-mb = 4096`; underscores work too). Only options
the command really has are accepted: an unknown key is an error naming the file and the key, so a typo
does not silently fall back to a default. Example: deploy/config/collector.toml.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def read_section(path: str | Path, section: str, command: click.Command) -> dict[str, Any]:
    """The section as click's default_map for `command` (parameter name -> value)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise click.BadParameter(f"cannot read {path}: {e.strerror or e}", param_hint="--config") from None
    except tomllib.TOMLDecodeError as e:
        raise click.BadParameter(f"{path}: not valid TOML: {e}", param_hint="--config") from None
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise click.BadParameter(f"{path}: [{section}] must be a table", param_hint="--config")
    by_flag: dict[str, click.Parameter] = {}
    for p in command.params:
        if isinstance(p, click.Option):
            for opt in p.opts + p.secondary_opts:
                if opt.startswith("--"):
                    by_flag[opt[2:]] = p
    out: dict[str, Any] = {}
    for key, value in table.items():
        p = by_flag.get(key.replace("_", "-"))
        if p is None or p.name == "config":
            known = ", ".join(sorted(k for k, q in by_flag.items() if q.name != "config" and not q.hidden))
            raise click.BadParameter(f"{path}: [{section}] has no option {key!r} (known: {known})",
                                     param_hint="--config")
        if p.multiple and not isinstance(value, list):
            value = [value]
        out[p.name] = value
    return out


def config_option(section: str) -> Callable[[click.Command], click.Command]:
    """Decorator for a click command: adds an eager `--config FILE` whose [section] fills default_map."""

    def callback(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value:
            ctx.default_map = {**(ctx.default_map or {}), **read_section(value, section, ctx.command)}
        return value

    return click.option("--config", type=click.Path(dir_okay=False), is_eager=True, expose_value=False,
                        callback=callback, help=f"TOML file; its [{section}] table sets defaults for these options")
