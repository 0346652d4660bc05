"""Widget: bytes served gzipped, and time from page load to the launcher shown in Chromium.

The gateway is `python -m services.gateway` in its own process (a stand-in for chat
answers the widget's hello, as in bench/idle_sockets.py); a host page on another
origin (served here) pastes the install snippet. Each load is a fresh browser
context of one headless Chromium (Playwright with the Chromium the tests use), so
every load is a first visit that fetches /widget.js. An init script polls every
animation frame for the launcher inside the widget's shadow root, laid out and
visible, and notes `performance.now()` (ms since the navigation started; one frame
is ~16.7 ms, the resolution of the figure). The baseline, interleaved with it in the
same run, is the same page without the snippet: the time to its own content shown,
found the same way. Also the `load` event of both pages (the widget's script is
async: it should not hold the page's load back by much).

Bytes: /widget.js as served with `Accept-Encoding: gzip` (budget 20 KB) and the
loader snippet gzipped (budget 1 KB), each against its budget (not a measurement).

    python -m bench.widget_load [--loads 30] [--reps 3]
    python -m bench.widget_load --loads 5 --reps 1      # quick
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
from typing import Any

import aiohttp
from aiohttp import web
from playwright.async_api import Browser, async_playwright

from bench.common import (
    Record,
    bench_bus,
    bench_settings,
    finish,
    interleaved,
    percentile,
    serve,
    servers,
)
from bench.idle_sockets import chat_stand_in
from bench.ingest import Gateway
from shared.snippet import install_snippet
from tests.support import CHROMIUM_ARGS, chromium_path

BENCH = "widget_load"
WIDGET_BUDGET = 20 * 1024
LOADER_BUDGET = 1024

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1 id="own">A shop on another origin</h1><p>Products, prices, a basket.</p>
{snippet}</body></html>"""

# marks window.__shown when the element `find()` returns is laid out and visible
WATCH = """(() => {
  const find = %s;
  function visible(el) {
    if (!el) return false;
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== "hidden";
  }
  function tick() {
    if (visible(find())) { window.__shown = performance.now(); return; }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
})();"""
LAUNCHER = """() => {
  const host = document.getElementById("parley-widget");
  return host && host.shadowRoot && host.shadowRoot.querySelector(".launcher");
}"""
OWN_CONTENT = '() => document.getElementById("own")'


async def host_site(pages: dict[str, str]) -> tuple[web.AppRunner, str]:
    async def page(request: web.Request) -> web.Response:
        html = pages.get(request.path)
        if html is None:
            raise web.HTTPNotFound()
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner, port = await serve(app)
    return runner, f"http://127.0.0.1:{port}"


async def one_load(browser: Browser, url: str, watch: str) -> dict[str, float]:
    """A first visit: ms from navigation start to the watched element shown, and to `load`."""
    context = await browser.new_context()
    try:
        await context.add_init_script(WATCH % watch)
        page = await context.new_page()
        await page.goto(url, wait_until="load")
        await page.wait_for_function("window.__shown !== undefined", timeout=15_000)
        timing: dict[str, float] = await page.evaluate(
            """() => ({shown: window.__shown,
                       load: performance.getEntriesByType("navigation")[0].loadEventEnd})"""
        )
        return timing
    finally:
        await context.close()


async def served_bytes(gateway_url: str, snippet: str) -> tuple[int, int]:
    """/widget.js as served gzipped, and the loader snippet gzipped."""
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(gateway_url + "/widget.js", headers={"Accept-Encoding": "gzip"}) as r:
            if r.headers.get("Content-Encoding") != "gzip":
                raise RuntimeError("/widget.js was not served gzipped")
            widget = len(await r.read())
    return widget, len(gzip.compress(snippet.encode(), 9))


async def run(args: argparse.Namespace) -> None:
    with servers(with_mongo=False) as srv:
        settings = bench_settings(srv)
        bus = await bench_bus(settings)
        await chat_stand_in(bus)
        pages: dict[str, str] = {}
        host_runner, host = await host_site(pages)
        os.environ["PARLEY_ALLOWED_ORIGINS"] = host  # the gateway process inherits it
        gateway = Gateway(settings, srv.nats.url)
        try:
            await gateway.ready()
            snippet = install_snippet(gateway.url, settings.write_key)
            pages["/with"] = PAGE.format(snippet=snippet)
            pages["/without"] = PAGE.format(snippet="")
            widget_bytes, loader_bytes = await served_bytes(gateway.url, snippet)
            records = await _loads(args, host)
        finally:
            gateway.stop()
            await host_runner.cleanup()
            await bus.close()
    records[:0] = [
        Record(BENCH, "widget.js gzipped", "B", [widget_bytes], "budget", [WIDGET_BUDGET],
               target="<= 20 KB", lower_is_better=True),
        Record(BENCH, "loader snippet gzipped", "B", [loader_bytes], "budget", [LOADER_BUDGET],
               target="<= 1 KB", lower_is_better=True),
    ]  # fmt: skip
    finish(BENCH, records, vars(args))


async def _loads(args: argparse.Namespace, host: str) -> list[Record]:
    samples: dict[str, list[dict[str, float]]] = {"with": [], "without": []}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            await one_load(browser, host + "/with", LAUNCHER)  # warm-up: browser, gateway

            def series(name: str, watch: str) -> Any:
                async def loads() -> float:
                    got = [
                        await one_load(browser, f"{host}/{name}", watch) for _ in range(args.loads)
                    ]
                    samples[name].append({"p50": _pct(got, "shown", 50), "p99": _pct(got, "shown", 99),
                                          "load": _pct(got, "load", 50)})  # fmt: skip
                    return samples[name][-1]["p50"]

                return loads

            await interleaved(
                BENCH,
                f"launcher shown, {args.loads} loads",
                series("with", LAUNCHER),
                series("without", OWN_CONTENT),
                args.reps,
            )
        finally:
            await browser.close()
    ours, theirs = samples["with"], samples["without"]
    cases = (
        ("p50", "to the launcher shown, p50", "page content shown, p50"),
        ("p99", "to the launcher shown, p99", "page content shown, p99"),
        ("load", "to the load event, p50", "load event without the widget, p50"),
    )
    return [
        Record(
            BENCH,
            f"{case} ({args.loads} first visits)",
            "ms",
            [s[key] for s in ours],
            baseline,
            [s[key] for s in theirs],
            lower_is_better=True,
        )
        for key, case, baseline in cases
    ]


def _pct(loads: list[dict[str, float]], key: str, pct: float) -> float:
    return percentile([load[key] for load in loads], pct)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=30, help="page loads per repetition")
    parser.add_argument("--reps", type=int, default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
