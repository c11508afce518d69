"""`python -m agentkit` runs the command-line interface."""

from agentkit.cli import main

main()
