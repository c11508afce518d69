"""agentkit/index."""
