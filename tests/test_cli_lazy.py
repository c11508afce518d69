"""`agentkit --help` lists every command without importing the layers they drive."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from agentkit.cli.app import LAZY_COMMANDS, cli
from agentkit.cli.lazy import load_all


def test_lazy_commands_show_the_help_they_have_once_imported() -> None:
    lazy_help = CliRunner().invoke(cli, ["--help"]).output
    load_all(cli)
    loaded_help = CliRunner().invoke(cli, ["--help"]).output
    assert lazy_help == loaded_help
    for name in LAZY_COMMANDS:
        assert f"\n  {name} " in loaded_help


def test_every_lazy_entry_names_its_command() -> None:
    for name, entry in LAZY_COMMANDS.items():
        command = entry.load()
        assert isinstance(command, click.Command)
        assert command.name == name


def test_help_imports_no_database_layer_and_a_command_still_runs(tmp_path: object) -> None:
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from agentkit.cli.app import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = sorted(name for name in ('sqlalchemy', 'numpy', 'agentkit.kit', 'agentkit.store') "
        "if name in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == ""
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "sources", "--help"])
    assert result.exit_code == 0 and "List an agent's sources." in result.output
