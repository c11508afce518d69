"""The embeddable chat widget: `GET /widget.js` and `GET /agents/{name}/chat` (placeholder)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
