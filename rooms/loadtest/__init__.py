"""``python -m rooms.loadtest``: drive bots against a lobby and report what they measured.

    python -m rooms.loadtest ws://127.0.0.1:8000/tictactoe --players 1000 --rate 200 \\
        --duration 60 --bot examples.bots:tictactoe --chart out.png

Players arrive at ``--rate`` per second, each a bot playing games through the
lobby (:mod:`.runner`); a live progress bar (the ``rich`` library, the
``loadtest`` extra) shows them, and the report gives the players matched, the
match wait and move latency (p50, p90, p99, max), and the errors by close
code; ``--json`` prints it for machines, ``--chart`` draws it (matplotlib).

A bot is a function ``bot(message, player)``, or a class whose instances
are (one per game): it gets every message the server sends (decoded JSON)
and returns what to send back (``None``, a message, or a list of them);
``player`` is a :class:`BotPlayer` (seat, room, a ``memory`` dict).  Its
``query`` attribute, if any, adds query parameters (a chess time control).
``examples.bots:tictactoe`` and ``examples.bots:chess`` ship with
the examples.
"""

from .report import percentile, render_text, summary, write_chart
from .runner import Bot, BotPlayer, LoadTest, Progress, load_bot, run

__all__ = ["Bot", "BotPlayer", "LoadTest", "Progress", "load_bot", "run", "summary", "render_text", "percentile", "write_chart"]
