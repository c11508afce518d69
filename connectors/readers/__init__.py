"""connectors/readers."""
