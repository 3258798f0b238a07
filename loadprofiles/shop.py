"""Load for the demo shop: browse the home page, open product pages, look at the cart."""

import random

from locust import task

from harness.load.locust_support import ChaosHttpUser


class ShopUser(ChaosHttpUser):
    @task(5)
    def browse(self) -> None:
        self.call("/", name="home")

    @task(3)
    def product(self) -> None:
        self.call(f"/product/{random.randint(1, 20)}", name="product")

    @task(1)
    def cart(self) -> None:
        self.call("/cart", name="cart")
