#!/usr/bin/env python3
"""What a browser sees, in Debian's headless Chromium (standard library only).

Starts the API (mode `merged`: the local server; more modes go into MODES), serves a
small test page from an allowed origin and from a disallowed one, and loads each in
Chromium with every host but loopback unreachable (a dead proxy and a resolver that
resolves nothing). The pages write their findings into the DOM, which Chromium dumps.

  scripts/browser-test.py [--mode merged] [--bin-dir target/quick]
  REFRESH_SCREENSHOT=1 ... also writes docs/api-docs.png

Needs DATABASE_URL (scripts/test provisions it) and the `local` and `dev` binaries.
"""

import argparse
import html
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# How each mode starts the API: a function of (bin_dir) giving the command line.
MODES = {
    "merged": lambda bin_dir: [os.path.join(bin_dir, "local")],
    # The deployed shape, once `local --lambdas` exists (it needs the release binaries).
    "lambdas": lambda bin_dir: [os.path.join(bin_dir, "local"), "--lambdas"],
}

# The page both origins serve. It reports into <pre id="result"> as JSON.
PAGE = """<!doctype html><meta charset="utf-8"><title>cors probe</title>
<pre id="result">pending</pre>
<script>
(async () => {
  const api = %(api)s, token = %(token)s, id = %(id)s, name = %(name)s;
  const out = {};
  try {
    const r = await fetch(api + "/api/v1/users?limit=1");
    const body = await r.json();
    out.list = {status: r.status, length: body.length,
      total: r.headers.get("X-Total-Count"), link: r.headers.get("Link"),
      etag: r.headers.get("ETag"), request_id: r.headers.get("x-request-id")};
  } catch (e) { out.list = {error: String(e)}; }
  try {
    const r = await fetch(api + "/api/v1/users/" + id, {method: "PATCH",
      headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
      body: JSON.stringify({first_name: name})});
    out.patch = {status: r.status, first_name: (await r.json()).first_name,
      request_id: r.headers.get("x-request-id")};
  } catch (e) { out.patch = {error: String(e)}; }
  document.getElementById("result").textContent = JSON.stringify(out);
})();
</script>"""


class Failures:
    def __init__(self):
        self.items = []

    def check(self, ok, what):
        print(("  ok   " if ok else "  FAIL ") + what, flush=True)
        if not ok:
            self.items.append(what)


def serve_page(port, page):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("error: chromium is missing (scripts/test installs Debian's `chromium`)")


def run_chromium(profile, url, extra=(), budget_ms=15000):
    """Loads `url` headless with only loopback reachable; returns (dom, stderr)."""
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions",
        "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--metrics-recording-only", "--mute-audio",
        f"--user-data-dir={profile}",
        # Only loopback reaches anything: other hosts resolve to nothing, and whatever
        # would still go out meets a proxy on a closed port.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
        "--enable-logging=stderr", "--v=0",
        f"--virtual-time-budget={budget_ms}", "--run-all-compositor-stages-before-draw",
        *(extra or ["--dump-dom"]), url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    return done.stdout, done.stderr


def page_result(dom):
    match = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    if not match:
        return {"error": "no result element", "dom": dom[:500]}
    text = html.unescape(match.group(1))
    try:
        return json.loads(text)
    except ValueError:
        return {"error": "page did not finish", "text": text[:300]}


