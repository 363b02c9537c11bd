"""URL routing: map a method and a path to a handler and its parameters.

Patterns are paths with ``{name}`` parameters: ``{name}`` matches one segment
(``[^/]+``), ``{name:int}`` a run of digits converted to :class:`int`, and
``{name:path}`` the rest of the path including slashes (possibly empty).
Routes without parameters are found by one dict lookup and win over
parameterised ones; parameterised routes are tried in the order they were added.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import attrs

from .exceptions import HTTPError
from .health import healthz, readyz
from .http import static
from .metrics import MetricsSource, metrics_handler

__all__ = ["Router", "App"]

_F = TypeVar("_F", bound=Callable[..., Any])

_PARAM_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?\}")
_CONVERTERS: dict[str, tuple[str, Callable[[str], Any] | None]] = {
    "str": ("[^/]+", None),
    "int": ("[0-9]+", int),
    "path": (".*", None),
}
_DEFAULT_METHODS = frozenset({"GET", "HEAD"})


def _normalize_methods(methods: Collection[str] | None) -> frozenset[str]:
    if methods is None:
        return _DEFAULT_METHODS
    normalized = {method.upper() for method in methods}
    if "GET" in normalized:
        normalized.add("HEAD")  # HEAD is allowed wherever GET is (RFC 7231 4.3.2)
    return frozenset(normalized)


@attrs.frozen(slots=True)
class _Route:
    pattern: str
    handler: Any
    methods: frozenset[str]
    regex: re.Pattern[str] | None
    converters: tuple[tuple[str, Callable[[str], Any]], ...]

    def match(self, path: str) -> dict[str, Any] | None:
        """The route parameters if *path* matches this parameterised route."""
        assert self.regex is not None
        match = self.regex.fullmatch(path)
        if match is None:
            return None
        params: dict[str, Any] = match.groupdict()
        for name, convert in self.converters:
            try:
                params[name] = convert(params[name])
            except ValueError:  # e.g. more digits than int() accepts
                return None
        return params


def _compile(pattern: str) -> tuple[re.Pattern[str] | None, tuple[tuple[str, Any], ...]]:
    """Compile *pattern*; ``None`` for a pattern without parameters."""
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern must start with '/': {pattern!r}")
    parts: list[str] = []
    converters: list[tuple[str, Any]] = []
    names: set[str] = set()
    pos = 0
    for match in _PARAM_RE.finditer(pattern):
        literal = pattern[pos : match.start()]
        if "{" in literal or "}" in literal:
            raise ValueError(f"malformed route pattern: {pattern!r}")
        name, kind = match.group(1), match.group(2) or "str"
        if kind not in _CONVERTERS:
            raise ValueError(f"unknown converter {kind!r} in route pattern {pattern!r}")
        if name in names:
            raise ValueError(f"duplicate parameter {name!r} in route pattern {pattern!r}")
        names.add(name)
        regex, convert = _CONVERTERS[kind]
        parts += (re.escape(literal), f"(?P<{name}>{regex})")
        if convert is not None:
            converters.append((name, convert))
        pos = match.end()
    rest = pattern[pos:]
    if "{" in rest or "}" in rest:
        raise ValueError(f"malformed route pattern: {pattern!r}")
    if not names:
        return None, ()
    parts.append(re.escape(rest))
    return re.compile("".join(parts)), tuple(converters)


@attrs.define(slots=True)
class Router:
    """Routes ``(method, path)`` to a handler; no I/O, so it is tested directly."""

    _static: dict[str, list[_Route]] = attrs.field(factory=dict, init=False)
    _dynamic: list[_Route] = attrs.field(factory=list, init=False)

    def add(self, pattern: str, handler: Any, methods: Collection[str] | None = None) -> None:
        """Add a route; *methods* defaults to GET and HEAD.

        Raises :class:`ValueError` for a malformed pattern or an unknown converter.
        """
        regex, converters = _compile(pattern)
        route = _Route(pattern, handler, _normalize_methods(methods), regex, converters)
        if regex is None:
            self._static.setdefault(pattern, []).append(route)
        else:
            self._dynamic.append(route)

    def handlers(self) -> list[Any]:
        """Every route's handler, once each, in the order the routes were added
        (static routes first); :func:`ws.asgi`'s lifespan startup walks them."""
        seen: dict[int, Any] = {}
        for routes in self._static.values():
            for route in routes:
                seen.setdefault(id(route.handler), route.handler)
        for route in self._dynamic:
            seen.setdefault(id(route.handler), route.handler)
        return list(seen.values())

    def resolve(self, method: str, path: str) -> tuple[Any, dict[str, Any]]:
        """The handler and parameters for *method* and *path*.

        Raises :class:`HTTPError` 404 when no route matches the path, and 405
        with an ``Allow`` header when routes match the path but not the method.
        """
        allowed: set[str] = set()
        for route in self._static.get(path, ()):
            if method in route.methods:
                return route.handler, {}
            allowed |= route.methods
        for route in self._dynamic:
            params = route.match(path)
            if params is None:
                continue
            if method in route.methods:
                return route.handler, params
            allowed |= route.methods
        if allowed:
            # RFC 7231 6.5.5: a 405 MUST carry Allow with the methods the target supports
            raise HTTPError(405, "method not allowed", headers=[("Allow", ", ".join(sorted(allowed)))])
        raise HTTPError(404, "not found")


