from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "lifelong.messaging"
