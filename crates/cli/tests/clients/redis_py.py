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

# Redis string semantics (issue 11), replicated: nil, binary values, the commands' replies and
# errors as Redis gives them.
assert r.get("py:missing") is None
binary = bytes(range(256))
assert r.set(b"py:\x00bin", binary) is True and r.get(b"py:\x00bin") == binary
assert r.delete("py:missing", "py:greeting", b"py:\x00bin") == 2
assert r.exists("py:greeting", "py:p", "py:p") == 2
assert r.mset({"py:a": "1", "py:b": "2"}) is True
assert r.mget("py:a", "py:b", "py:nope") == [b"1", b"2", None]
assert r.msetnx({"py:a": "x", "py:new": "y"}) is False and r.get("py:new") is None
assert r.incr("py:n") == 1 and r.incrby("py:n", 41) == 42
assert r.decr("py:n") == 41 and r.decrby("py:n", 50) == -9
r.set("py:text", "abc")
for bad in (lambda: r.incr("py:text"), lambda: r.incrby("py:n", "1.5")):
    try:
        bad()
        raise AssertionError("INCR of a non-integer must fail")
    except redis.ResponseError as e:
        assert "not an integer" in str(e), e
r.set("py:max", str(2**63 - 1))
try:
    r.incr("py:max")
    raise AssertionError("overflow must fail")
except redis.ResponseError as e:
    assert "overflow" in str(e), e
assert r.setnx("py:a", "z") is False and r.setnx("py:c", "3") is True
assert r.set("py:a", "v", nx=True) is None
assert r.set("py:a", "v", xx=True, get=True) == b"1"
assert r.getset("py:a", "w") == b"v" and r.getdel("py:a") == b"w" and r.get("py:a") is None
assert r.set("py:s", "Hello World") is True and r.strlen("py:s") == 11
assert r.getrange("py:s", 0, 4) == b"Hello" and r.getrange("py:s", -5, -1) == b"World"
assert r.setrange("py:s", 6, "Redis") == 11 and r.get("py:s") == b"Hello Redis"
assert r.type("py:s") == b"string" and r.type("py:none") == b"none"
assert r.set("py:ttl", "v", ex=100) is True and 99 <= r.ttl("py:ttl") <= 100
assert 99_000 <= r.pttl("py:ttl") <= 100_000
assert r.persist("py:ttl") is True and r.ttl("py:ttl") == -1 and r.ttl("py:none") == -2
assert r.expire("py:ttl", 50) is True and r.expire("py:none", 50) is False
assert r.pexpire("py:ttl", 1) is True
keys = {f"py:scan:{i}" for i in range(50)}
r.mset({k: "x" for k in keys})
assert set(x.decode() for x in r.keys("py:scan:*")) == keys
assert set(x.decode() for x in r.scan_iter(match="py:scan:*", count=7)) == keys
assert r.dbsize() >= 50

# Transactions: redis-py's default pipeline is MULTI/EXEC, applied at once.
pipe = r.pipeline()
pipe.set("py:t", "1").incr("py:t").get("py:t")
assert pipe.execute() == [True, 2, b"2"]
# WATCH: a write by another client between WATCH and EXEC aborts it, and nothing runs.
other = redis.Redis(host=host, port=port)
with r.pipeline() as pipe:
    pipe.watch("py:t")
    assert pipe.get("py:t") == b"2"
    other.set("py:t", "changed")
    pipe.multi()
    pipe.set("py:t", "mine")
    try:
        pipe.execute()
        raise AssertionError("EXEC after a watched key changed must abort")
    except redis.WatchError:
        pass
assert r.get("py:t") == b"changed"
# A command refused while queueing aborts the whole transaction.
pipe = r.pipeline()
pipe.set("py:t", "never").execute_command("SET", "py:t")
try:
    pipe.execute()
    raise AssertionError("a refused command must abort the transaction")
except (redis.exceptions.ExecAbortError, redis.ResponseError):
    pass
assert r.get("py:t") == b"changed"

# Limits: a value past the limit is refused with an error the client reads, and the
# connection (and its pool) goes on serving.
limit = 4 * 1024 * 1024
assert r.set("py:big", b"x" * limit) is True and r.strlen("py:big") == limit
for too_big in (lambda: r.append("py:big", "y"), lambda: r.set("py:big2", b"x" * (limit + 1)),
                lambda: r.set("py:huge", b"x" * (20 * 1024 * 1024))):
    try:
        too_big()
        raise AssertionError("a value past the limit must be refused")
    except redis.ResponseError as e:
        assert "exceeds maximum allowed size" in str(e) or "larger than the limit" in str(e), e
assert r.strlen("py:big") == limit and r.get("py:big2") is None and r.ping() is True
assert r.flushdb() is True and r.dbsize() == 0

print(f"redis-py {redis.__version__} ok, RESP{protocol}")
