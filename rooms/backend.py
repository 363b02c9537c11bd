"""The backend contract: where a lobby's waiting players and running rooms live,
and how a player reaches a room that another process hosts.

A :class:`rooms.Lobby` owns the flow of every connection: who waits, who is
seated, who may come back or watch, and what each is told.  A :class:`Backend`
stores and transports: it queues tickets and forms groups, keeps the registry
of rooms, and, on a cluster, carries players to the process hosting their room.
Two backends implement it: :class:`rooms.MemoryBackend` (one process, the
default) and :class:`rooms.RedisBackend` (processes sharing a Redis server).

The two sides talk only through public methods: the lobby calls the
:class:`Backend` methods; a backend calls back the :class:`LobbyView` methods
(``open_room`` when a group is complete on the process that hosts it, ``admit``
when a player arrives for a room through another process).  The records they
exchange are defined here: an :class:`Entrant` is the payload of a waiting
:class:`~rooms.matching.Ticket`; a match ends as :class:`Seated` (a room here)
or :class:`Bridged` (a room elsewhere, reached with :meth:`Backend.relay`).

Ordering: a backend whose ``queue``, ``leave`` and ``withdraw`` can complete
without a suspension point should (``MemoryBackend`` does): then a join, the
``lobby`` statuses it causes and the ``matched`` messages of the group it
completes go out with nothing in between, which the lobby's tests rely on.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

import ws
from ws.closecodes import CloseCode

from . import codec
from .exceptions import RoomMoved
from .log import Meta, RoomLog
from .matching import Bands, LobbyKey, Ticket
from .room import Player, Room, Spectator

__all__ = [
    "Backend",
    "LobbyView",
    "Entrant",
    "Seat",
    "Seated",
    "Bridged",
    "Match",
    "Hosted",
    "Elsewhere",
    "Refusal",
    "Resume",
    "Watch",
    "Claim",
    "Entry",
    "Admission",
]


# ---------------------------------------------------------------------- records


@attrs.frozen(slots=True)
class Seated:
    """A match ended with *player* seated in *room*, hosted by this process."""

    room: Room
    player: Player


@attrs.frozen(slots=True)
class Bridged:
    """A match ended in a room hosted by another process: ``await
    backend.relay(handle)`` carries the player there until either end closes.
    ``handle`` is the backend's own."""

    handle: Any


Match = Seated | Bridged


def _future() -> asyncio.Future[Match]:
    return asyncio.get_running_loop().create_future()


@attrs.define(slots=True, eq=False)
class Entrant:
    """A connection waiting in a lobby: the ``payload`` of its :class:`Ticket`.

    ``matched`` resolves once, with :class:`Seated` (set by the lobby's
    ``open_room``) or :class:`Bridged` (set by the backend with :meth:`bridged`).
    """

    sock: ws.MessageSocket = attrs.field(repr=False)
    identity: Any
    request: ws.Request = attrs.field(repr=False)
    matched: asyncio.Future[Match] = attrs.field(factory=_future, repr=False)

    @property
    def waiting(self) -> bool:
        """True until the match is decided."""
        return not self.matched.done()

    def send(self, obj: Any) -> None:
        """Send *obj* as JSON text unless the connection is closed (a lobby status)."""
        if not self.sock.closed:
            self.sock.text(codec.encode_text(obj))

    def seated(self, room: Room, player: Player) -> None:
        """The match ended here: *player* of *room*."""
        self.matched.set_result(Seated(room, player))

    def bridged(self, handle: Any) -> None:
        """The match ended in a room hosted elsewhere; *handle* goes to ``relay``."""
        self.matched.set_result(Bridged(handle))


@attrs.frozen(slots=True)
class Seat:
    """One seat of a group being hosted: the player's identity and socket (a
    ``ws.WebSocket`` here, or the backend's socket for a player connected to
    another process), and the :class:`Entrant` to resolve when it waited here."""

    identity: Any
    sock: Any = attrs.field(repr=False)
    entrant: Entrant | None = attrs.field(default=None, repr=False)


@attrs.frozen(slots=True)
class Hosted:
    """``find_room``: the room runs on this process."""

    room: Room


@attrs.frozen(slots=True)
class Elsewhere:
    """``find_room``: room *room_id* runs on the process named *host*."""

    room_id: str
    host: str


@attrs.frozen(slots=True)
class Refusal:
    """Why a connection is turned away: an ``error`` of docs/protocol.md (a key
    of ``CLOSE_CODES``) and a human-readable detail."""

    error: str
    detail: str


