"""Prometheus metrics: ``/metrics`` in the text exposition format.

Off by default; ``ws.App(metrics=True)`` or ``app.mount_metrics()`` turns it on.
The exposition is written by ``prometheus_client`` (the ``metrics`` extra),
imported when the first scrape comes, so an app without metrics never loads it.

Nothing here runs per message.  Sockets count what they carry in plain
integers (``messages_received``, ``messages_sent``) and the server keeps the
totals of those gone and their close codes (``Server.traffic()``); a scrape
reads them, and asks each *metrics source* to add its own: a route handler
with a ``collect_metrics(builder)`` method (a ``rooms.Lobby`` has one) or an
object given to ``app.add_metrics_source``.  A source adds samples to a
:class:`MetricsBuilder`, which knows nothing of Prometheus: samples of one
family from several sources are merged, and samples with equal labels add up
(two lobbies with the same name count as one), so the exposition never lists
a family twice.  :class:`MetricsCollector` turns that into
``prometheus_client`` families: register one in your own registry to serve
these metrics from a host application's ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from .http import Request, Response

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

__all__ = ["MetricFamily", "MetricsBuilder", "MetricsCollector", "MetricsSource", "collect", "collect_server", "exposition", "metrics_handler", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_KINDS = ("counter", "gauge", "histogram")
_INF = float("inf")


@attrs.define(slots=True, eq=False)
class MetricFamily:
    """One metric and its samples, by label values.

    ``kind`` is ``"counter"``, ``"gauge"`` or ``"histogram"``.  A counter's
    name ends with ``_total``.  A histogram has ``buckets`` (upper bounds, in
    increasing order; ``+Inf`` is implied) and takes whole distributions with
    :meth:`add_histogram`.
    """

    name: str
    kind: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    values: dict[tuple[str, ...], float] = attrs.field(factory=dict)
    # histograms: label values -> (count per bucket, +Inf last; sum)
    distributions: dict[tuple[str, ...], tuple[list[int], float]] = attrs.field(factory=dict)

    def _key(self, labels: Sequence[object]) -> tuple[str, ...]:
        if len(labels) != len(self.labels):
            raise ValueError(f"{self.name} has labels {self.labels}, given {tuple(labels)!r}")
        return tuple("" if value is None else str(value) for value in labels)

    def add(self, labels: Sequence[object], value: float) -> None:
        """Add *value* to the sample with these label values (created at 0)."""
        if self.kind == "histogram":
            raise TypeError(f"{self.name} is a histogram: use add_histogram")
        key = self._key(labels)
        self.values[key] = self.values.get(key, 0.0) + value

    def add_histogram(self, labels: Sequence[object], counts: Sequence[int], total: float) -> None:
        """Add a distribution: *counts* observations per bucket (not cumulative;
        one more than ``buckets``, the last for values above them all) summing to *total*."""
        if self.kind != "histogram":
            raise TypeError(f"{self.name} is a {self.kind}: use add")
        if len(counts) != len(self.buckets) + 1:
            raise ValueError(f"{self.name} has {len(self.buckets) + 1} buckets, given {len(counts)} counts")
        key = self._key(labels)
        old, old_total = self.distributions.get(key, ([0] * len(counts), 0.0))
        self.distributions[key] = ([a + b for a, b in zip(old, counts, strict=True)], old_total + total)


class MetricsBuilder:
    """What a scrape collects into: families by name, created on first use.

    ``server`` is the server being scraped (``None`` when a collector has none).
    Asking for an existing family with another kind, labels or buckets raises
    :class:`ValueError`.  :meth:`once` lets a source shared by several others
    (a cluster backend behind several lobbies) add its samples once.
    """

    def __init__(self, server: Any = None) -> None:
        self.server = server
        self._families: dict[str, MetricFamily] = {}
        self._seen: set[int] = set()

    def family(self, name: str, kind: str, help: str, labels: Sequence[str] = (), buckets: Sequence[float] = ()) -> MetricFamily:
        """The family *name*, made if new (see :class:`MetricFamily` for *kind*)."""
        if kind not in _KINDS:
            raise ValueError(f"unknown metric kind {kind!r}")
        if kind == "counter" and not name.endswith("_total"):
            raise ValueError(f"a counter's name ends with _total: {name!r}")
        found = self._families.get(name)
        if found is None:
            found = self._families[name] = MetricFamily(name, kind, help, tuple(labels), tuple(buckets))
        elif (found.kind, found.labels, found.buckets) != (kind, tuple(labels), tuple(buckets)):
            raise ValueError(f"metric {name!r} asked for as {kind} {tuple(labels)} and as {found.kind} {found.labels}")
        return found

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> MetricFamily:
        return self.family(name, "counter", help, labels)

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> MetricFamily:
        return self.family(name, "gauge", help, labels)

    def histogram(self, name: str, help: str, labels: Sequence[str], buckets: Sequence[float]) -> MetricFamily:
        return self.family(name, "histogram", help, labels, buckets)

    def once(self, source: object) -> bool:
        """True the first time *source* is named in this scrape, False after."""
        if id(source) in self._seen:
            return False
        self._seen.add(id(source))
        return True

    def families(self) -> list[MetricFamily]:
        """The families collected, in the order they were first asked for."""
        return list(self._families.values())


class MetricsSource(Protocol):
    """What adds metrics to a scrape (a ``rooms.Lobby``, or your own object)."""

    def collect_metrics(self, builder: MetricsBuilder) -> None:
        """Add this source's samples to *builder* (synchronously: a scrape must be quick)."""


