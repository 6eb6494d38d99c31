"""A webhook receiver for the benchmarks, in a process of its own: answers every POST with 204
and notes the wall-clock arrival time of each `webhook-id`. `GET /arrivals` returns them;
`GET /counts` returns how many times each `webhook-id` arrived, per path (duplicates included).

    python bench/_receiver.py PORT
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import uvicorn

_arrivals: dict[str, float] = {}
_counts: dict[str, dict[str, int]] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["method"] == "GET":
        body = json.dumps(_counts if scope["path"] == "/counts" else _arrivals).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    for name, value in scope["headers"]:
        if name == b"webhook-id":
            _arrivals.setdefault(value.decode(), time.time())
            per_path = _counts.setdefault(scope["path"], {})
            per_path[value.decode()] = per_path.get(value.decode(), 0) + 1
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
