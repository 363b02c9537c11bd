"""Replay a worked exchange of the docs (a fenced block of ``who → frame`` and
``who ← frame`` lines) against a real server, frame by frame.

What a client sends is the line's text; what it receives must equal the line's
text byte for byte, except where the doc writes ``…`` (anything, as little as
possible) and where it writes one of the doc's example values (a room id, a
private code): those stand for the value this run produced, learnt the first
time they are received and required to be the same afterwards.

Line forms (the doc's own notation)::

    alice → GET /path?query     (open a WebSocket; a token=… is the client's seat token)
    alice → {"cell":4}          (a text frame)
    alice ← {"type":"lobby",…}  (the next text frame alice receives)
    both  ← …                   (each client of a group, in turn)
    all   ← close 1000 "game over"
              … bob's network drops …   (the TCP connection is cut, no close frame)

Two spaces then a parenthesis end a line with a comment.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
from collections.abc import Mapping, Sequence

import attrs

import ws

__all__ = ["Step", "exchange_in", "replay"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT = 5.0
_LINE = re.compile(r"^(?P<who>\w+)\s+(?P<arrow>[→←])\s+(?P<body>.*?)(?:\s{2,}\(.*\))?$")
_DROP = re.compile(r"^\s*… (?P<who>\w+)'s network drops …$")
_CLOSE = re.compile(r'^close (?P<code>\d+) "(?P<reason>[^"]*)"$')


@attrs.frozen(slots=True)
class Step:
    """One line of an exchange: *who* sends (``→``), receives (``←``) or drops (``drop``)."""

    who: str
    arrow: str
    body: str
    line: str


def exchange_in(doc: str, heading: str) -> list[Step]:
    """The steps of the first fenced block after *heading* in docs/*doc*."""
    text = (ROOT / "docs" / doc).read_text()
    after = text[text.index(heading) :]
    block = after.split("```", 2)[1]
    steps = []
    for line in block.splitlines()[1:]:  # (the first line is the fence's info string)
        if not line.strip():
            continue
        drop = _DROP.match(line)
        if drop:
            steps.append(Step(drop["who"], "drop", "", line))
            continue
        match = _LINE.match(line)
        assert match, f"not a line of an exchange: {line!r}"
        steps.append(Step(match["who"], match["arrow"], match["body"], line))
    return steps


class _Values:
    """The doc's example values (name -> text in the doc) and what they stand for in this run."""

    def __init__(self, examples: Mapping[str, str]) -> None:
        self.examples = dict(examples)
        self.learnt: dict[str, str] = {}

    def pattern(self, expected: str) -> re.Pattern[str]:
        parts = [re.escape(part) for part in expected.split("…")]
        regex = ".*?".join(parts)
        for name, example in self.examples.items():
            if name in self.learnt:
                regex = regex.replace(re.escape(example), re.escape(self.learnt[name]))
            elif re.escape(example) in regex:
                first = regex.index(re.escape(example))
                head, tail = regex[:first], regex[first + len(re.escape(example)) :]
                regex = head + f"(?P<{name}>[A-Za-z0-9_-]+)" + tail.replace(re.escape(example), f"(?P={name})")
        return re.compile(regex, re.DOTALL)

    def check(self, expected: str, got: str) -> None:
        match = self.pattern(expected).fullmatch(got)
        assert match is not None, f"\nexpected (the doc): {expected}\nreceived:           {got}"
        for name, value in match.groupdict().items():
            self.learnt.setdefault(name, value)

    def fill(self, text: str) -> str:
        for name, example in self.examples.items():
            if name in self.learnt:
                text = text.replace(example, self.learnt[name])
        return text


async def _receive(sock: ws.WebSocket) -> str:
    async def next_message() -> str:
        return await sock

    message = await asyncio.wait_for(next_message(), TIMEOUT)
    assert isinstance(message, str), f"a binary frame: {message!r}"
    return str(message)


async def replay(
    steps: Sequence[Step], server: ws.Server, *, groups: Mapping[str, Sequence[str]], examples: Mapping[str, str]
) -> dict[str, list[str]]:
    """Play *steps* against *server*; returns every frame each client received."""
    values = _Values(examples)
    socks: dict[str, ws.WebSocket] = {}
    tokens: dict[str, str] = {}
    received: dict[str, list[str]] = {}
    try:
        for step in steps:
            if step.arrow == "drop":
                socks[step.who].abort()
                continue
            if step.arrow == "→":
                if step.body.startswith("GET "):
                    path = values.fill(step.body[4:].strip())
                    if "token=" in path:  # the doc's token stands for the one this client got
                        path = re.sub(r"token=[^&]*", lambda _, token=tokens[step.who]: "token=" + token, path)
                    socks[step.who] = await ws.connect(f"ws://127.0.0.1:{server.port}{path}")
                else:
                    socks[step.who].text(values.fill(step.body))
                continue
            for who in groups.get(step.who, [step.who]):
                close = _CLOSE.match(step.body)
                if close:
                    try:
                        got = await _receive(socks[who])
                    except ws.Closed as exc:
                        assert (exc.code, exc.reason) == (int(close["code"]), close["reason"]), step.line
                        continue
                    raise AssertionError(f"{who} received {got!r}, not the close of {step.line!r}")
                got = await _receive(socks[who])
                received.setdefault(who, []).append(got)
                values.check(values.fill(step.body), got)
                message = json.loads(got)
                if message.get("type") == "matched":
                    tokens[who] = message["token"]
    finally:
        for sock in socks.values():
            if not sock.closed:
                sock.abort()
        await asyncio.gather(*(sock.wait_closed() for sock in socks.values()))
    return received
