from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "lifelong.loyalty"
