"""A restore that keeps failing ends the run with the exact command that finishes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.errors import HarnessError, TransientBackendError
from harness.experiment import load_experiment_text
from harness.mesh import MemoryBackend
from harness.runner import RunOptions, Target, _Run

VS = yaml.safe_load("""
metadata: {name: reviews, namespace: shop}
spec: {hosts: [reviews], http: [{name: main, route: [{destination: {host: reviews}}]}]}
""")
EXPERIMENT = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: broken-restore}
target: {namespace: shop}
faults: [{host: reviews, abort: {httpStatus: 503}}]
"""


class BrokenAfterInject(MemoryBackend):
    """Accepts the inject, then every write fails as an unreachable API server would."""

    broken = False

    def replace_object(self, obj: dict) -> dict:
        if self.broken:
            raise TransientBackendError("Kubernetes API unreachable: connection refused")
        return super().replace_object(obj)


def test_failed_restore_names_the_command_to_finish_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.mesh._faults.time.sleep", lambda _: None)  # skip the backoff waits
    backend = BrokenAfterInject([VS])
    target = Target(backend, "http://127.0.0.1:1", None, revert_options="--backend kubernetes --context staging")
    (loaded,) = load_experiment_text(EXPERIMENT)
    run = _Run(loaded, target, RunOptions(tmp_path))
    run.inject()
    backend.broken = True
    with pytest.raises(HarnessError) as caught:
        run.revert()
    assert "could not restore shop/reviews" in caught.value.message
    assert caught.value.hint == f"finish it with: harness revert {run.run_id} --backend kubernetes --context staging"
    assert run.result.changes[0].restore.startswith("FAILED")
