"""The shared test helpers, in one place (docs/testing.md describes them).

- :mod:`.timing`: ``scaled(seconds)`` (every bound on a wait), ``TIMEOUT``, ``eventually`` (and ``eventually_blocking``);
- :mod:`.server`: ``running(app)``, ``url``, ``raw_request``, ``http_get``, ``settled``, ``echo_app``;
- :mod:`.endpoint`: ``endpoint_app(body)`` and ``returned``/``raised``, ``closed_by_server``, ``close_client``;
- :mod:`.bot`: ``Bot``, the one JSON client of the rooms, examples and cluster tests;
- :mod:`.raw`: hand-made requests and frames for the hostile and limit tests.
"""

from .bot import Bot, close_all
from .endpoint import close_client, close_quietly, closed_by_server, endpoint_app, raised, returned
from .raw import close_payload, frame, open_raw, read_close_code, read_eof, read_frame, read_head, reset
from .raw import status_of, still_serves, upgrade_request
from .server import ZERO, HasPort, echo_app, http_get, raw_request, running, settled, url
from .timing import FACTOR, FACTOR_REASONS, TIMEOUT, eventually, eventually_blocking, scaled

__all__ = [
    "FACTOR",
    "FACTOR_REASONS",
    "TIMEOUT",
    "ZERO",
    "Bot",
    "HasPort",
    "close_all",
    "close_client",
    "close_payload",
    "close_quietly",
    "closed_by_server",
    "echo_app",
    "endpoint_app",
    "eventually",
    "eventually_blocking",
    "frame",
    "http_get",
    "open_raw",
    "raised",
    "raw_request",
    "read_close_code",
    "read_eof",
    "read_frame",
    "read_head",
    "reset",
    "returned",
    "running",
    "scaled",
    "settled",
    "status_of",
    "still_serves",
    "upgrade_request",
    "url",
]
