"""agentkit/retrieval."""
