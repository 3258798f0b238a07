"""The sandbox's Kubernetes API server (run as ``python -m harness.sandbox._api CONFIG.json``) and its kubeconfig."""

from harness.sandbox._api._admission import istio_admission
from harness.sandbox._api._kubeconfig import write_kubeconfig
from harness.sandbox._api._server import ApiServer, serve

__all__ = ["ApiServer", "istio_admission", "serve", "write_kubeconfig"]
