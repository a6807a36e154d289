"""A function written for Fn's own Python FDK (fdk 0.1.x), unchanged."""

import json
import socket

from fdk import response


def handler(ctx, data=None):
    body = data.getvalue().decode() if data is not None else ""
    if body == "whoami":
        return response.Response(ctx, response_data=socket.gethostname())
    if body == "http":
        return response.Response(
            ctx, response_data="created", status_code=201, headers={"X-Fn": "yes"}
        )
    return response.Response(
        ctx,
        response_data=json.dumps({"hello": body or "world"}),
        headers={"Content-Type": "application/json"},
    )
