"""Lobby lifecycle edges: TaskGroups in games, shutdown, option checking."""

import asyncio
import logging

import pytest

import rooms
import ws
from tests.rooms.helpers import lobby_app, seat
from tests.support import Bot, close_all, running, scaled


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


async def test_a_drain_lets_a_running_game_finish_and_stops_matching_at_once():
    """SIGTERM with the memory backend: the room that ends within drain_timeout
    ends as usual (its result, 1000); a player still waiting for a match is told
    at once (``server_shutdown``, 1001) and is never matched."""

    async def game(room):
        player, msg = await room.receive()  # the last move, made during the drain
        return {"last": msg, "by": player.seat}

    app, lobby = lobby_app(2, game)
    async with running(app, limits=ws.ServerLimits(drain_timeout=scaled(20))) as server:
        a, b = await seat(server, ["a", "b"])
        waiting = await Bot.connect(server, "/game", name="c")
        await waiting.recv_type("lobby")
        server.close()
        error = await waiting.recv_type("error")
        assert error["error"] == "server_shutdown"
        assert (await waiting.closed()).code == 1001
        a.send({"move": "last"})
        ended = await b.recv_type("ended")
        assert ended["result"] == {"last": {"move": "last"}, "by": 0}
        for bot in (a, b):
            assert (await bot.closed()).code == 1000
        await asyncio.wait_for(server.wait_closed(), scaled(10))
    assert [result for _, result in lobby.results] == [{"last": {"move": "last"}, "by": 0}]


async def test_shutdown_skips_a_waiting_player_whose_socket_is_already_closing(caplog):
    """A waiting player's socket closing (its close callbacks not run yet) when
    the server shuts down: nothing is sent on it, no error, and the players
    after it are still told."""

    async def game(room):
        return None

    app, lobby = lobby_app(3, game)
    caplog.set_level(logging.ERROR)
    async with running(app) as server:
        first = await Bot.connect(server, "/game", name="first")
        await first.recv_type("lobby")
        second = await Bot.connect(server, "/game", name="second")
        await second.recv_type("lobby")
        closing = next(t.payload.sock for t in lobby.backend.waiting_tickets(lobby) if t.payload.identity["name"] == "first")
        closing.close(1000, "bye")  # closing now; gone (the callbacks) only after the peer answers
        server.close()
        assert (await first.closed()).code == 1000
        assert (await second.recv_type("error"))["error"] == "server_shutdown"
        assert (await second.closed()).code == 1001
        await asyncio.wait_for(server.wait_closed(), scaled(10))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_game_still_running_after_the_drain_ends_with_1001():
    async def game(room):
        await room.receive()

    app, lobby = lobby_app(2, game)
    async with running(app, limits=ws.ServerLimits(drain_timeout=0.3)) as server:
        a, b = await seat(server, ["a", "b"])
        server.close()
        for bot in (a, b):
            messages, closed = await bot.messages_until_closed()
            ended = [m for m in messages if isinstance(m, dict) and m.get("type") == "ended"]
            assert ended and ended[0]["error"] == "server shutting down"
            assert closed.code == 1001
    assert list(lobby.results) == []


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
