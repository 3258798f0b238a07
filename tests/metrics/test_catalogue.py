"""Golden tests of the rendered PromQL: label names as Istio writes them, values escaped."""

from __future__ import annotations

from harness.metrics import (
    MeshSelector,
    duration_buckets,
    envoy_cluster_stat,
    escape_label,
    requests,
    selector,
    server_errors,
    with_flag,
)


def test_requests_by_short_name_and_namespace() -> None:
    sel = MeshSelector("productcatalog", "shop")
    assert requests(sel) == ('istio_requests_total{destination_service_name="productcatalog",'
                             'destination_service_namespace="shop",reporter="source"}')


def test_fqdn_uses_destination_service_and_client_workload() -> None:
    sel = MeshSelector("reviews.bookinfo.svc.cluster.local", source_workload="productpage-v1")
    assert server_errors(sel) == ('istio_requests_total{destination_service="reviews.bookinfo.svc.cluster.local",'
                                  'reporter="source",source_workload="productpage-v1",response_code=~"5.."}')


def test_flags_match_inside_comma_joined_lists() -> None:
    assert with_flag(MeshSelector("cart", "shop"), "UT").endswith('response_flags=~"(.*,)?UT(,.*)?"}')


def test_duration_buckets_and_destination_reporter() -> None:
    sel = MeshSelector("cart", "shop", reporter="destination")
    assert duration_buckets(sel) == ('istio_request_duration_milliseconds_bucket{destination_service_name="cart",'
                                     'destination_service_namespace="shop",reporter="destination"}')


def test_envoy_cluster_stat_uses_istios_cluster_name() -> None:
    assert envoy_cluster_stat("upstream_rq_retry", "cart.shop.svc.cluster.local", subset="v1") == (
        'envoy_cluster_upstream_rq_retry{cluster_name=~"outbound\\\\|[0-9]+\\\\|v1\\\\|cart\\\\.shop\\\\.svc\\\\.cluster'
        '\\\\.local"}')


def test_label_values_are_escaped() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert selector({"x": 'say "hi"'}) == '{x="say \\"hi\\""}'
