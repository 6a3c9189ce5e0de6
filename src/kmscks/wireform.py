"""WireForm: a response structure that a service built already in its wire form.

Shared by the service layer (which builds them) and the api layer (which serializes them);
imports nothing of either. A WireForm holds only members of its model shape, no None values,
and timestamps as epoch seconds, so the model-driven serializer passes it through without
looking inside: on a 10-store Describe page, checking each entry and its proxy configuration
member by member cost ~9 us of the handler's ~55 (docs/benchmarks.md). Whoever builds one
answers for that form; tests/core/test_serialize.py runs every builder's output through the
full serializer and expects it back unchanged.
"""

from __future__ import annotations

from typing import Any


class WireForm(dict[str, Any]):
    """A dict in wire form: model members only, no None, epoch timestamps (see the module)."""

    __slots__ = ()
