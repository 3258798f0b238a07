"""Istio YAML building blocks and Envoy stat readers for the sandbox tests."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import envoy_stats

CATALOG = "outbound|8080||productcatalog.shop.svc.cluster.local"
GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
"""


def shop_route(extra: str = "") -> str:
    """The gateway VirtualService for shop.test -> frontend; ``extra`` adds fields to its one route."""
    return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: shop}}
spec:
  hosts: [shop.test]
  gateways: [gw]
  http: [{{name: shop, route: [{{destination: {{host: frontend}}}}]{extra}}}]
"""


BASE = GATEWAY + shop_route()


def catalog_route(http: str) -> str:
    """A gateway VirtualService for catalog.test -> productcatalog with the given http block."""
    return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: catalog, namespace: shop}}
spec:
  hosts: [catalog.test]
  gateways: [gw]
  http:
{http}
"""


def catalog_rule(traffic_policy: str) -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: productcatalog, namespace: shop}}
spec:
  host: productcatalog
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]
  trafficPolicy:
{traffic_policy}
"""


class ClusterStats:
    """The gateway's counters for one cluster, read now and compared with a snapshot."""

    def __init__(self, sandbox: Any, cluster: str = CATALOG) -> None:
        self.admin_url = sandbox.admin_url
        self.prefix = f"cluster.{cluster};."  # Istio's alt_stat_name ends in ';'
        self.before = self.read()

    def read(self) -> dict[str, int]:
        pattern = "^" + re.escape(self.prefix)
        return {k[len(self.prefix):]: v for k, v in envoy_stats(self.admin_url, pattern).items()}

    def delta(self, name: str) -> int:
        return self.read().get(name, 0) - self.before.get(name, 0)

    def now(self, name: str) -> int:
        return self.read().get(name, 0)