def collect_server(server: Any, builder: MetricsBuilder) -> None:
    """The server's own metrics: open connections, messages, closes by code."""
    if server is None:
        return
    sockets = server.websockets
    builder.gauge("ws_connections", "Open WebSocket connections.").add((), len(sockets))
    builder.gauge("ws_http_connections", "Open HTTP connections (not upgraded).").add((), server.statistics()["http_connections"])
    traffic = server.traffic()
    builder.counter("ws_messages_received_total", "WebSocket messages received (text and binary).").add((), traffic.messages_received)
    builder.counter("ws_messages_sent_total", "WebSocket messages sent (text and binary).").add((), traffic.messages_sent)
    closes = builder.counter("ws_closes_total", "WebSocket connections ended, by close code (1006: lost without a close).", ("code",))
    for code, count in sorted(traffic.closes.items()):
        closes.add((code,), count)
    builder.gauge("ws_server_closing", "1 while the server shuts down (draining), else 0.").add((), 1 if server.closing else 0)


def collect(app: Any, server: Any, extra: Iterable[MetricsSource] = ()) -> MetricsBuilder:
    """Everything one scrape reports: the server's metrics, then each source's
    (the app's route handlers with ``collect_metrics``, its added sources, *extra*)."""
    builder = MetricsBuilder(server)
    collect_server(server, builder)
    sources: list[Any] = [h for h in app.router.handlers() if callable(getattr(h, "collect_metrics", None))]
    sources += list(getattr(app, "metrics_sources", ()))
    sources += list(extra)
    for source in sources:
        if builder.once(source):
            source.collect_metrics(builder)
    return builder


def _prometheus_families(builder: MetricsBuilder) -> Iterator[Any]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    for family in builder.families():
        labels = list(family.labels)
        if family.kind == "histogram":
            hist = HistogramMetricFamily(family.name, family.help, labels=labels)
            for key, (counts, total) in family.distributions.items():
                cumulative, running = [], 0
                for bound, count in zip((*family.buckets, _INF), counts, strict=True):
                    running += count
                    cumulative.append((_bound(bound), running))
                hist.add_metric(list(key), cumulative, total)
            yield hist
            continue
        kind = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
        metric = kind(family.name, family.help, labels=labels)
        for key, value in family.values.items():
            metric.add_metric(list(key), value)
        yield metric


def _bound(bound: float) -> str:
    return "+Inf" if bound == _INF else repr(float(bound))


class MetricsCollector:
    """A ``prometheus_client`` custom collector for an app: register it in a
    registry of yours (``REGISTRY.register(MetricsCollector(app, lambda:
    asgi_app.server))``) to serve these metrics from another ``/metrics``.
    *server* is the server, or a function returning it (``None`` before it exists)."""

    def __init__(self, app: Any, server: Any = None) -> None:
        self.app = app
        self._server = server

    def collect(self) -> Iterator[Any]:
        server = self._server() if callable(self._server) else self._server
        yield from _prometheus_families(collect(self.app, server))

    def describe(self) -> list[Any]:
        return []  # collected fresh on each scrape: nothing to check at registration


def exposition(app: Any, server: Any, registry: CollectorRegistry | None) -> bytes:
    """The text exposition of one scrape: our metrics, then *registry*'s (the
    process collectors and the app's own ``prometheus_client`` metrics)."""
    try:
        from prometheus_client import CollectorRegistry, generate_latest
    except ImportError:  # pragma: no cover - the extra is missing
        raise RuntimeError("metrics need prometheus_client: pip install 'wsrooms[metrics]'") from None
    ours = CollectorRegistry(auto_describe=False)
    ours.register(MetricsCollector(app, server))
    text: bytes = generate_latest(ours)
    if registry is not None:
        text += generate_latest(registry)
    return text


def metrics_handler(registry: Any = "default") -> Callable[[Request], Any]:
    """The ``/metrics`` route handler: a scrape of the server that received the
    request and of its app.  *registry* is appended (``"default"``: the
    ``prometheus_client`` default registry, with the process metrics; ``None``: none)."""

    async def metrics(request: Request) -> Response:
        reg = registry
        if reg == "default":
            from prometheus_client import REGISTRY

            reg = REGISTRY
        server = request.server
        app = getattr(server, "app", None)
        if app is None:
            return Response.error(503, "no app to report on")
        body = exposition(app, server, reg)
        return Response(200, body, [("Content-Type", CONTENT_TYPE)])

    return metrics

