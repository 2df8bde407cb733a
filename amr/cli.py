"""The one `amr` command.

Each package owns a small `cli.py` with click commands; this module only gathers them, lazily, so that
`amr decode` does not pay for importing numpy, SQLAlchemy or paho. To add a subcommand, add one line
to COMMANDS.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command or group
COMMANDS: dict[str, str] = {
    "api": "server.api.cli:api",
    "bill": "server.billing.cli:bill",
    "db": "server.cli:db",
    "deadletters": "server.cli:deadletters",
    "collect": "collector.collect_cli:collect",
    "decode": "decoders.cli:decode",
    "demo": "amr.demo:demo",
    "emulate": "collector.emulators.cli:emulate",
    "import": "server.cli:import_",
    "listen": "collector.listen:listen",
    "redecode": "server.cli:redecode",
    "replay": "collector.collect_cli:replay",
    "routes": "server.cli:routes",
    "serve": "server.importer:serve",
    "sync": "sync.cli:sync",
    "synth": "collector.radio_cli:synth",
    "demod": "collector.radio_cli:demod",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="amr-pipeline")
def main() -> None:
    """Drive-by wireless M-Bus meter reading: radio -> decode -> outbox -> MQTT -> store -> billing."""
