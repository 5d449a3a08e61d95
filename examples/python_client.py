#!/usr/bin/env python3
"""Talk to a HyperFed hub or worker with the official MCP Python SDK.

Needs the SDK first:  pip install mcp   (tested with mcp 2.3.0)

Usage:
    python examples/python_client.py URL [--token T] [--mode legacy|auto|2026-07-28]
                                     [--call TOOL [--args JSON]] [--confirm yes|no|cancel]

Without --call it lists the tools. With --confirm the client declares elicitation: a
destructive call then asks its yes/no question (printed on stderr) and gets this answer,
instead of answering a preview with a confirm_token. The token defaults to $HYPERFED_TOKEN. A failure prints
one line saying what went wrong (exit code 2); a tool error prints the result (exit code 1).
"""

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request

try:
    from mcp import Client, types
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client
except ImportError:
    print("error: the MCP Python SDK is not installed: pip install mcp", file=sys.stderr)
    sys.exit(2)


def leaf(exc: BaseException) -> BaseException:
    """The innermost exception of an exception group (the SDK wraps failures in task groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def explain(url: str, headers, exc: BaseException) -> str:
    """One line saying why the session failed, from a plain HTTP probe of the endpoint."""
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "probe", "version": "1"}}}
    body = json.dumps(init).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        **(headers or {}), "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream"})
    try:
        with urllib.request.urlopen(req, timeout=10):
            status, text = 200, ""
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError, ValueError):
        return f"cannot connect to {url}: is the hub (or worker) running there?"
    try:
        said = json.loads(text).get("error", "")
    except (ValueError, AttributeError):
        said = ""
    said = f": {said}" if said else ""
    if status == 401:
        return f"{url} refused the token (HTTP 401{said}); pass --token or set HYPERFED_TOKEN"
    if status in (404, 405):
        return f"nothing serves MCP at {url} (HTTP {status}); the endpoint ends in /mcp"
    if status >= 400:
        return f"{url} answered HTTP {status}{said}"
    return f"the MCP session with {url} failed: {leaf(exc)}"


def answer_with(choice: str):
    """An elicitation callback that shows the question and gives the same answer every time."""

    async def answer(_context, params: types.ElicitRequestParams) -> types.ElicitResult:
        print(f"asked: {params.message}", file=sys.stderr)
        if choice == "yes":
            return types.ElicitResult(action="accept", content={"confirm": True})
        if choice == "no":
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="cancel")

    return answer


async def run(opts, headers) -> int:
    transport = streamable_http_client(opts.url, http_client=create_mcp_http_client(headers=headers))
    asker = answer_with(opts.confirm) if opts.confirm else None
    async with Client(transport, mode=opts.mode, elicitation_callback=asker) as client:
        if opts.call:
            result = await client.call_tool(opts.call, json.loads(opts.args))
            out = result.structured_content if result.structured_content is not None else [
                c.model_dump() for c in result.content
            ]
            print(json.dumps({"is_error": bool(result.is_error), "result": out}, indent=2))
            return 1 if result.is_error else 0
        tools = (await client.list_tools()).tools
        for tool in tools:
            ann = tool.annotations
            flags = []
            if ann is not None:
                flags.append("read-only" if ann.read_only_hint else "mutating")
                if ann.destructive_hint and not ann.read_only_hint:
                    flags.append("destructive")
            print(f"{tool.name:40} {', '.join(flags):24} {(tool.title or '')}")
        print(f"{len(tools)} tools", file=sys.stderr)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="MCP endpoint, e.g. http://127.0.0.1:8000/mcp")
    parser.add_argument("--token", default=os.environ.get("HYPERFED_TOKEN"))
    parser.add_argument("--mode", default="legacy", help="legacy (initialize handshake), auto, or 2026-07-28")
    parser.add_argument("--call", help="tool to call")
    parser.add_argument("--args", default="{}", help="JSON arguments for --call")
    parser.add_argument("--confirm", choices=["yes", "no", "cancel"],
                        help="answer confirmation questions (elicitation) with this")
    opts = parser.parse_args()
    headers = {"Authorization": f"Bearer {opts.token}"} if opts.token else None
    try:
        return asyncio.run(run(opts, headers))
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # the SDK raises exception groups; show one line instead
        print(f"error: {explain(opts.url, headers, exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
