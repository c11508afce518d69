"""The HTTP server: OpenAI-compatible and native APIs, API keys, the chat widget.

Only `agentkit serve` (and tests) import the FastAPI parts; `agentkit.server.keys` needs no web
framework, so the CLI can manage keys without loading one.
"""
