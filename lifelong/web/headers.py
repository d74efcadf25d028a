"""Content-Security-Policy and Permissions-Policy on every response.

Pages load scripts and styles only from our own static files: no inline script, event
handler or style attribute runs, so markup that slips through escaping cannot act. Chart
data travels in `json_script` blocks, which are data, not scripts. Message HTML (staff-written
email) is shown in a sandboxed frame from its own URL with a policy of its own: its inline
styles and remote images render there, its scripts never do.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        # The web push service worker of the portal; the message HTML frames of the staff UI.
        "worker-src 'self'",
        "frame-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)

# Message HTML in a frame of our own page: what email clients render, nothing that runs.
# `sandbox` keeps the document in an opaque origin even when opened on its own.
MESSAGE_HTML_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src * data:",
        "font-src * data:",
        "frame-ancestors 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "sandbox",
    ]
)

# Nothing in the product uses these browser features; a page that tried would be refused.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in [
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    ]
)


class SecurityHeadersMiddleware:
    """Adds the policies to every response that has not set its own (see `message_html`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


def message_html(html: str) -> HttpResponse:
    """Staff-written message HTML as a document for a sandboxed frame on our own pages."""
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = MESSAGE_HTML_POLICY
    # The clickjacking middleware would say DENY; these frames sit on our own pages.
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
