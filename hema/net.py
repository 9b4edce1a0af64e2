"""The client's address, trusting ``X-Forwarded-For`` only from our own proxies.

``HEMA_TRUSTED_PROXY_COUNT`` is how many proxies in front of the app append or
set the header (nginx in deploy/nginx.conf sets it to the address it saw: 1).
With 0, the default, the header is ignored and ``REMOTE_ADDR`` is the client:
a header the client made up never names another address. With N, the N-th
entry from the right is the client, as DRF's throttles count it (``NUM_PROXIES``
is set from the same setting), so log-in lock-outs and throttles agree.
"""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote_addr = request.META.get("REMOTE_ADDR", "")
    proxies = settings.HEMA_TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote_addr
    addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
    if not addresses:
        return remote_addr
    return addresses[-min(proxies, len(addresses))]