@attrs.frozen(slots=True)
class Resume:
    """A player presenting seat token *token* (``?token=``)."""

    token: str


@attrs.frozen(slots=True)
class Watch:
    """A spectator (``?watch=``)."""


@attrs.frozen(slots=True)
class Claim:
    """A player whose ticket *ticket* was matched while its process was cut off
    from the cluster: it never heard ``matched``; it takes the seat it was given."""

    ticket: str


Entry = Resume | Watch | Claim


@attrs.frozen(slots=True)
class Admission:
    """``LobbyView.admit`` said yes: *player* takes their seat back, or (``None``)
    a spectator joins."""

    room: Room
    player: Player | None
    matched: Any = None  # a Claim's ``matched`` message, sent before the seat is given

    async def enter(self, sock: Any) -> None:
        """Give the seat to *sock*, or let it watch.  A room that moved to another
        process meanwhile closes *sock* with 1013: try again (it reaches the new host)."""
        try:
            if self.matched is not None and not sock.closed:
                sock.text(codec.encode_text(self.matched))
            if self.player is not None:
                await self.room.resume(self.player, sock)
            else:
                await self.room.add_spectator(Spectator(sock))
        except RoomMoved:
            sock.close(CloseCode.TRY_AGAIN_LATER, "the room is moving to another server; try again")


# ---------------------------------------------------------------------- the two sides


class LobbyView(Protocol):
    """What a backend may use of a lobby (:class:`rooms.Lobby` implements it)."""

    @property
    def name(self) -> str:
        """Tells lobbies apart on a shared backend; the same on every process."""

    @property
    def n(self) -> int:
        """Players per room."""

    @property
    def bands(self) -> Bands | None:
        """Rating bands, or ``None`` when the lobby does not rate players."""

    @property
    def durable(self) -> bool | None:
        """Whether its rooms keep an input log: ``None`` follows the backend."""

    def adopt_room(self, log: RoomLog, attach: dict[int, Any], on_live: Any, server: ws.Server) -> Room:
        """Rebuild a durable room from *log* here and run it (see ``Lobby.adopt_room``)."""

    def open_room(self, room_id: str, key: LobbyKey, seats: Sequence[Seat], server: ws.Server) -> Room:
        """Seat *seats* in order in a new room, register it (``add_room``), send
        everyone ``matched``, resolve each seat's entrant, start the game."""

    def admit(self, room_id: str, room: Room | None, entry: Entry) -> Admission | Refusal:
        """Whether *entry* may enter room *room_id* (*room* ``None``: not here)."""


