"""factory_boy factories shared by the test suites."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from lifelong import clock
from lifelong.accounts.models import Role, User
from lifelong.commerce.models import Order, Product
from lifelong.customers.models import Customer, Gender
from lifelong.followups.models import Task


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    role = Role.OWNER
    password = factory.django.Password("correct-horse-battery")


class CustomerFactory(factory.django.DjangoModelFactory[Customer]):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"C{n:06d}")
    first_name = "Анна"
    last_name = factory.Sequence(lambda n: f"Иванова{n}")
    gender = Gender.FEMALE
    email = factory.Sequence(lambda n: f"anna{n}@example.ru")
    phone = factory.Sequence(lambda n: f"+7916{n:07d}")


class ProductFactory(factory.django.DjangoModelFactory[Product]):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n}")
    name = factory.Sequence(lambda n: f"Коврик для йоги {n}")
    category = "Коврики"
    price = Decimal("1990.00")


class OrderFactory(factory.django.DjangoModelFactory[Order]):
    class Meta:
        model = Order

    external_id = factory.Sequence(lambda n: f"O{n:07d}")
    customer = factory.SubFactory(CustomerFactory)
    total = Decimal("1990.00")
    placed_at = factory.LazyFunction(clock.now)


class TaskFactory(factory.django.DjangoModelFactory[Task]):
    class Meta:
        model = Task

    customer = factory.SubFactory(CustomerFactory)
    title = "Позвонить и спросить, как коврик"
    due_at = factory.LazyFunction(lambda: clock.now() + dt.timedelta(days=1))


def damaged(token: str) -> str:
    """The token with one character changed, a few from its end.

    Not the last characters: in base64 they carry padding bits, so a fixed replacement such as
    "xx" sometimes decodes to the very bytes it replaced and the forged token still opens.
    """
    at = len(token) - 6
    return token[:at] + ("B" if token[at] == "A" else "A") + token[at + 1 :]
