"""Inference half of the sandbox (OpenAI-compatible emulator of the Vultr Serverless Inference API).

Placeholder with its final interface; the benchmark issue fills it in. The sandbox server calls::

    emu = InferenceEmulator(seed=seed, **options)
    emu.add_routes(app)          # registers /v1/... routes on the shared aiohttp application
"""

from __future__ import annotations

from typing import Any

from aiohttp import web


class InferenceEmulator:
    """Emulates ``/v1/models`` and ``/v1/chat/completions``; see the benchmark issue."""

    api_key = "sandbox-inference-key"

    def __init__(self, seed: int = 0, **options: Any) -> None:
        self.seed = seed
        self.options = options

    def add_routes(self, app: web.Application) -> None:
        """Register the emulator's routes under ``/v1`` (none yet)."""
