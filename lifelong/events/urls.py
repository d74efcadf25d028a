from django.urls import path

from lifelong.events.webhooks import webhook_receive

app_name = "events"
urlpatterns = [
    path("<slug:slug>", webhook_receive, name="webhook"),
]
