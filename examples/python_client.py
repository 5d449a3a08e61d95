#!/usr/bin/env python3
"""Talk to a HyperFed hub or worker with the official MCP Python SDK (`pip install mcp`).

Usage:
    python examples/python_client.py URL [--token T] [--mode legacy|auto|2026-07-28]
                                     [--call TOOL [--args JSON]]

Without --call it lists the tools. The token defaults to $HYPERFED_TOKEN.
"""

import argparse
import asyncio
import json
import os
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="MCP endpoint, e.g. http://127.0.0.1:8000/mcp")
    parser.add_argument("--token", default=os.environ.get("HYPERFED_TOKEN"))
    parser.add_argument("--mode", default="legacy", help="legacy (initialize handshake), auto, or 2026-07-28")
    parser.add_argument("--call", help="tool to call")
    parser.add_argument("--args", default="{}", help="JSON arguments for --call")
    opts = parser.parse_args()

    headers = {"Authorization": f"Bearer {opts.token}"} if opts.token else None
    transport = streamable_http_client(opts.url, http_client=create_mcp_http_client(headers=headers))
    async with Client(transport, mode=opts.mode) as client:
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


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
