"""Istio's validating webhook in front of the sandbox's store.

istiod's ``validation.istio.io`` webhook refuses an invalid networking object before it is stored;
the API server then answers 400 with ``admission webhook "validation.istio.io" denied the request:
configuration is invalid: ...`` (staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/errors,
``ToStatusErr`` raises codes below 400 to 400). The checks are the harness's own Istio models, the
same ones that translate the config for Envoy, so what is stored is what istiod can push.
"""

from __future__ import annotations

from typing import Any

from harness.errors import InputError
from harness.sandbox._api._registry import ApiError
from harness.sandbox._api._resources import ISTIO_GROUP, Resource

WEBHOOK = "validation.istio.io"


def istio_admission(resource: Resource, obj: dict[str, Any]) -> None:
    if resource.group != ISTIO_GROUP:
        return
    from harness.istio import parse_istio_object
    from harness.istio._resources import RESOURCE_KINDS

    if resource.kind not in RESOURCE_KINDS:  # ServiceEntry, Sidecar: stored as sent, as their schemas allow
        return
    meta = obj.get("metadata") or {}
    candidate = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                 "metadata": {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta},
                 "spec": obj.get("spec") or {}}
    try:
        parse_istio_object(candidate)
    except InputError as exc:
        reasons = "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in exc.problems) or exc.message
        raise ApiError(400, "BadRequest", f'admission webhook "{WEBHOOK}" denied the request: configuration is '
                                          f"invalid: {reasons}") from None
