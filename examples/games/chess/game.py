"""The rules side of the chess example: a pure class, no I/O, no asyncio.

:class:`ChessGame` wraps a ``chess.Board`` (python-chess) with what a server
needs on top of the rules: server-side chess clocks with increment (read from an
injectable ``now`` function, so tests drive time by hand), draw offers,
resignation, abandonment, a flag fall, the automatic draws (stalemate,
insufficient material, the fifty-move rule, threefold repetition) and the PGN
of the game.  The rooms handler (:mod:`.app`) only moves messages in and out.

Colours are python-chess's booleans (``chess.WHITE`` is True); on the wire they
are the strings ``"white"`` and ``"black"``.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from typing import Any

import attrs
import chess
import chess.pgn

__all__ = ["ChessGame", "IllegalMove", "TimeControl", "color_name"]

_PIECE_NAMES = {chess.PAWN: "pawn", chess.KNIGHT: "knight", chess.BISHOP: "bishop", chess.ROOK: "rook", chess.QUEEN: "queen", chess.KING: "king"}
_TC_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[+ ]\s*(\d+(?:\.\d+)?)\s*$")


def color_name(color: chess.Color) -> str:
    return "white" if color == chess.WHITE else "black"


class IllegalMove(ValueError):
    """A move the rules refuse; ``str(exc)`` is the reason, fit to show the player."""


@attrs.frozen(slots=True)
class TimeControl:
    """*initial* seconds on each clock and *increment* seconds added after each move."""

    name: str
    initial: float
    increment: float = 0.0

    @classmethod
    def parse(cls, text: str) -> TimeControl:
        """``"3+2"``: 3 minutes plus 2 seconds per move (a space stands for ``+``,
        as a ``+`` in a query string decodes to a space).  Raises ValueError."""
        match = _TC_RE.match(text)
        if match is None:
            raise ValueError(f"not a time control: {text!r} (expected minutes+increment, like 3+2)")
        minutes, increment = float(match.group(1)), float(match.group(2))
        if minutes <= 0:
            raise ValueError("a time control needs some time on the clock")
        return cls(f"{match.group(1)}+{match.group(2)}", minutes * 60, increment)

    @property
    def pgn(self) -> str:
        """The PGN ``TimeControl`` tag: ``180+2``."""
        return f"{self.initial:g}+{self.increment:g}"


@attrs.frozen(slots=True)
class Outcome:
    result: str  # "1-0", "0-1", "1/2-1/2", or "*" for an aborted game
    reason: str  # checkmate, resignation, timeout, stalemate, agreement, aborted, ...
    winner: chess.Color | None

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result, "reason": self.reason, "winner": None if self.winner is None else color_name(self.winner)}


def _win(color: chess.Color, reason: str) -> Outcome:
    return Outcome("1-0" if color == chess.WHITE else "0-1", reason, color)


def _draw(reason: str) -> Outcome:
    return Outcome("1/2-1/2", reason, None)


class ChessGame:
    """One game of chess with clocks.

    The clock of the side to move runs from :meth:`start` until the game ends
    (a server calls it after White's first move, so that no clock runs before it).
    Every method that changes the game first checks the flag, so a move sent
    after the player's time ran out loses on time rather than being played.
    Methods that a player may call wrongly raise :class:`IllegalMove`.
    """

    def __init__(
        self,
        time_control: TimeControl,
        *,
        white: str = "White",
        black: str = "Black",
        fen: str | None = None,
        now: Callable[[], float] = time.monotonic,
        event: str = "Casual game",
        site: str = "rooms example server",
        date: datetime.date | None = None,
    ) -> None:
        self.time_control = time_control
        self.names = {chess.WHITE: white, chess.BLACK: black}
        self.board = chess.Board(fen) if fen else chess.Board()
        self._now = now
        self._left = {chess.WHITE: time_control.initial, chess.BLACK: time_control.initial}
        self._since: float | None = None  # when the running clock started
        self.draw_offer: chess.Color | None = None
        self.outcome: Outcome | None = None
        self.event = event
        self.site = site
        self.date = date or datetime.date.today()
        self._sans: list[str] = []
        self._ucis: list[str] = []  # (kept as the moves are made: to_json runs on every move)
        self.clock_log: list[dict[str, float]] = []  # both clocks after each move, for replays

    # ------------------------------------------------------------------ clocks

    @property
    def started(self) -> bool:
        return self._since is not None or self.outcome is not None

    @property
    def over(self) -> bool:
        return self.outcome is not None

    @property
    def turn(self) -> chess.Color:
        return self.board.turn

    def start(self) -> None:
        """Start the clock of the side to move (white, in a new game)."""
        if self._since is None and self.outcome is None:
            self._since = self._now()

    def remaining(self, color: chess.Color) -> float:
        """Seconds left on *color*'s clock (live for the running one, never negative)."""
        left = self._left[color]
        if self._since is not None and color == self.board.turn and self.outcome is None:
            left -= self._now() - self._since
        return max(0.0, left)

    def check_flag(self) -> bool:
        """End the game if the side to move has run out of time; True if the game is over.

        FIDE 6.9: the player whose flag fell loses, unless the opponent cannot
        mate by any series of legal moves, which makes it a draw.
        """
        if self.outcome is None and self._since is not None and self.remaining(self.board.turn) <= 0:
            loser = self.board.turn
            self._stop_clock()
            if self.board.has_insufficient_material(not loser):
                self._finish(_draw("timeout vs insufficient material"))
            else:
                self._finish(_win(not loser, "timeout"))
        return self.outcome is not None

    def _stop_clock(self) -> None:
        if self._since is not None:
            self._left[self.board.turn] = self.remaining(self.board.turn)
            self._since = None

    # ------------------------------------------------------------------ moves

    def parse_move(self, color: chess.Color, text: str, *, notation: str = "uci") -> chess.Move:
        """The move *color* means by *text* (UCI like ``e7e8q``, or SAN like ``Nf3``).

        Raises :class:`IllegalMove` with a reason when it cannot be played.
        """
        if self.check_flag():
            raise IllegalMove("the game is over")
        if color != self.board.turn:
            raise IllegalMove("it is not your turn")
        if not isinstance(text, str) or not text or len(text) > 10:
            raise IllegalMove("a move is a short string, like e2e4")
        board = self.board
        if notation == "san":
            try:
                return board.parse_san(text)
            except chess.IllegalMoveError:
                raise IllegalMove(f"{text} is not legal here") from None
            except chess.AmbiguousMoveError:
                raise IllegalMove(f"{text} is ambiguous: say which piece") from None
            except ValueError:
                raise IllegalMove(f"{text!r} is not a move in SAN") from None
        try:
            move = chess.Move.from_uci(text.strip().lower())
        except chess.InvalidMoveError:
            move = chess.Move.null()
        if not move:
            raise IllegalMove(f"{text!r} is not a move (expected squares like e2e4, e7e8q to promote)")
        if board.is_legal(move):
            return move
        raise IllegalMove(self._why_illegal(move))

    def _why_illegal(self, move: chess.Move) -> str:
        board = self.board
        piece = board.piece_at(move.from_square)
        start, end = chess.square_name(move.from_square), chess.square_name(move.to_square)
        if piece is None:
            return f"there is no piece on {start}"
        if piece.color != board.turn:
            return f"the piece on {start} is not yours"
        name = _PIECE_NAMES[piece.piece_type]
        last_rank = chess.square_rank(move.to_square) in (0, 7)
        if piece.piece_type == chess.PAWN and last_rank and move.promotion is None:
            if board.is_legal(chess.Move(move.from_square, move.to_square, chess.QUEEN)):
                return "a pawn reaching the last rank must promote: choose a piece (e.g. e7e8q)"
        if move.promotion == chess.KING:
            return "a pawn cannot promote to a king"
        if move.promotion is not None and (piece.piece_type != chess.PAWN or not last_rank):
            return "only a pawn reaching the last rank can promote"
        if board.is_pseudo_legal(move):
            if board.is_castling(move):
                return "you cannot castle out of or through check"
            if board.is_check():
                return f"you are in check: {name} {start}-{end} does not get out of it"
            return f"{name} {start}-{end} would leave your king in check"
        if piece.piece_type == chess.KING and abs(chess.square_file(move.from_square) - chess.square_file(move.to_square)) == 2:
            return "you cannot castle now (the king or rook has moved, or pieces are in the way)"
        return f"a {name} cannot move from {start} to {end}"

    def move(self, color: chess.Color, text: str, *, notation: str = "uci") -> dict[str, Any]:
        """Play *color*'s move; returns ``{uci, san, color}``.  Raises :class:`IllegalMove`.

        Stops the mover's clock (adding the increment), starts the other's, clears a
        draw offer made to the mover, and ends the game on mate or an automatic draw.
        """
        move = self.parse_move(color, text, notation=notation)
        board = self.board
        if self._since is not None:
            now = self._now()
            self._left[color] = max(0.0, self._left[color] - (now - self._since)) + self.time_control.increment
            self._since = now
        san = board.san(move)
        board.push(move)
        self._sans.append(san)
        self._ucis.append(move.uci())
        self.clock_log.append({"white": round(self.remaining(chess.WHITE), 3), "black": round(self.remaining(chess.BLACK), 3)})
        if self.draw_offer is not None and self.draw_offer != color:
            self.draw_offer = None  # moving declines the opponent's offer
        self._check_end()
        return {"uci": move.uci(), "san": san, "color": color_name(color)}

    def _check_end(self) -> None:
        board = self.board
        outcome = board.outcome(claim_draw=False)
        if outcome is not None:
            reasons = {
                chess.Termination.CHECKMATE: "checkmate",
                chess.Termination.STALEMATE: "stalemate",
                chess.Termination.INSUFFICIENT_MATERIAL: "insufficient material",
                chess.Termination.SEVENTYFIVE_MOVES: "seventy-five-move rule",
                chess.Termination.FIVEFOLD_REPETITION: "fivefold repetition",
            }
            reason = reasons.get(outcome.termination, outcome.termination.name.lower())
            self._finish(_win(outcome.winner, reason) if outcome.winner is not None else _draw(reason))
        elif board.is_fifty_moves():
            self._finish(_draw("fifty-move rule"))
        elif board.is_repetition(3):
            self._finish(_draw("threefold repetition"))

    # ------------------------------------------------------------------ other actions

    def resign(self, color: chess.Color) -> None:
        self._require_playing()
        self._finish(_win(not color, "resignation"))

    def abort(self) -> None:
        """End the game without a result (PGN ``*``): nobody made a first move in time."""
        if self.outcome is None:
            self._stop_clock()
            self.draw_offer = None
            self.outcome = Outcome("*", "aborted", None)

    def abandon(self, color: chess.Color) -> None:
        """*color* left for good (their seat's grace time ran out)."""
        if self.outcome is None:
            self._finish(_win(not color, "abandoned"))

    def offer_draw(self, color: chess.Color) -> bool:
        """Offer a draw; if the opponent had offered one, this accepts it.  True if the game is drawn."""
        self._require_playing()
        if self.draw_offer == (not color):
            self._finish(_draw("agreement"))
            return True
        if self.draw_offer == color:
            raise IllegalMove("you have already offered a draw")
        self.draw_offer = color
        return False

    def accept_draw(self, color: chess.Color) -> None:
        self._require_playing()
        if self.draw_offer != (not color):
            raise IllegalMove("there is no draw offer to accept")
        self._finish(_draw("agreement"))

    def decline_draw(self, color: chess.Color) -> None:
        self._require_playing()
        if self.draw_offer != (not color):
            raise IllegalMove("there is no draw offer to decline")
        self.draw_offer = None

    def _require_playing(self) -> None:
        if self.check_flag():
            raise IllegalMove("the game is over")

    def _finish(self, outcome: Outcome) -> None:
        self._stop_clock()
        self.draw_offer = None
        self.outcome = outcome

    # ------------------------------------------------------------------ views

    def pgn(self) -> str:
        """The game in PGN, with its headers and result."""
        game = chess.pgn.Game.from_board(self.board)
        headers = game.headers
        headers["Event"] = self.event
        headers["Site"] = self.site
        headers["Date"] = self.date.strftime("%Y.%m.%d")
        headers["Round"] = "-"
        headers["White"] = self.names[chess.WHITE]
        headers["Black"] = self.names[chess.BLACK]
        headers["Result"] = self.outcome.result if self.outcome else "*"
        headers["TimeControl"] = self.time_control.pgn
        if self.outcome is not None:
            headers["Termination"] = {"timeout": "time forfeit", "abandoned": "abandoned", "aborted": "unterminated"}.get(self.outcome.reason, "normal")
        exporter = chess.pgn.StringExporter(headers=True, variations=False, comments=False)
        return game.accept(exporter)

    def to_json(self) -> dict[str, Any]:
        """Everything a client needs to draw the game: position, moves, clocks, result."""
        board = self.board
        last = self._ucis[-1] if self._ucis else None
        return {
            "fen": board.fen(),
            "moves": list(self._sans),
            "uci": list(self._ucis),
            "last": last,
            "turn": color_name(board.turn),
            "check": board.is_check(),
            "clocks": {"white": round(self.remaining(chess.WHITE), 3), "black": round(self.remaining(chess.BLACK), 3)},
            "running": None if self._since is None or self.outcome else color_name(board.turn),
            "time_control": {"name": self.time_control.name, "initial": self.time_control.initial, "increment": self.time_control.increment},
            "names": {"white": self.names[chess.WHITE], "black": self.names[chess.BLACK]},
            "draw_offer": None if self.draw_offer is None else color_name(self.draw_offer),
            "outcome": None if self.outcome is None else self.outcome.to_json(),
        }
