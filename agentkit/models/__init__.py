"""agentkit/models."""
