"""agentkit/cli."""
