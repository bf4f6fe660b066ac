# The request bodies behind the stub memory figures in docs/stub.md ("Memory per request").
# Usage: /usr/bin/time -v postload stub --port P --latency-ms 0  (then, elsewhere)
#        python3 benches/stub_bodies.py P SHAPE N   (SHAPE below; N sent at once), then stop the stub.
# Sends bodies of a chosen shape to a postload stub on 127.0.0.1:PORT, N at once, and prints
# each answer's status and the start of its body.
import socket, sys, threading, json
port, shape, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def body():
    if shape == "messages":      # 2,000,000 one-word messages, 57 MiB
        one = b'{"role":"user","content":"w"}'
        return b'{"model":"gpt-4o","messages":[' + b",".join([one]*2_000_000) + b']}'
    if shape == "budget-objects":   # just under 100,000 values, as one-key objects (the costliest shape)
        one = b'{"a":1}'
        return b'{"model":"gpt-4o","messages":[{"role":"user","content":"w"}],"tools":[' + b",".join([one]*33_320) + b']}'
    if shape == "max-messages":  # 2,048 messages of text filling 60 MiB
        text = ("word " * (60 * 1024 * 1024 // 5 // 2048)).encode()
        one = b'{"role":"user","content":"' + text + b'"}'
        return b'{"model":"gpt-4o","max_tokens":5,"messages":[' + b",".join([one]*2048) + b']}'
    if shape == "one-string":  # one 57 MiB string: no values to build
        return b'{"model":"gpt-4o","user":"' + b"w" * 60_000_000 + b'","messages":[{"role":"user","content":"w"}],"max_tokens":5}'
    raise SystemExit("shape?")
b = body()
print(f"{shape}: {len(b)} bytes ({len(b)/2**20:.1f} MiB) each, {n} at once", flush=True)
def send(i):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(b) + b)
    out = b""
    while True:
        c = s.recv(65536)
        if not c: break
        out += c
    print(i, out.split(b"\r\n")[0].decode(), out.split(b"\r\n\r\n", 1)[-1][:160].decode(errors="replace"), flush=True)
ts = [threading.Thread(target=send, args=(i,)) for i in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