@attrs.define(slots=True)
class App:
    """An application: a router filled with decorators, which the server serves.

    ``metrics=True`` serves Prometheus metrics at ``/metrics`` (the same as
    calling :meth:`mount_metrics`); off by default."""

    router: Router = attrs.field(factory=Router)
    metrics: bool = attrs.field(default=False, kw_only=True)
    metrics_sources: list[MetricsSource] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        if self.metrics:
            self.mount_metrics()

    def route(self, pattern: str, methods: Collection[str] | None = None) -> Callable[[_F], _F]:
        """Decorator adding a route; returns the function unchanged so decorators stack."""

        def decorator(handler: _F) -> _F:
            self.router.add(pattern, handler, methods)
            return handler

        return decorator

    def add_route(self, pattern: str, handler: Any, methods: Collection[str] | None = None) -> None:
        """Add a route without a decorator."""
        self.router.add(pattern, handler, methods)

    def mount_static(self, prefix: str, directory: str | os.PathLike[str]) -> None:
        """Serve the files under *directory* at ``prefix/...`` (see :func:`ws.http.static`)."""
        self.router.add(prefix.rstrip("/") + "/{path:path}", static(directory))

    def mount_health(self, healthz_path: str = "/healthz", readyz_path: str = "/readyz") -> None:
        """Serve the health probes (see :mod:`ws.health`): *healthz_path* answers
        200 while the process serves, *readyz_path* 200 while it takes new
        connections and 503 (with the reasons, as JSON) otherwise."""
        self.router.add(healthz_path, healthz)
        self.router.add(readyz_path, readyz)

    def mount_metrics(self, path: str = "/metrics", *, registry: Any = "default") -> None:
        """Serve Prometheus metrics at *path* (see :mod:`ws.metrics`): the server's
        connections, messages and closes, and what every metrics source adds (a
        route handler with ``collect_metrics``, such as a ``rooms.Lobby``, or one
        given to :meth:`add_metrics_source`).  *registry* (a ``prometheus_client``
        registry) is appended: by default its default registry, with the process
        metrics; ``None`` for none.  Needs the ``metrics`` extra when scraped."""
        self.metrics = True
        self.router.add(path, metrics_handler(registry))

    def add_metrics_source(self, source: MetricsSource) -> None:
        """Have every scrape of ``/metrics`` call ``source.collect_metrics(builder)``
        too (for what is not a route handler: a lobby mounted behind a wrapper)."""
        self.metrics_sources.append(source)
