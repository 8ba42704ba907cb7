#!/usr/bin/env python3
"""Client traffic for scripts/fault-test.sh, through the path a fault hits, with a verdict.

While a fault is injected it keeps three kinds of traffic going through nginx:
  submit  POST /v1/jobs (distinct texts, so each is a real synthesis), retried as a well-behaved
          client would: same Idempotency-Key, after a connection error, a 429 or a 5xx that
          carried Retry-After;
  poll    GET /v1/jobs/{id} of every accepted job from the moment it is accepted (jobs in flight:
          these reads hit the database, and the job's progress needs Redis and the workers),
          then the audio download once it succeeded;
  speech  POST /v1/audio/speech of distinct short texts, one after the other, for --speech-secs:
          a plain HTTP client, whether the API synthesizes itself or streams from a worker;
  live    sessions on the live WebSocket (GET /v1/audio/speech/stream, upgraded through nginx),
          one after the other for --speech-secs: text sent in deltas, then close; each must end
          with `done`, audio and close 1000 (chunks are jobs rendered by workers and relayed).

Verdict (exit 1 unless all hold):
  every submitted job accepted, and every accepted job `succeeded` with its audio downloadable
  (a `failed` or `cancelled` job is an error the fault caused; not finishing by the deadline or a
  404 is a lost job); every speech request finally answered 200 with audio; no 5xx reached the
  client without a Retry-After header; no request failed at the socket (nginx stays up through
  every fault, so a refused or reset connection is a failure a client would see); no response cut
  off mid-body, except with --allow-cut-streams (a fault that kills the process streaming it);
  every live session finally done, a session closed 4429/4503 (the socket's 429 and 503, whose
  HTTP twins carry Retry-After) retried, any other error close a failure.
Standard library only, so it runs wherever the cluster does.
"""
import argparse
import base64
import http.client
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

SENTENCE = ("The night ferry left the harbour on time, and the passengers watched the lights of the "
            "town grow small behind them. ")
LOCK = threading.Lock()
# Client-visible failures: (what, detail). Any entry fails the run.
BAD = []
# Every answer by kind and status, for the report.
SEEN = {}


# Status of a response whose body broke off after a 200 (the process streaming it died).
CUT = -1
ALLOW_CUT = False


def note(kind, status, headers, path):
    with LOCK:
        key = f"{kind}:{'cut' if status == CUT else status}"
        SEEN[key] = SEEN.get(key, 0) + 1
        if status == 0:
            BAD.append(("socket error", f"{kind} {path}"))
        elif status == CUT and not ALLOW_CUT:
            BAD.append(("response cut off", f"{kind} {path}"))
        elif status >= 500 and not headers.get("Retry-After"):
            BAD.append(("5xx without Retry-After", f"{kind} {path} answered {status}"))


