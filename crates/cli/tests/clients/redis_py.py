"""redis-py against a dsys RESP front door, with the client's default settings (issue 11).

Usage: python3 redis_py.py HOST PORT PROTOCOL, where PROTOCOL is the RESP version this
redis-py speaks by default (3 for redis-py 8, 2 for 5.x), checked through CLIENT INFO.
Exits non-zero with a traceback on the first mismatch; prints one summary line on success.
"""

import sys

import redis

host, port, protocol = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = redis.Redis(host=host, port=port)

assert r.ping() is True
# A null from the server reaches Python as None (in RESP3 it is `_`).
assert r.client_getname() is None
assert r.client_setname("py-client") is True
assert r.client_getname() == "py-client"  # str_if_bytes, in every version
info = r.client_info()
assert info["resp"] == str(protocol), info
assert info["lib-name"].startswith("redis-py"), info
assert r.client_id() == info["id"], info
assert r.echo("hi") == b"hi"

assert r.set("py:greeting", "hello") is True
assert r.get("py:greeting") == b"hello"
assert r.append("py:greeting", ", world") == 12
assert r.get("py:greeting") == b"hello, world"

everything = r.info()
assert everything["role"] in ("leader", "follower"), everything
assert "replica_id" in everything and "redis_version" in everything, everything
replication = r.info("replication")
assert "role" in replication and "redis_version" not in replication, replication

pipe = r.pipeline(transaction=False)
pipe.set("py:p", "1").append("py:p", "2").get("py:p")
assert pipe.execute() == [True, 2, b"12"]

text = redis.Redis(host=host, port=port, decode_responses=True)
assert text.get("py:greeting") == "hello, world"
assert text.echo("é") == "é"
assert text.client_setname("text") is True and text.client_getname() == "text"

# No passwords here: the `default` user is accepted with any, as by Redis without requirepass
# (through HELLO 3 AUTH in RESP3, AUTH in RESP2).
assert redis.Redis(host=host, port=port, username="default", password="any").ping() is True

print(f"redis-py {redis.__version__} ok, RESP{protocol}")
