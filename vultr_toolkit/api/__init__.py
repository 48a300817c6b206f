"""Thin clients for the HTTP APIs the toolkit talks to, all built on :mod:`vultr_toolkit._http`.

* :mod:`.management` — Vultr v2 (``client.management``): ``get``, ``post``, ``paginate``, ``iter_items``.
* :mod:`.inference` — the OpenAI-compatible inference API (``client.inference``).
* :mod:`.sse` — pure Server-Sent-Events parsing shared by ``client.inference`` and the benchmark.

Submodules are imported on demand (``from vultr_toolkit.api.management import ManagementAPI``) so that importing
one API does not load the others.
"""
