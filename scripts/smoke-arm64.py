"""Runs the packaged arm64 artifacts (target/lambda/<name>/bootstrap) under qemu-user
against a minimal Lambda Runtime API on loopback, one invocation each, and checks the
answers: the binaries that `sam deploy` uploads start, speak the Runtime API and serve.

- health: GET /api/v1/health through an HTTP API 2.0 event (no database needed);
- docs: GET /api/openapi.json with APP_ENV=prod and no configuration but the token key
  and issuer (it must read no secret);
- health with a malformed bearer token: 403 with `detail`, from the function's own token
  check (there is no Lambda authorizer; a deployed function without a key fails its init);
- migrate: a CloudFormation Delete request, answered by a PUT to the response URL (this
  server) without touching the database.

Usage: python smoke-arm64.py <qemu-aarch64> <aarch64 sysroot>. Run by scripts/check-deploy."""

import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "/2018-06-01/runtime"


def http_event(path):
    return {
        "version": "2.0",
        "routeKey": f"GET {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "smoke.invalid", "accept": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "smoke",
            "domainName": "smoke.invalid",
            "domainPrefix": "smoke",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "smoke"},
            "requestId": "smoke-request",
            "routeKey": f"GET {path}",
            "stage": "$default",
            "time": "29/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1795910400000,
        },
        "isBase64Encoded": False,
    }


class Runtime(http.server.ThreadingHTTPServer):
    """Hands out one event, then records the answer (and any PUT to /cfn)."""

    def __init__(self, event):
        super().__init__(("127.0.0.1", 0), Handler)
        self.event, self.given, self.answer, self.puts = event, False, None, []
        self.done = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path != f"{PREFIX}/invocation/next":
            return self.send_error(404)
        if self.server.given:  # one invocation only; the process is stopped after it
            time.sleep(60)
            return self.send_error(500)
        self.server.given = True
        body = json.dumps(self.server.event).encode()
        self.send_response(200)
        for key, value in {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": "smoke-1",
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30000),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:ap-northeast-2:123456789012:function:smoke",
            "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
            "Content-Length": str(len(body)),
        }.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def do_POST(self):
        body = self._body()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        kind = self.path.rsplit("/", 1)[-1]
        self.server.answer = (kind, json.loads(body or b"null"))
        self.server.done.set()

    def do_PUT(self):
        self.server.puts.append(json.loads(self._body()))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def invoke(qemu, sysroot, name, event, env):
    runtime = Runtime(event)
    threading.Thread(target=runtime.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{runtime.server_address[1]}"
    if callable(event):
        runtime.event = event(address)
    base = {
        "PATH": os.environ.get("PATH", ""),
        "QEMU_LD_PREFIX": sysroot,
        "AWS_LAMBDA_RUNTIME_API": address,
        "AWS_LAMBDA_FUNCTION_NAME": f"waffledotcom-smoke-{name}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/waffledotcom-smoke-{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "smoke",
        "AWS_REGION": "ap-northeast-2",
    }
    binary = os.path.join(ROOT, "target", "lambda", name, "bootstrap")
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([qemu, binary], env={**base, **env},
                                   stdout=log, stderr=subprocess.STDOUT)
        answered = runtime.done.wait(60)
        process.kill()
        process.wait()
        runtime.shutdown()
        log.seek(0)
        output = log.read().decode(errors="replace")
    if not answered:
        return None, runtime.puts, output
    return runtime.answer, runtime.puts, output


def main():
    qemu, sysroot = sys.argv[1], sys.argv[2]
    public_key = subprocess.run(
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout",
        shell=True, check=True, capture_output=True, text=True).stdout
    closed_db = {"DATABASE_URL": "mysql://smoke@127.0.0.1:1/none"}

    def check_http(answer, _puts, want_status, check_body):
        kind, payload = answer
        assert kind == "response", answer
        assert payload["statusCode"] == want_status, payload
        check_body(json.loads(payload["body"]))

    def equals(expected):
        def check(body):
            assert body == expected, body
        return check

    def openapi(body):
        assert body["openapi"].startswith("3."), body.get("openapi")
        assert len(body["paths"]) >= 15, sorted(body["paths"])

    def migrate_delete(answer, puts):
        assert len(puts) == 1, puts
        assert puts[0]["Status"] == "SUCCESS" and puts[0]["RequestId"] == "smoke-delete", puts
        assert answer == ("response", puts[0]), answer

    tokens = {"WAFFLE_JWT_PUBLIC_KEY": public_key,
              "WAFFLE_JWT_ISSUER": "https://account-api-dev.wafflestudio.com"}
    refused_token = http_event("/api/v1/health")
    refused_token["headers"]["authorization"] = "Bearer smoke.not-a.token"
    cases = [
        ("health", http_event("/api/v1/health"), {**closed_db, **tokens},
         lambda a, p: check_http(a, p, 200, equals({"status": "OK"}))),
        ("health", refused_token, {**closed_db, **tokens},
         lambda a, p: check_http(a, p, 403, equals({"detail": "invalid or expired token"}))),
        ("docs", http_event("/api/openapi.json"), {"APP_ENV": "prod", **tokens},
         lambda a, p: check_http(a, p, 200, openapi)),
        ("migrate", lambda address: {
            "RequestType": "Delete", "ResponseURL": f"http://{address}/cfn/smoke-delete?X-Amz-Signature=x",
            "StackId": "arn:aws:cloudformation:ap-northeast-2:123456789012:stack/smoke/1",
            "RequestId": "smoke-delete", "LogicalResourceId": "Migrations",
            "PhysicalResourceId": "Migrations-schema", "ResourceType": "Custom::Migrations",
            "ResourceProperties": {"ReleaseId": "smoke", "DeployedAt": "1"}},
         closed_db, migrate_delete),
    ]
    failed = 0
    for name, event, env, check in cases:
        started = time.monotonic()
        answer, puts, output = invoke(qemu, sysroot, name, event, env)
        took = time.monotonic() - started
        try:
            if answer is None:
                raise AssertionError("no answer within 60 s")
            check(answer, puts)
            print(f"smoke: {name} (arm64, qemu) answered as expected in {took:.1f} s")
        except (AssertionError, KeyError, TypeError, ValueError) as error:
            failed += 1
            print(f"smoke: {name} FAILED: {error!r}\n{output[-3000:]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