def call(kind, method, url, body=None, headers=None, timeout=60):
    """(status, body, headers); status 0 when no answer came (refused, reset, timeout), CUT when
    the body broke off after the status line."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        res = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        res = e
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        res = None
    if res is None:
        out = 0, b"", {}
    else:
        try:
            with res:
                out = res.status, res.read(), res.headers
        except (OSError, http.client.HTTPException):
            out = CUT, b"", res.headers
    note(kind, out[0], out[2], url.split("//", 1)[-1].split("/", 1)[-1])
    return out


def retryable(status, headers):
    return status in (0, CUT, 429) or (status >= 500 and headers.get("Retry-After"))


def submit(args, i):
    text = f"Fault run {args.run}, job {i}. " + (SENTENCE * 3 if i < args.long else "A short line.")
    key = f"fault-{args.run}-{i}"
    give_up = time.monotonic() + args.submit_window
    tries = 0
    while time.monotonic() < give_up:
        tries += 1
        status, body, headers = call("submit", "POST", f"{args.base}/v1/jobs",
                                     {"input": text, "response_format": "mp3"}, {"Idempotency-Key": key})
        if status == 202:
            return {"id": json.loads(body)["id"], "tries": tries}
        if not retryable(status, headers):
            return {"error": f"{status} {body[:200]!r}", "tries": tries}
        time.sleep(0.5)
    return {"error": "not accepted before the submit window closed", "tries": tries}


def follow(args, job_id, deadline):
    """Polls a job from acceptance to its end; (state, detail)."""
    url = f"{args.base}/v1/jobs/{job_id}"
    while time.monotonic() < deadline:
        status, body, _ = call("poll", "GET", url)
        if status == 404:
            return "lost", "404: the API does not know the job"
        if status == 200:
            j = json.loads(body)
            if j["status"] == "succeeded":
                code, audio, _ = call("audio", "GET", args.base + j["audio_url"])
                if code == 200 and len(audio) == j.get("audio_bytes") and audio:
                    return "completed", ""
            elif j["status"] in ("failed", "cancelled"):
                return "failed", f"{j['status']}: {j.get('error')}"
        time.sleep(0.3)
    return "lost", "not finished before the deadline"


def job(args, i, out):
    sub = submit(args, i)
    out[i] = sub
    if "id" in sub:
        if args.ids_file:
            with LOCK, open(args.ids_file, "a") as f:
                f.write(sub["id"] + "\n")
        sub["state"], sub["detail"] = follow(args, sub["id"], time.monotonic() + args.deadline)


def speech(args, results):
    """Sequential speech requests until the window closes; each retried until it gets audio."""
    end = time.monotonic() + args.speech_secs
    k = 0
    while time.monotonic() < end:
        k += 1
        body = {"input": f"Fault run {args.run}, spoken line {k}.", "response_format": "mp3"}
        give_up = time.monotonic() + args.submit_window
        outcome = "not answered before the window closed"
        while time.monotonic() < give_up:
            status, audio, headers = call("speech", "POST", f"{args.base}/v1/audio/speech", body,
                                          timeout=120)
            if status == 200 and audio:
                outcome = "ok"
                break
            if not retryable(status, headers):
                outcome = f"answered {status} {audio[:200]!r}"
                break
            time.sleep(0.5)
        results.append(outcome)


# Close codes of the live socket that a client retries: the socket's 429 and 503.
LIVE_RETRY = (4429, 4503)


class WebSocket:
    """The client half of RFC 6455 that a live session needs (text out, text/binary/close in)."""

    def __init__(self, base, path, timeout=60):
        u = urllib.parse.urlsplit(base)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().title(): v.strip()
                        for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}

    def _fill(self):
        got = self.sock.recv(65536)
        if not got:
            raise ConnectionError("connection closed")
        self.buf += got

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send_json(self, msg):
        self.send(1, json.dumps(msg).encode())

    def recv(self):
        """(opcode, payload) of the next whole message; pings are answered on the way."""
        data, first = b"", None
        while True:
            b0, b1 = self._take(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._take(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._take(8))[0]
            payload = self._take(n)
            opcode = b0 & 0x0F
            if opcode == 9:
                self.send(10, payload)
                continue
            if opcode == 10:
                continue
            first = first if opcode == 0 else opcode
            data += payload
            if b0 & 0x80:
                return first, data

    def close(self):
        self.sock.close()


def live_session(args, k):
    """One live session; (outcome, retry): outcome "ok" or what went wrong."""
    path = "/v1/audio/speech/stream"
    try:
        ws = WebSocket(args.base, path)
    except (OSError, ValueError, IndexError):
        note("live", 0, {}, path)
        return "socket error before the upgrade", True
    try:
        if ws.status != 101:
            note("live", ws.status, ws.headers, path)
            return f"upgrade answered {ws.status}", retryable(ws.status, ws.headers)
        note("live", 101, {}, path)
        ws.send_json({"type": "session", "format": "pcm"})
        text = f"Fault run {args.run}, live session {k}. The words arrive a few at a time, as they are typed."
        for i in range(0, len(text), 12):
            ws.send_json({"type": "text", "text": text[i:i + 12]})
        ws.send_json({"type": "close"})
        audio, error = 0, None
        while True:
            opcode, payload = ws.recv()
            if opcode == 2:
                audio += len(payload)
            elif opcode == 1:
                msg = json.loads(payload)
                if msg.get("type") == "error":
                    error = msg
            elif opcode == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                break
        if code == 1000 and audio > 0:
            return "ok", False
        retry = code in LIVE_RETRY
        with LOCK:
            key = f"live:close {code}"
            SEEN[key] = SEEN.get(key, 0) + 1
        return f"closed {code} after {audio} audio bytes ({error})", retry
    except (OSError, ValueError, struct.error):
        note("live", CUT, {}, path)
        return "session cut off", True
    finally:
        ws.close()


def live(args, results):
    """Sequential live sessions until the window closes; each retried until it is done."""
    end = time.monotonic() + args.speech_secs
    k = 0
    while time.monotonic() < end:
        k += 1
        give_up = time.monotonic() + args.submit_window
        outcome = "not done before the window closed"
        while time.monotonic() < give_up:
            outcome, retry = live_session(args, k)
            if outcome == "ok" or not retry:
                break
            time.sleep(0.5)
        results.append(outcome)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="cluster entry point (nginx)")
    p.add_argument("--run", required=True, help="run id, part of every text and idempotency key")
    p.add_argument("--jobs", type=int, default=16)
    p.add_argument("--long", type=int, default=2, help="the first N jobs are long (~10 s of audio)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between submissions")
    p.add_argument("--submit-window", type=float, default=90)
    p.add_argument("--deadline", type=float, default=240, help="seconds from acceptance to the job's end")
    p.add_argument("--speech-secs", type=float, default=20, help="how long speech requests go on")
    p.add_argument("--ids-file", help="append accepted ids here as they are accepted")
    p.add_argument("--allow-cut-streams", action="store_true",
                   help="a response cut off mid-body is retried, not a failure (the fault kills the "
                        "process that streams it; no proxy can finish that stream)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    global ALLOW_CUT
    ALLOW_CUT = args.allow_cut_streams

    subs, spoken, sessions = {}, [], []
    threads = [threading.Thread(target=speech, args=(args, spoken)),
               threading.Thread(target=live, args=(args, sessions))]
    for t in threads:
        t.start()
    for i in range(args.jobs):
        t = threading.Thread(target=job, args=(args, i, subs))
        t.start()
        threads.append(t)
        time.sleep(args.interval)
    for t in threads:
        t.join()

    states = [s.get("state") for s in subs.values() if "id" in s]
    for i, s in sorted(subs.items()):
        if "error" in s:
            BAD.append(("job not accepted", f"job {i}: {s['error']}"))
        elif s["state"] != "completed":
            BAD.append((f"job {s['state']}", f"job {i} {s['id']}: {s['detail']}"))
    for k, o in enumerate(spoken, 1):
        if o != "ok":
            BAD.append(("speech request failed", f"line {k}: {o}"))
    for k, o in enumerate(sessions, 1):
        if o != "ok":
            BAD.append(("live session failed", f"session {k}: {o}"))
    result = {
        "submitted": args.jobs,
        "accepted": len(states),
        "completed": states.count("completed"),
        "failed": states.count("failed"),
        "lost": states.count("lost"),
        "submit_retries": sum(s["tries"] - 1 for s in subs.values()),
        "speech": len(spoken),
        "speech_ok": spoken.count("ok"),
        "live": len(sessions),
        "live_ok": sessions.count("ok"),
        "answers": dict(sorted(SEEN.items())),
        "bad": [f"{what}: {detail}" for what, detail in BAD],
        "jobs": {s["id"]: {"i": i, "state": s["state"], "detail": s["detail"]}
                 for i, s in subs.items() if "id" in s},
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: result[k] for k in ("submitted", "accepted", "completed", "failed", "lost",
                                             "submit_retries", "speech", "speech_ok", "live", "live_ok",
                                             "answers")}))
    for line in result["bad"][:20]:
        print("BAD " + line, file=sys.stderr)
    return 0 if not BAD else 1


if __name__ == "__main__":
    sys.exit(main())
