from django.urls import path

from lifelong.api.webhooks import webhook_receive

app_name = "webhooks"
urlpatterns = [
    path("<slug:slug>", webhook_receive, name="receive"),
]
