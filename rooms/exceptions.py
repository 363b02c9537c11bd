"""The exceptions of ``rooms``.

::

    RoomsError
     ├── DecodeError      a client's message is not valid JSON / msgpack
     ├── TurnTimeout      a player's time ran out (also a TimeoutError); ``.player``, ``.flagged``
     └── ArchiveError     the archive's database refuses: corrupt, wrong credentials, ...
          ├── ArchiveUnavailable  it cannot be reached now (down, locked): records wait, retried
          └── SchemaError         its schema is from a newer version of this library

    ws.Closed (an asyncio.CancelledError)
     └── PlayerLeft       a seated player left for good; ``.player``

A player who leaves for good reaches the game as :class:`PlayerLeft`, a
:class:`ws.Closed` as in the seed (game code catching ``ws.Closed`` sees it
too): ``exc.player`` is the :class:`rooms.Player` and ``exc.socket`` the
connection that went away.  A move out of turn is answered with a
``not_your_turn`` error message; it never raises in the game.
"""

from __future__ import annotations

from typing import Any

import ws
from ws.closecodes import CloseCode

__all__ = [
    "RoomsError",
    "DecodeError",
    "TurnTimeout",
    "PlayerLeft",
    "RoomMoved",
    "GameDiverged",
    "ArchiveError",
    "ArchiveUnavailable",
    "SchemaError",
    "CLOSE_CODES",
]


class RoomsError(Exception):
    """Root of the exceptions raised by ``rooms``."""


class DecodeError(RoomsError, ValueError):
    """A message that does not decode; the sender gets an ``error`` reply."""


class TurnTimeout(RoomsError, TimeoutError):
    """The player to move ran out of time: a turn timeout, or their clock's flag fell."""

    def __init__(self, player: Any, *, flagged: bool = False) -> None:
        super().__init__(f"{'flag fell for' if flagged else 'turn timed out for'} {player!r}")
        self.player = player
        self.flagged = flagged


class ArchiveError(RoomsError):
    """The archive's database cannot be used as it is (a corrupt file, a wrong
    password or database name, a schema it cannot read).  Records wait in the
    spool; a query raises it."""


class ArchiveUnavailable(ArchiveError):
    """The archive's database cannot be reached now (down, a locked file, a
    timeout): records wait in the spool and are retried; a query raises it."""


class SchemaError(ArchiveError):
    """The database's schema version is newer than this library's: written by a
    newer release, so this one neither migrates nor writes it."""


class PlayerLeft(ws.Closed):
    """A seated player left for good (no ``reconnect``, a deliberate close, or
    the grace time ran out): raised in the game by ``receive``, ``turn`` and
    ``async for``.  ``player`` is the :class:`rooms.Player`; ``code`` and
    ``reason`` say how they left; ``socket`` is the connection that went away."""

    def __init__(self, player: Any, *, code: int = CloseCode.ABNORMAL_CLOSURE, reason: str = "", socket: Any = None) -> None:
        super().__init__(None, code=code, reason=reason, socket=socket)
        self.player = player

    def __reduce__(self) -> Any:  # keep the player when copied
        return (_rebuild_player_left, (self.player, self.code, self.reason))


def _rebuild_player_left(player: Any, code: int, reason: str) -> PlayerLeft:
    return PlayerLeft(player, code=code, reason=reason)


class RoomMoved(BaseException):
    """This process no longer hosts the room: its lease was lost (the process
    was paused or cut off) or it handed the room over (draining).  Raised in the
    game to stop this copy of it silently; another process carries the room on
    from its log.  A ``BaseException``, so that ``except Exception`` in a game
    does not swallow it."""


class GameDiverged(BaseException):
    """A replay of the room's log made the game send something other than what
    was logged (or read the clock, or wait, where the log says otherwise): the
    game is not deterministic and the room cannot be resumed.  ``str(exc)``
    names the first difference."""


# The close codes the rooms layer sends, by the name its ``error`` messages and
# docs/protocol.md use.  Built from ws.CloseCode, which holds the 4000-range codes
# too (RFC 6455 7.4.2: 4000-4999 are ours to define); the values are CloseCode
# members, so they compare, print and serialise as the integers on the wire.
CLOSE_CODES: dict[str, CloseCode] = {
    "game_over": CloseCode.NORMAL_CLOSURE,
    "server_shutdown": CloseCode.GOING_AWAY,
    "internal_error": CloseCode.INTERNAL_ERROR,
    "host_lost": CloseCode.SERVICE_RESTART,  # cluster: the room's host died (after ``ended``), or (no ``ended``) the room moved: reconnect
    "unavailable": CloseCode.TRY_AGAIN_LATER,  # cluster: Redis or the room's host unreachable; try again
    **{code.name.lower(): code for code in CloseCode if code >= 4000},
}
