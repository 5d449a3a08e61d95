#!/usr/bin/env python3
"""Talk to a HyperFed hub or worker with the official MCP Python SDK.

Needs the SDK first:  pip install mcp   (tested with mcp 2.3.0)

Usage:
    python examples/python_client.py URL [--token T] [--mode legacy|auto|2026-07-28]
                                     [--log-level LEVEL] [--call TOOL [--args JSON]] [--confirm yes|no|cancel]
    python examples/python_client.py URL --prompts | --prompt NAME [--args JSON]
    python examples/python_client.py URL --complete PROMPT ARG PREFIX [--args JSON]
    python examples/python_client.py URL --resources | --read URI
    python examples/python_client.py URL --watch URI [--seconds N]    (legacy mode)

Without an action it lists the tools. --prompts lists the prompts, --prompt prints one with
--args as its arguments, --complete prints the completions of a prompt argument (--args are
the arguments already chosen), --resources lists the resources, --read prints one, and --watch
subscribes to one and prints "updated URI" when it changes (exit 0), or exits 1 after
--seconds without a change. --log-level asks for the server's log messages at that level
(debug, info, warning, error) and prints each to stderr as "log LEVEL JSON".

With --confirm the client declares elicitation: a destructive call then asks its yes/no
question (printed on stderr) and gets this answer, instead of answering a preview with a
confirm_token. The token defaults to $HYPERFED_TOKEN. A failure prints one line saying what went wrong
(exit code 2); a tool error prints the result (exit code 1).
"""

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
import warnings

# The SDK warns that logging and resources/subscribe are deprecated in 2026-07-28; this
# example uses them on purpose (2025-era sessions still have them).
warnings.filterwarnings("ignore", message=".*deprecated.*")
warnings.filterwarnings("ignore", message=".*removed as of 2026-07-28.*")

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


async def on_log(params) -> None:
    """Prints one server log message to stderr."""
    print(f"log {params.level} {json.dumps(params.data)}", file=sys.stderr, flush=True)


async def run(opts, headers) -> int:
    transport = streamable_http_client(opts.url, http_client=create_mcp_http_client(headers=headers))
    updated = asyncio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            print(f"updated {message.params.uri}", flush=True)
            updated.set()

    asker = answer_with(opts.confirm) if opts.confirm else None
    async with Client(transport, mode=opts.mode, elicitation_callback=asker, logging_callback=on_log,
                      log_level=opts.log_level, message_handler=on_message) as client:
        if opts.log_level and opts.mode == "legacy":
            await client.set_logging_level(opts.log_level)
        args = json.loads(opts.args)
        if opts.prompts:
            for p in (await client.list_prompts()).prompts:
                names = ", ".join(a.name + ("" if a.required else "?") for a in p.arguments or [])
                print(f"{p.name:22} ({names}) {p.title or ''}")
            return 0
        if opts.prompt:
            result = await client.get_prompt(opts.prompt, {k: str(v) for k, v in args.items()})
            for m in result.messages:
                print(m.content.text)
            return 0
        if opts.complete:
            prompt, arg, prefix = opts.complete
            done = await client.complete(types.PromptReference(name=prompt), {"name": arg, "value": prefix},
                                         context_arguments={k: str(v) for k, v in args.items()} or None)
            c = done.completion
            print(json.dumps({"values": c.values, "total": c.total, "has_more": c.has_more}))
            return 0
        if opts.resources:
            for r in (await client.list_resources()).resources:
                print(f"{r.uri:44} {r.title or r.name}")
            return 0
        if opts.read:
            for c in (await client.read_resource(opts.read)).contents:
                print(c.text)
            return 0
        if opts.watch:
            await client.subscribe_resource(opts.watch)
            print(f"subscribed {opts.watch}", flush=True)
            try:
                await asyncio.wait_for(updated.wait(), timeout=opts.seconds)
            except TimeoutError:
                print(f"no update of {opts.watch} within {opts.seconds} s", file=sys.stderr)
                return 1
            return 0
        if opts.call:
            result = await client.call_tool(opts.call, args)
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
    parser.add_argument("--args", default="{}", help="JSON arguments for --call, --prompt or --complete")
    parser.add_argument("--prompts", action="store_true", help="list the prompts")
    parser.add_argument("--prompt", help="print one prompt (arguments from --args)")
    parser.add_argument("--complete", nargs=3, metavar=("PROMPT", "ARG", "PREFIX"),
                        help="complete a prompt argument")
    parser.add_argument("--resources", action="store_true", help="list the resources")
    parser.add_argument("--read", metavar="URI", help="print one resource")
    parser.add_argument("--watch", metavar="URI", help="subscribe to a resource; exit 0 on its first update")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long --watch waits")
    parser.add_argument("--log-level", choices=["debug", "info", "notice", "warning", "error"],
                        help="print the server's log messages at this level and above to stderr")
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
