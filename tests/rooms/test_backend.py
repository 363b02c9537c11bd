"""The backend contract and the named data around it: what a backend must
implement, the lobby key, the wire messages, PlayerLeft."""

from __future__ import annotations

import asyncio
import copy

import pytest

import rooms
import ws
from rooms import wire
from rooms.backend import Backend
from rooms.cluster.queues import key_of_queue, queue_name


async def game(room):
    return None


def test_backend_is_abstract():
    with pytest.raises(TypeError):
        Backend()  # type: ignore[abstract]
    assert issubclass(rooms.MemoryBackend, Backend)
    assert issubclass(rooms.RedisBackend, Backend)
    assert rooms.Backend is Backend


async def test_a_lobby_builds_and_attaches_its_memory_backend():
    lobby = rooms.Lobby(2, game)
    assert isinstance(lobby.backend, rooms.MemoryBackend)
    assert lobby.waiting() == 0 and lobby.rooms == []
    with pytest.raises(ValueError, match="one lobby"):
        rooms.Lobby(2, game, backend=lobby.backend)


async def test_an_empty_backend_passed_in_is_used():
    backend = rooms.MemoryBackend(3)
    assert len(backend) == 0  # falsy, yet the lobby must not replace it
    assert rooms.Lobby(3, game, backend=backend).backend is backend


async def test_lobby_tokens_come_from_the_backend_secret_unless_the_lobby_has_one():
    shared = b"a secret every process shares"

    class Shared(rooms.MemoryBackend):
        @property
        def secret(self) -> bytes | None:
            return shared

    signer = rooms.TokenSigner(shared)
    token, _ = signer.issue("room1", 0)
    assert rooms.Lobby(2, game, backend=Shared(2)).tokens.verify(token) is not None
    own = rooms.Lobby(2, game, backend=Shared(2), secret="the lobby's own secret")
    assert own.tokens.verify(token) is None
    assert rooms.Lobby(2, game).tokens.verify(token) is None  # no shared secret: a random one


def test_lobby_key_is_a_frozen_hashable_value():
    key = rooms.LobbyKey("/chess", "blitz", "K7QM2D")
    assert key == rooms.LobbyKey("/chess", "blitz", "K7QM2D")
    assert {key: 1}[rooms.LobbyKey("/chess", "blitz", "K7QM2D")] == 1
    assert rooms.LobbyKey("/chess") == rooms.LobbyKey("/chess", None, None)
    assert (key.path, key.mode, key.code) == ("/chess", "blitz", "K7QM2D")
    with pytest.raises(AttributeError):
        key.code = None  # type: ignore[misc]


@pytest.mark.parametrize("key", [rooms.LobbyKey("/g"), rooms.LobbyKey("/g", "turns", "ABC234"), rooms.LobbyKey("/a|b", 3, None)])
def test_the_redis_queue_name_is_derived_from_the_key(key):
    name = queue_name("duel", key)
    assert name.startswith("duel|")
    assert key_of_queue(name) == key


def test_wire_messages_are_those_of_the_protocol():
    alice = {"seat": 0, "name": "alice", "connected": True}
    assert wire.lobby_status(1, 2, 1) == {"type": "lobby", "have": 1, "need": 2, "position": 1}
    assert wire.lobby_status(1, 2, 1, "K7QM2D")["code"] == "K7QM2D"
    paused = wire.lobby_paused(2)
    assert paused["status"] == "paused" and "have" not in paused and "position" not in paused
    assert wire.matched("r", 0, "t", 30, [alice]) == {
        "type": "matched", "room": "r", "seat": 0, "token": "t", "reconnect": 30, "players": [alice]
    }
    assert wire.player_left(alice, None) == {"type": "player_left", "player": alice, "reconnect": None}
    assert wire.player_returned(alice) == {"type": "player_returned", "player": alice}
    assert wire.resumed("r", 0, [alice], {"turn": 1})["state"] == {"turn": 1}
    assert wire.spectating("r", [alice], None) == {"type": "spectating", "room": "r", "players": [alice], "state": None}
    assert wire.error("not_your_turn", "it is alice's turn") == {
        "type": "error", "error": "not_your_turn", "detail": "it is alice's turn"
    }
    assert wire.ended("r", {"winner": 0}) == {"type": "ended", "room": "r", "result": {"winner": 0}}
    assert wire.ended("r", error="internal error") == {"type": "ended", "room": "r", "result": None, "error": "internal error"}


def test_player_left_is_a_closed_carrying_the_player():
    player = rooms.Player(1, "bob", {"name": "bob"}, None)
    exc = rooms.PlayerLeft(player, code=1000, reason="player left")
    assert isinstance(exc, ws.Closed) and isinstance(exc, asyncio.CancelledError)
    assert not isinstance(exc, Exception)
    assert (exc.player, exc.code, exc.reason, exc.message) == (player, 1000, "player left", None)
    copied = copy.copy(exc)
    assert isinstance(copied, rooms.PlayerLeft) and copied.player is player and copied.code == 1000
