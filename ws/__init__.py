"""``ws``: a complete WebSocket (RFC 6455, RFC 7692) implementation for asyncio.

The seed API: messages (``TextMessage`` is a ``str``, ``DataMessage`` a
``bytes``), a ``WebSocket`` you ``await`` for the next message, ``mux`` to read
many at once, ``endpoint`` and ``aggregate`` request handlers, and ``client`` /
``connect`` on the client side; ``asgi`` serves an app from an ASGI server.  A disconnect reaches game code as
:class:`Closed`, a subclass of :class:`asyncio.CancelledError`.
"""

from . import exceptions as _exceptions
from . import messages as _messages
from .asgiapp import ASGIApp, ASGIServer, asgi
from .asgisocket import ASGISocket
from .client import client, connect
from .closecodes import CloseCode
from .connection import Options, WebSocket, broadcast
from .deflate import DeflateConfig
from .endpoint import accept, aggregate, endpoint
from .exceptions import *  # noqa: F403  (the exception tree: exceptions.__all__)
from .http import Request, Response, static
from .http11 import Headers
from .logs import JSONFormatter, configure_logging
from .messages import *  # noqa: F403  (messages.__all__)
from .metrics import MetricFamily, MetricsBuilder, MetricsCollector
from .mux import Mux, mux
from .reader import MessageReader
from .routing import App, Router
from .server import Server, ServerLimits, run, serve
from .socket import MessageSocket, ReadyListener

__all__ = [
    *_messages.__all__,
    # connections
    "MessageSocket",
    "ReadyListener",
    "MessageReader",
    "WebSocket",
    "Options",
    "DeflateConfig",
    "mux",
    "Mux",
    "broadcast",
    # server
    "App",
    "Router",
    "Request",
    "Response",
    "Headers",
    "static",
    "endpoint",
    "aggregate",
    "accept",
    "serve",
    "run",
    "Server",
    "ServerLimits",
    # metrics
    "MetricsBuilder",
    "MetricFamily",
    "MetricsCollector",
    # logging
    "configure_logging",
    "JSONFormatter",
    # ASGI
    "asgi",
    "ASGIApp",
    "ASGIServer",
    "ASGISocket",
    # client
    "connect",
    "client",
    # close codes and exceptions
    "CloseCode",
    *_exceptions.__all__,
]

__version__ = "0.1.0"
