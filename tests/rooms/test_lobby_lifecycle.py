"""Lobby lifecycle edges: TaskGroups in games, shutdown, option checking."""

import asyncio
import logging

import pytest

import rooms
import ws
from tests.rooms.helpers import lobby_app, seat
from tests.support import close_all, running


async def test_a_player_leaving_a_taskgroup_game_is_a_result_not_a_crash(caplog):
    """A TaskGroup wraps the leave (ws.Closed) in a BaseExceptionGroup; the lobby
    still records a player_left result and logs no error."""

    async def game(room):
        async def read():
            async for _ in room:
                pass

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(asyncio.sleep(30))  # a sibling still running when the player leaves
            await read()

    app, lobby = lobby_app(2, game)
    caplog.set_level(logging.ERROR)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        await b.aclose()
        ended = await a.recv_type("ended")
        assert ended["result"] == {"reason": "player_left", "player": {"seat": 1, "name": "b", "connected": False}}
        assert (await a.closed()).code == 1000
    assert lobby.results[-1][1]["reason"] == "player_left"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_leave_names_the_socket_that_went_away():
    seen = []

    async def game(room):
        sock = room.players[1].sock
        try:
            async for _ in room:
                pass
        except ws.Closed as exc:
            seen.append((exc.player.seat, exc.socket is sock))
            raise

    app, _ = lobby_app(2, game)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        await b.aclose()
        await a.recv_type("ended")
        await close_all([a])
    assert seen == [(1, True)]


async def test_shutdown_tells_players_why_before_closing_with_1001():
    async def game(room):
        await asyncio.sleep(30)  # a game still running when the server shuts down

    app, lobby = lobby_app(2, game)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        await server.aclose()
        for bot in (a, b):
            messages, closed = await bot.messages_until_closed()
            ended = [m for m in messages if isinstance(m, dict) and m.get("type") == "ended"]
            assert ended and ended[0]["result"] is None and ended[0]["error"] == "server shutting down"
            assert closed.code == 1001
    assert list(lobby.results) == []  # an interrupted game has no result


def test_a_misspelt_option_fails_when_the_lobby_is_built():
    async def game(room):
        return None

    with pytest.raises(TypeError):
        rooms.Lobby(2, game, max_mesage_size=10)


async def test_max_buffer_reaches_the_room():
    sizes = []

    async def game(room):
        sizes.append(room.max_buffer)
        return None

    app, _ = lobby_app(2, game, max_buffer=4096)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        await a.recv_type("ended")
        await close_all([a, b])
    assert sizes == [4096]
