"""hk_server.py — a running `hektor serve` for the server tests: start on a free port,
call routes (JSON in, JSON or text out), check Qdrant's envelope, stop with a signal."""
import json
import re
import signal
import time
import urllib.error
import urllib.request

from hk_test import SLOW, check, eq, spawn, test


class Server:
    """A running `hektor serve --port 0` on a database; .url is what it printed."""

    def __init__(self, tmp, db, *args, nosync=True):
        self.db = db
        self.log_path = tmp("serve-%d.log" % time.time_ns())
        self.log = open(self.log_path, "wb")
        self.proc = spawn(["serve", "--port", "0"] + list(args), db=db, nosync=nosync,
                          stderr=self.log)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"hektor: serving (http://127\.0\.0\.1:(\d+))\s*$", line)
        if not m:
            self.proc.kill()
            raise AssertionError("serve printed %r; log: %s" % (line, self.stderr()))
        self.url = m.group(1)
        self.headers = {}

    def stderr(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def call(self, method, path, body=None, raw=None, headers=None):
        """Returns (status, parsed JSON or text)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = dict(self.headers)
        h.update(headers or {})
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def raw(self, method, path, body=None, headers=None):
        """Returns (status, the response's bytes) without decoding them."""
        h = dict(self.headers)
        h.update(headers or {})
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def ok(self, method, path, body=None, **kw):
        status, doc = self.call(method, path, body, **kw)
        if status != 200 or not isinstance(doc, dict) or doc.get("status") != "ok":
            raise AssertionError("%s %s -> %s %r" % (method, path, status, doc))
        check(isinstance(doc["time"], float) and doc["time"] >= 0, "time in the envelope")
        return doc["result"]

    def bad(self, method, path, body=None, status=400, words=(), **kw):
        got, doc = self.call(method, path, body, **kw)
        if got != status:
            raise AssertionError("%s %s %r: expected %d, got %d %r" % (method, path, body, status, got, doc))
        msg = doc["status"]["error"]
        for w in words:
            check(w.lower() in msg.lower(), "%s %s: message %r lacks %r" % (method, path, msg, w))
        check(isinstance(doc.get("time"), float), "time in the error envelope")
        return msg

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=60 * SLOW)
        self.proc.stdout.close()
        self.log.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


def serving(fn):
    """A test that gets a fresh server on a fresh database, stopped (rc 0) afterwards."""
    def wrapper(tmp):
        s = Server(tmp, tmp("db"))
        try:
            fn(s, tmp)
        except BaseException:
            s.kill()
            raise
        rc = s.stop()
        eq(rc, 0, "serve exit status after SIGTERM")
    wrapper.__name__ = fn.__name__
    return test(wrapper)
