"""One authenticated JSON call to the test server, shared by the end-to-end tests: (status,
lower-cased headers, body), an HTTP error status included rather than raised."""
import json
import urllib.error
import urllib.request


def call(server, method, path, body=None, timeout=300):
    req = urllib.request.Request(server.url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + server.key,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
