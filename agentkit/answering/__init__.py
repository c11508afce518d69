"""agentkit/answering."""
