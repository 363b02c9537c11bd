"""``rooms``: lobbies, matchmaking, rooms, turns and reconnection on ``ws.aggregate``.

This package is a stub until its issue lands; the WebSocket layer it builds on
is complete in ``ws``.
"""

__all__: list[str] = []
