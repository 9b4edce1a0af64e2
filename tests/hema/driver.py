"""Serves requests read from stdin through Django's test client (for
``tests.hema.faults.DjangoProcess``): one JSON request a line in, one JSON answer
a line out, with the time the request took."""

import json
import sys
import time

import django


def main() -> None:
    django.setup()
    from django.db import close_old_connections
    from django.test import Client

    client = Client(raise_request_exception=False)
    for line in sys.stdin:
        command = json.loads(line)
        extra = command["extra"]
        started = time.perf_counter()
        response = getattr(client, command["method"].lower())(command["path"], **extra)
        elapsed = time.perf_counter() - started
        # What a real server does at the end of a request (the test client
        # leaves it out): drop a connection that failed, so the next request
        # connects again.
        close_old_connections()
        body = response.content.decode("utf-8", "replace")
        print(
            json.dumps(
                {
                    "status": response.status_code,
                    "headers": dict(response.headers),
                    "body": body,
                    "seconds": elapsed,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
