from __future__ import annotations

import os
from typing import TYPE_CHECKING

from django.core.wsgi import get_wsgi_application

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from waitress.server import BaseWSGIServer, MultiSocketServer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")
application = get_wsgi_application()


def waitress_server(
    app: WSGIApplication, *, host: str, port: int
) -> BaseWSGIServer | MultiSocketServer:
    """The waitress server `lifelong run` serves with.

    Waitress would drop every X-Forwarded-* header unless told to trust one exact peer
    address and a count of hops; LIFELONG_TRUSTED_PROXIES names networks and the app walks
    X-Forwarded-For from the right. So waitress passes the headers through untouched and
    leaves REMOTE_ADDR the peer, and the app alone decides whom to believe
    (lifelong.lib.proxy for the scheme and host, lifelong.lib.client_ip for the address).
    """
    from waitress.server import create_server

    return create_server(
        app,
        host=host,
        port=port,
        threads=8,
        ident="lifelong",
        clear_untrusted_proxy_headers=False,
    )
