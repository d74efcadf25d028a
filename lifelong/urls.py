from django.urls import include, path

from lifelong.api.urls import api
from lifelong.web.views.health import healthz, metrics

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/v1/", api.urls),
    path("hooks/messaging/", include("lifelong.messaging.urls")),
    path("hooks/", include("lifelong.api.webhook_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("c/", include("lifelong.web.portal.urls")),
    path("", include("lifelong.web.urls")),
]