def api_get(base, path, token=None):
    request = urllib.request.Request(base + path)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def dev(bin_dir, *args):
    return subprocess.run([os.path.join(bin_dir, "dev"), *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=sorted(MODES), default="merged")
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "quick"))
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        sys.exit("error: DATABASE_URL is not set")

    work = tempfile.mkdtemp(prefix="wadot-browser-")
    env = dict(os.environ, WADOT_DEV_DIR=work)
    os.environ["WADOT_DEV_DIR"] = work
    public_pem = dev(args.bin_dir, "key")
    api_port, good_port, bad_port = free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    good, bad = f"http://127.0.0.1:{good_port}", f"http://127.0.0.1:{bad_port}"
    env.update(BIND_ADDR=f"127.0.0.1:{api_port}", WAFFLE_JWT_PUBLIC_KEY=public_pem,
               WAFFLE_JWT_ISSUER="urn:waffledotcom:local-development",
               CORS_ALLOW_ORIGINS=good, RUST_LOG="info")
    log_path = os.path.join(work, "server.log")
    log = open(log_path, "w")
    server = subprocess.Popen(MODES[args.mode](args.bin_dir), env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    failures = Failures()
    try:
        for _ in range(600):
            try:
                api_get(api, "/api/v1/health")
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None:
                    sys.exit(open(log_path).read())
                time.sleep(0.2)
        # A member of our own, and a second so that limit=1 leaves a next page.
        sso = str(700000 + os.getpid() % 90000)
        token = dev(args.bin_dir, "token", sso, "--admin")
        me = api_get(api, "/api/v1/users/me", token)
        dev(args.bin_dir, "token", str(int(sso) + 1), "--admin")
        admin = token

        print(f"[{args.mode}] allowed origin {good}", flush=True)
        page = lambda name: PAGE % {"api": json.dumps(api), "token": json.dumps(token),
                                    "id": me["id"], "name": json.dumps(name)}
        pages = [serve_page(good_port, page("Allowed ✅")), serve_page(bad_port, page("Blocked"))]
        result = page_result(run_chromium(os.path.join(work, "p1"), good + "/")[0])
        listed = result.get("list", {})
        failures.check(listed.get("status") == 200 and listed.get("length") == 1,
                       f"fetch GET /users?limit=1 answered one user: {listed}")
        for header in ("total", "link", "etag", "request_id"):
            failures.check(bool(listed.get(header)), f"the page reads {header}: {listed.get(header)!r}")
        patched = result.get("patch", {})
        failures.check(patched.get("status") == 200 and patched.get("first_name") == "Allowed ✅",
                       f"the preflighted PATCH with a bearer token succeeded: {patched}")
        stored = api_get(api, "/api/v1/users/me", token)["first_name"]
        failures.check(stored == "Allowed ✅", f"and the server stored it: {stored!r}")

        print(f"[{args.mode}] disallowed origin {bad}", flush=True)
        patches_before = len(re.findall(r"PATCH", open(log_path).read()))
        audit_before = api_get(api, f"/api/v1/audit-logs?entity=user&entity_id={me['id']}", admin)["items"]
        result = page_result(run_chromium(os.path.join(work, "p2"), bad + "/")[0])
        failures.check("error" in result.get("list", {}),
                       f"the list cannot be read: {result.get('list')}")
        failures.check("error" in result.get("patch", {}),
                       f"the PATCH fails in the page: {result.get('patch')}")
        stored = api_get(api, "/api/v1/users/me", token)["first_name"]
        audit_after = api_get(api, f"/api/v1/audit-logs?entity=user&entity_id={me['id']}", admin)["items"]
        failures.check(stored == "Allowed ✅" and len(audit_after) == len(audit_before),
                       f"the PATCH never reached a handler (name {stored!r}, "
                       f"audit entries {len(audit_before)} → {len(audit_after)})")
        patches = len(re.findall(r"PATCH", open(log_path).read()))
        failures.check(patches_before >= 1 and patches == patches_before,
                       f"the server logged no PATCH from that origin ({patches_before} → {patches})")
        for p in pages:
            p.shutdown()

        print(f"[{args.mode}] the docs page with only the API reachable", flush=True)
        document = api_get(api, "/api/openapi.json")
        operations = sum(1 for item in document["paths"].values() for m in item
                         if m in ("get", "put", "post", "delete", "patch", "head", "options"))
        shot = os.path.join(work, "docs.png")
        refresh = os.environ.get("REFRESH_SCREENSHOT") == "1"
        dom, stderr = run_chromium(os.path.join(work, "p3"), api + "/api/docs", (), 20000)
        rendered = len(re.findall(r'class="opblock opblock-', dom))
        failures.check(rendered == operations,
                       f"Swagger UI renders every operation: {rendered} of {operations}")
        violations = [l for l in stderr.splitlines() if "Content Security Policy" in l]
        failures.check(not violations, f"no Content-Security-Policy violation: {violations[:3]}")
        blocked = [l for l in stderr.splitlines()
                   if "ERR_NAME_NOT_RESOLVED" in l or "ERR_PROXY_CONNECTION_FAILED" in l]
        failures.check(not blocked, f"the page asked no other host: {blocked[:3]}")
        if refresh:
            run_chromium(os.path.join(work, "p4"), api + "/api/docs",
                         ["--window-size=1280,1800", f"--screenshot={shot}"], 20000)
            target = os.path.join(ROOT, "docs", "api-docs.png")
            failures.check(os.path.getsize(shot) > 10000, "the screenshot was taken")
            shutil.copyfile(shot, target)
            print(f"  wrote {os.path.relpath(target, ROOT)}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    if failures.items:
        print(f"\n{len(failures.items)} failure(s); server log: {log_path}")
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)
    print(f"[{args.mode}] browser tests passed")


if __name__ == "__main__":
    main()
