"""``python -m harness.sandbox._api CONFIG.json``: run the sandbox's API server until SIGTERM.

CONFIG: ``data_dir`` (snapshot and PKI), ``port`` (0 picks a free one), ``ready_file`` (written with
the URL and CA once serving), ``static_tokens`` ({token: {username, groups}}), optionally
``istio_versions``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from harness.sandbox._api import ApiServer, istio_admission, serve
from harness.sandbox._api._storage import Store
from harness.sandbox._api._tls import ensure_serving_files


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = json.loads(Path(sys.argv[1]).read_text())
    data_dir = Path(config["data_dir"])
    data_dir.mkdir(parents=True, exist_ok=True)
    pki = ensure_serving_files(data_dir / "pki")
    store = Store(data_dir / "store.json")
    api = ApiServer(store, static_tokens=config["static_tokens"], admission=istio_admission,
                    istio_versions=tuple(config.get("istio_versions") or ("v1", "v1beta1", "v1alpha3")),
                    ca_cert=pki.ca_cert.read_bytes())
    server = serve(api, host="127.0.0.1", port=int(config.get("port") or 0), cert=str(pki.cert), key=str(pki.key))
    url = f"https://127.0.0.1:{server.server_address[1]}"
    ready = Path(config["ready_file"])
    temporary = ready.with_suffix(".tmp")
    temporary.write_text(json.dumps({"url": url, "ca_cert": str(pki.ca_cert), "pid": os.getpid()}))
    os.replace(temporary, ready)
    logging.getLogger("harness.sandbox.apiserver").info("serving on %s", url)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