class Backend(abc.ABC):
    """Where a lobby's tickets and rooms live; what a new backend implements.

    ``lobby`` arguments are the calling :class:`LobbyView`: a backend shared by
    several lobbies tells them apart by ``lobby.name``.
    """

    __slots__ = ()

    request_timeout: float = 0.0
    """Seconds the lobby waits for a match that ``withdraw`` said is on its way."""

    # Durable rooms (docs/explanation.md): a backend that keeps input logs
    # overrides these three; the defaults keep no log and hand nothing over.

    def open_log(self, lobby: LobbyView, meta: Meta, *, required: bool = False) -> RoomLog | None:
        """The input log for a room being opened (its :class:`Meta` is the first
        entry), or ``None``: the room keeps none.  *required*: the lobby asked for
        ``durable=True``, so a backend that keeps no log raises ``ValueError``."""
        if required:
            raise ValueError(f"{type(self).__name__} keeps no room logs: durable=True needs one that does")
        return None

    def locate(self, sock: Any) -> tuple[str, str]:
        """Where the connection *sock* of a player is: ``(process, connection id)``
        on a cluster, ``("", "")`` in one process.  Logged with each seat."""
        return ("", "")

    def hand_over(self, room: Room) -> bool:
        """The server is shutting down with *room* running: True if the backend
        hands it to another process (it stops it here, see ``Room.stop``); False
        and the lobby ends it (1001)."""
        return False

    def hands_over(self, room: Room) -> bool:
        """Whether a shutdown hands *room* to another process at once (a durable
        room on a cluster).  If not, the server lets its game run on, for up to
        ``ServerLimits.drain_timeout`` seconds, before the lobby ends it (1001)."""
        return False

    @property
    def paused(self) -> bool:
        """True while matching cannot go on (a cluster's Redis is unreachable);
        ``/readyz`` reports the lobby not ready then.  Never, unless overridden."""
        return False

    def waiting_tickets(self, lobby: LobbyView) -> list[Ticket]:
        """The tickets of *lobby* waiting on this process (their ``key`` gives the
        mode), for ``/metrics`` and the admin page.  None, unless overridden."""
        return []

    def collect_metrics(self, builder: ws.MetricsBuilder) -> None:
        """Add this backend's own metrics to a scrape of ``/metrics`` (once per
        scrape, however many lobbies share it).  Nothing, unless overridden."""

    async def admin_snapshots(self, timeout: float) -> list[dict[str, Any]] | None:
        """For the admin page: a snapshot of each *other* process of this
        backend's cluster (``{"node": ..., "lobbies": [...]}``, or ``{"error":
        ...}`` for one that did not answer within *timeout*), or ``None`` for a
        backend of one process (the base class)."""
        return None

    async def admin_action(self, node: str, action: dict[str, Any], timeout: float) -> dict[str, Any]:
        """For the admin page: run *action* (``action``, ``lobby``, ``room``,
        ``seat``) on process *node*; its answer (``ok``, ``detail``)."""
        return {"ok": False, "detail": f"no process {node!r} here"}

    @property
    @abc.abstractmethod
    def secret(self) -> bytes | None:
        """The seat-token secret every process of this backend shares (once known),
        or ``None``: then a lobby without ``secret=`` draws its own."""

    @abc.abstractmethod
    def attach(self, lobby: LobbyView) -> None:
        """Called once by each lobby that uses this backend, when it is built."""

    @abc.abstractmethod
    async def start(self, server: ws.Server) -> None:
        """Called for every connection before anything else: connect and start
        any background work, owned by *server* (idempotent)."""

    @abc.abstractmethod
    async def queue(self, lobby: LobbyView, ticket: Ticket) -> None:
        """Queue *ticket* (its payload an :class:`Entrant`).  Whenever a group of
        ``lobby.n`` is complete, the process hosting it calls
        ``lobby.open_room``; an entrant of another process gets
        ``Entrant.bridged``.  Whenever a queue changes, tell each entrant
        still waiting in it its place (``Entrant.send``: a ``lobby`` status)."""

    @abc.abstractmethod
    def leave(self, ticket: Ticket) -> bool:
        """Take *ticket* out of its queue now (its connection closed, or the wait
        is over); True if it was waiting here.  Synchronous: called from close
        callbacks."""

    @abc.abstractmethod
    async def withdraw(self, ticket: Ticket) -> bool:
        """Take *ticket* out because the lobby's ``max_wait`` ran out; False if a
        match got there first (then the lobby waits ``request_timeout`` for it)."""

    @abc.abstractmethod
    async def has_key(self, lobby: LobbyView, key: LobbyKey) -> bool | None:
        """Whether anyone waits under *key* (a private code); ``None``: cannot tell."""

    @abc.abstractmethod
    def add_room(self, lobby: LobbyView, room: Room) -> None:
        """A room of *lobby* opened on this process (from ``open_room``)."""

    @abc.abstractmethod
    def remove_room(self, room: Room) -> None:
        """A room hosted here ended."""

    @abc.abstractmethod
    def rooms(self, lobby: LobbyView) -> list[Room]:
        """The rooms of *lobby* running on this process."""

    @abc.abstractmethod
    def waiting_count(self, lobby: LobbyView) -> int:
        """How many players of *lobby* wait on this process."""

    @abc.abstractmethod
    async def find_room(self, lobby: LobbyView, room_id: str) -> Hosted | Elsewhere | Refusal | None:
        """Where room *room_id* runs, for a reconnect or a spectator: here, on
        another process, unknown (``None``), or a :class:`Refusal` when the
        backend cannot tell now."""

    @abc.abstractmethod
    async def request_seat(self, lobby: LobbyView, sock: ws.MessageSocket, where: Elsewhere, entry: Entry) -> Any:
        """Ask the host of ``where`` to let *sock* in (its backend asks its lobby's
        ``admit``): a handle for :meth:`relay`, or a :class:`Refusal`.  Only
        called after ``find_room`` answered :class:`Elsewhere`."""

    @abc.abstractmethod
    async def relay(self, handle: Any) -> None:
        """Carry a player to the remote room of *handle* (from :class:`Bridged` or
        ``request_seat``) and back, until either end closes."""
