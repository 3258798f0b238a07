"""Load any HTTP service without Python: the requests come from the experiment's load.requests."""

import random

from locust import task

from harness.load.locust_support import ChaosHttpUser, _config


class GenericUser(ChaosHttpUser):
    def on_start(self) -> None:
        super().on_start()  # the user's place in the pacing interval
        self.specs = _config().get("requests", [])
        self.weights = [spec.get("weight", 1) for spec in self.specs]

    @task
    def send(self) -> None:
        spec = random.choices(self.specs, weights=self.weights)[0]
        self.call(spec["path"], name=spec.get("name") or spec["path"], method=spec.get("method", "GET"),
                  headers=spec.get("headers"), body=spec.get("body"))
