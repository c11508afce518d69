"""agentkit/ingest."""
