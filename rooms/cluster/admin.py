"""The admin page on a cluster: every process's snapshot, and actions sent to
the process that hosts the room, through the bus.

The process serving the page asks each live node (the ``nodes`` set, checked
against each node's key) for its snapshot with an ADMIN message and waits
(bounded) for the ADMIN_REPLY; an action goes the same way to one node.  Each
node answers from its own lobbies (:func:`rooms.admin.lobby_snapshot`,
:func:`rooms.admin.act`), in a task its server owns.  Nothing runs unless the
page asks.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from ..admin import act, lobby_snapshot
from ..lobby import Lobby
from .bus import Bus, Kind
from .local import Local
from .store import REDIS_ERRORS, Store

__all__ = ["ClusterAdmin"]

_STATE = "state"
_ACTION = "action"


class ClusterAdmin:
    """Both ends of the admin page's requests for node ``store.node``."""

    __slots__ = ("_store", "_bus", "_local", "_pending")

    def __init__(self, store: Store, bus: Bus, local: Local) -> None:
        self._store = store
        self._bus = bus
        self._local = local
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        bus.handle(Kind.ADMIN, self._on_request)
        bus.handle(Kind.ADMIN_REPLY, self._on_reply)

    # ------------------------------------------------------------------ asking

    async def _live_nodes(self) -> list[str]:
        store = self._store
        members = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in await store.r.smembers(store.key("nodes")))
        others = [node for node in members if node != store.node]
        if not others:
            return []
        pipe = store.r.pipeline(transaction=False)
        for node in others:
            pipe.exists(store.key("node:" + node))
        return [node for node, alive in zip(others, await pipe.execute(), strict=True) if alive]

    async def _ask(self, node: str, kind: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        req_id = secrets.token_hex(8)
        reply = self._pending[req_id] = asyncio.get_running_loop().create_future()
        self._bus.send(node, Kind.ADMIN, req_id, self._store.node, kind, json.dumps(payload))
        try:
            return await asyncio.wait_for(reply, timeout)
        except TimeoutError:
            return {"error": f"process {node} did not answer within {timeout:g} s"}
        finally:
            self._pending.pop(req_id, None)

    async def snapshots(self, timeout: float) -> list[dict[str, Any]]:
        """The snapshot of every other live node (or an ``error`` for each that did not answer)."""
        try:
            nodes = await self._live_nodes()
        except REDIS_ERRORS as exc:
            self._store.failed(exc)
            return [{"error": "Redis cannot be reached: other processes are not shown"}]
        return list(await asyncio.gather(*(self._ask(node, _STATE, {}, timeout) for node in nodes)))

    async def action(self, node: str, action: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run *action* on *node*; its answer."""
        answer = await self._ask(node, _ACTION, action, timeout)
        if "error" in answer:
            return {"ok": False, "detail": answer["error"]}
        return answer

    def _on_reply(self, req_id: str, payload: str) -> None:
        reply = self._pending.get(req_id)
        if reply is not None and not reply.done():
            reply.set_result(json.loads(payload))

    # ------------------------------------------------------------------ answering

    def _on_request(self, req_id: str, sender: str, kind: str, payload: str) -> None:
        self._local.spawn(self._answer(req_id, sender, kind, json.loads(payload)))

    async def _answer(self, req_id: str, sender: str, kind: str, payload: dict[str, Any]) -> None:
        lobbies = [lobby for lobby in self._local.lobbies() if isinstance(lobby, Lobby)]
        answer: dict[str, Any]
        if kind == _STATE:
            answer = {"node": self._store.node, "lobbies": [await lobby_snapshot(lobby) for lobby in lobbies]}
        else:
            lobby = next((lb for lb in lobbies if lb.name == payload.get("lobby")), None)
            if lobby is None:
                answer = {"ok": False, "detail": f"no lobby {payload.get('lobby')!r} on {self._store.node}"}
            else:
                seat = payload.get("seat")
                answer = act(lobby, str(payload.get("action")), str(payload.get("room")), int(seat) if seat is not None else None)
        self._bus.send(sender, Kind.ADMIN_REPLY, req_id, json.dumps(answer))
