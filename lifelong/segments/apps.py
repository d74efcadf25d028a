from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "lifelong.segments"
