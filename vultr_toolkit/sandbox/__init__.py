"""The sandbox: an emulator of the Vultr v2 management API and the Serverless Inference API on 127.0.0.1.

Everything in the toolkit runs against it offline — tests, notebooks, CI and the demo::

    >>> from vultr_toolkit.sandbox import Sandbox
    >>> with Sandbox(seed=0, fleet={"instances": 100}) as sb:
    ...     settings = sb.settings()          # api_url/api_key/inference_url/inference_api_key filled in
    ...     len(sb.fleet["instances"])
    100

Modules: :mod:`.fleet` (the seeded objects), :mod:`.management` (``/v2`` routes), :mod:`.inference` (``/v1``),
:mod:`.pagination`, :mod:`.faults`, :mod:`.ratelimit`, :mod:`.reqlog`, :mod:`.server` (:class:`Sandbox`).
Run it in the foreground with ``vultr-toolkit sandbox --port 8080 --seed 0``.
"""

from __future__ import annotations

from .fleet import DEFAULT_SIZES, Fleet, build_fleet
from .server import Sandbox

__all__ = ["DEFAULT_SIZES", "Fleet", "Sandbox", "build_fleet"]
