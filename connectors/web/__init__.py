"""connectors/web."""
