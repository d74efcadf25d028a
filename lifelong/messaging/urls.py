"""Provider callbacks and inbound messages: /hooks/messaging/<provider>.

Each view authenticates the way its provider signs requests and reads its settings from
the active ChannelConfig of its channel.
"""

from django.urls import path

from lifelong.messaging.channels.max.hooks import max_webhook
from lifelong.messaging.channels.sms.gateway_hooks import sms_gateway_webhook
from lifelong.messaging.channels.sms.hooks import smsru_callback
from lifelong.messaging.channels.telegram.hooks import telegram_webhook
from lifelong.messaging.channels.vk.hooks import vk_callback
from lifelong.messaging.channels.whatsapp.hooks import whatsapp_webhook

app_name = "messaging_hooks"
urlpatterns = [
    path("smsru", smsru_callback, name="smsru"),
    path("sms-gateway", sms_gateway_webhook, name="sms_gateway"),
    path("telegram", telegram_webhook, name="telegram"),
    path("vk", vk_callback, name="vk"),
    path("max", max_webhook, name="max"),
    path("whatsapp", whatsapp_webhook, name="whatsapp"),
]
