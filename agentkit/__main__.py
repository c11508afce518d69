"""`python -m agentkit` runs the command-line interface."""

from agentkit.cli.app import main

main()
