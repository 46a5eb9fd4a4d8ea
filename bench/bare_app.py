"""The baseline for ``bench_webhooks.py``: a bare ASGI endpoint that does no work.

It reads the request body (as the hub must) and answers 200 with a small JSON body, nothing
else: no framework, no signature check, no database, no Redis. It is served by exactly the
``uvicorn.run`` call that ``partnerhub web`` makes (same host, loop/http auto-detection, log
level and process count), so the ratio hub/bare measures the hub's own work.

    .venv/bin/python bench/bare_app.py --port 8090 [--processes 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

_BODY = b'{"received": 0, "duplicates": 0}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:  # drain the body, as the hub does before answering
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    # The same call as hub/cli.py's `web` command, with this module instead of webhook_app.
    uvicorn.run(
        "bare_app:app",
        host=args.host,
        port=args.port,
        workers=args.processes,
        log_level="warning",
        app_dir=str(Path(__file__).resolve().parent),
    )


if __name__ == "__main__":
    main()
