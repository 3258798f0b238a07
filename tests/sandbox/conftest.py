from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Client, docs
from tests.sandbox.meshes import BASE, GATEWAY


@pytest.fixture
def mesh(sandbox: Any) -> Any:
    """Apply a full mesh config and normal behaviour everywhere; give back a gateway client."""
    for service in ("frontend", "recommendation", "productcatalog", "cart"):
        sandbox.set_behaviour(service, reset=True)

    def apply(text: str, *, with_base: bool = True) -> Client:
        sandbox.istio.replace_all(docs(GATEWAY))  # rebuilds clusters: no ejection leaks between tests
        sandbox.istio.replace_all(docs((BASE if with_base else "") + text))
        return Client(sandbox.gateway_url)

    return apply
