"""The Redis backend: one cluster of server processes, one Redis server.

Several processes (on one machine or many, behind any TCP load balancer) that
point at the same Redis form a cluster.  Players connected to different
processes are matched together and play in one room.  The package is split by
job; :class:`RedisBackend` (:mod:`.node`) wires the parts and is the
:class:`rooms.Backend` the lobbies use:

- :mod:`.store`: the Redis clients, key names and scripts; pauses matching
  when Redis cannot be reached.
- :mod:`.bus`: messages between processes (one inbox stream per process), out
  through one batched writer, in through one reader dispatching by
  :class:`~.bus.Kind`; a sequence number per destination, so a batch retried
  after an error is never delivered twice.
- :mod:`.presence`: heartbeats with a TTL, the sweep of dead nodes, peer
  checks, eviction.  A process that dies is noticed within
  ``node_ttl + heartbeat``: rooms it hosted end for the players bridged from
  elsewhere (``ended`` and close 1012); players it bridged leave rooms hosted
  elsewhere as a lost connection (1006), so ``reconnect`` holds the seat and
  the player can come back through any process.
- :mod:`.queues`: waiting tickets in Redis, one sorted set per lobby key,
  matched by the Lua scripts of :mod:`.scripts` atomically (nobody is seated
  twice); groups hosted by the process of the ticket that completed them;
  ``lobby`` statuses, ``paused`` while Redis is away.
- :mod:`.bridge`: a player connected to one process (the *edge*) and seated in
  a room another hosts: on the host a :class:`RemoteSocket`, which ``Room``,
  ``ws.mux`` and ``ws.broadcast`` use like a ``ws.WebSocket``; on the edge a
  relay of what the player sends.
- :mod:`.requests`: reconnects and spectators arriving at one process for a
  room another hosts (a request and its reply).
- :mod:`.local`: this process's lobbies and hosted rooms.

Outages: every loop catches Redis errors and retries with a backoff.  While
Redis is away, rooms whose players are all on one process go on and traffic
for other processes is buffered; when Redis is back, waiting tickets are
queued again (keeping their place) and statuses resume.
"""

from .bridge import RemoteSocket
from .node import RedisBackend

__all__ = ["RedisBackend", "RemoteSocket"]
