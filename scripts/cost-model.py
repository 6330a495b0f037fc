#!/usr/bin/env python3
"""The monthly AWS bill of the stack as a function of traffic (docs/cost.md).

    scripts/cost-model.py docs/cost/measured.json [--requests 10000,1000000,100000000]
        [--signed-in 0.2] [--mix 'GET /users=0.3,...'] [--encoding br=0.9,gzip=0.05,identity=0.05]
        [--prices prices.json] [--template template.yaml] [--proxy] [--free-tier]

The measured file is what `scripts/bench cost` writes: per function the warm p50 of an
anonymous and of a signed-in invocation, the bytes it logs per invocation and its cold
start; per route the bytes of its answer in each coding. Memory sizes come from
template.yaml. Prints a markdown table: one column per volume, before (the authorizer
invoked on every request: two invocations) and after (each function checks the token
itself: one). Standard library only.
"""
import argparse
import json
import math
import re
import sys

# List prices read on 2026-12-08, in USD, us-east-1 unless a key says otherwise (the
# stack runs in ap-northeast-2: override with --prices, keys as below). Sources: docs/cost.md.
PRICES = {
    "http_api_per_million": 1.00,  # first 300M requests a month
    "http_api_metering_bytes": 512 * 1024,  # HTTP APIs are metered in 512 KB increments
    "lambda_request_per_million": 0.20,
    "lambda_arm_gb_second": 0.0000133334,  # first 7.5B GB-s a month
    "transfer_out_per_gb": 0.09,  # to the internet, first 10 TB a month
    "secrets_per_10k_calls": 0.05,
    "secret_per_month": 0.40,
    "logs_ingest_per_gb": 0.50,
    "logs_store_per_gb_month": 0.03,
    "xray_per_million_traces": 5.00,
    "rds_instance_per_hour": 0.016,  # db.t4g.micro, MySQL, single-AZ, on demand
    "rds_storage_per_gb_month": 0.115,
    "rds_proxy_per_vcpu_hour": 0.015,  # billed on the instance's vCPUs, at least 2
    "alarm_per_month": 0.10,
    "dashboard_per_month": 3.00,
}
# Permanent monthly free tiers (--free-tier): they are the account's, shared with
# whatever else it runs, so the default leaves them out.
FREE = {
    "lambda_requests": 1_000_000,
    "lambda_gb_seconds": 400_000,
    "transfer_out_gb": 100,
    "xray_traces": 100_000,
    "logs_gb": 5,
}
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600

# The stack's fixed parts (template.yaml): the secrets the functions read, the alarms and
# the dashboard. The database is outside the template; DbMaxConnections' default tier
# ("60") is db.t4g.micro (2 vCPUs), with 20 GB of storage assumed.
FIXED = {"secrets": 4, "alarms": 33, "dashboards": 1, "rds_storage_gb": 20, "rds_vcpus": 2}

# A route: the function that answers it, whether it needs an identity, its share of the
# default mix (a club directory: mostly reads of the list and of members, anonymous).
ROUTES = {
    "GET /users": ("users", False, 0.25),
    "GET /users/{id}": ("users", False, 0.20),
    "GET /users/me": ("users", True, 0.10),
    "PATCH /users/{id}": ("users", True, 0.01),
    "GET /positions": ("positions", False, 0.10),
    "GET /teams": ("teams", False, 0.10),
    "GET /health": ("health", False, 0.20),
    "GET /api/openapi.json": ("docs", False, 0.04),
}
# Functions that read the database secret once per cold start (template.yaml policies).
READS_SECRET = {"users", "positions", "teams", "audit", "batch", "health"}

# One JSON record of each kind Lambda adds per invocation with LogFormat JSON and
# SystemLogLevel INFO (platform.start, platform.report; with Tracing: Active both carry
# the trace), shaped as the Lambda developer guide shows them: their size is an estimate,
# not a measurement.
PLATFORM_RECORDS = [
    '{"time":"2026-12-08T01:00:00.000Z","type":"platform.start","record":{"requestId":'
    '"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","version":"$LATEST","tracing":{"spanId":'
    '"54565fb41ac79632","type":"X-Amzn-Trace-Id","value":"Root=1-62e900b2-710d76f009d6e7785905449a;'
    'Parent=0efbd19962d95b05;Sampled=1"}}}',
    '{"time":"2026-12-08T01:00:00.002Z","type":"platform.report","record":{"requestId":'
    '"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","metrics":{"durationMs":1.42,"billedDurationMs":2,'
    '"memorySizeMB":256,"maxMemoryUsedMB":21},"tracing":{"spanId":"54565fb41ac79632","type":'
    '"X-Amzn-Trace-Id","value":"Root=1-62e900b2-710d76f009d6e7785905449a;Parent=0efbd19962d95b05;'
    'Sampled=1"},"status":"success"}}',
]
# template.yaml's access log format, filled in with a typical request.
ACCESS_RECORD = (
    '{"requestId":"Xo3vKjrCIE0EJ7w=","routeKey":"GET /api/v1/users/{id}","status":"200",'
    '"responseLatency":"12","integrationLatency":"10","integrationStatus":"200",'
    '"integrationError":"-","authorizerError":"-","authorizerLatency":"3",'
    '"sourceIp":"203.0.113.17","userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) '
    'AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",'
    '"requestTime":"08/Dec/2026:01:00:00 +0000","responseLength":"812"}'
)
# What CloudWatch Logs counts per event besides its message (PutLogEvents' batch size).
EVENT_OVERHEAD = 26


def memory_sizes(template_text):
    """Each function's MemorySize in MB: Globals' unless the function sets its own."""
    default, sizes, name, own = 128, {}, None, None
    section = None
    for line in template_text.splitlines():
        top = re.match(r"^(\w+):", line)
        if top:
            section = top.group(1)
        m = re.match(r"^\s+MemorySize:\s*(\d+)", line)
        if m and section == "Globals":
            default = int(m.group(1))
        resource = re.match(r"^  (\w+):\s*$", line)
        if section == "Resources" and resource:
            if name:
                sizes[name] = own
            name, own = None, None
        fn = re.match(r"^\s+FunctionName:\s*!Sub\s+waffledotcom-\$\{AppEnv\}-([\w-]+)", line)
        if section == "Resources" and fn:
            name = fn.group(1)
        if section == "Resources" and m:
            own = int(m.group(1))
    if name:
        sizes[name] = own
    sizes = {k: (v if v is not None else default) for k, v in sizes.items()}
    # The "before" design's authorizer is no longer in the template; deployed, it took
    # Globals' MemorySize like the rest.
    sizes.setdefault("authorizer", default)
    return sizes


def billed_ms(ms):
    """Lambda bills duration rounded up to the next millisecond."""
    return max(1, math.ceil(ms - 1e-9))


def parse_shares(text):
    shares = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.rpartition("=")
        shares[key.strip()] = float(value)
    return shares


def cold_starts(invocations, lifetime_h, idle_timeout_s):
    """Cold starts of one function in a month: with Poisson arrivals, a request finds no
    warm environment when none came within the idle timeout; and each environment is
    replaced after its lifetime even when busy (one environment: the API's load keeps
    each function's concurrency near 1)."""
    if invocations <= 0:
        return 0.0
    rate = invocations / SECONDS_PER_MONTH
    idle = invocations * math.exp(-rate * idle_timeout_s)
    recycled = HOURS_PER_MONTH / lifetime_h
    return min(invocations, idle + recycled)


def sampled_traces(invocations, reservoir_per_s=1.0, rate=0.05):
    """X-Ray's default rule: the first request each second, then 5 % of the rest."""
    first = min(invocations, reservoir_per_s * SECONDS_PER_MONTH)
    return first + rate * (invocations - first)


def month(measured, memory, requests, design, mix, signed_in, encoding, prices, args):
    """The line items (USD) of one month at `requests`, for design 'before' or 'after'."""
    p = {**PRICES, **prices}
    fns = measured["functions"]
    auth = measured["authorizer"]
    routes = measured["routes"]
    total_share = sum(mix.values())
    invocations = {}  # function -> count
    gb_seconds = 0.0
    log_bytes = 0.0
    out_bytes = 0.0
    metered = 0.0  # API Gateway requests as metered
    for route, share in mix.items():
        needs_identity = ROUTES[route][1]
        r = routes[route]
        function = r["function"]
        n = requests * share / total_share
        kinds = [("signed_in", 1.0)] if needs_identity else [
            ("anonymous", 1.0 - signed_in), ("signed_in", signed_in)]
        for kind, part in kinds:
            count = n * part
            if count == 0:
                continue
            figures = r.get(kind) or r["anonymous"]
            ms = figures["p50_ms"]
            if design == "after" and kind == "signed_in" and not fns[function].get("verifies_token"):
                # Measured while the authorizer still checks tokens: add its check.
                ms += auth["signed_in"]["p50_ms"]
            calls = [(function, ms, figures["log_bytes"])]
            if design == "before":
                a = auth[kind]
                calls.append(("authorizer", a["p50_ms"], a["log_bytes"]))
            for name, d, logged in calls:
                invocations[name] = invocations.get(name, 0.0) + count
                gb_seconds += count * billed_ms(d) / 1000 * memory.get(name, 128) / 1024
                records = logged + sum(len(rec) + EVENT_OVERHEAD for rec in PLATFORM_RECORDS)
                log_bytes += count * records
        answer = r.get("answer_bytes", {})
        headers = r.get("header_bytes", 400)
        size = sum(answer.get(e, answer.get("identity", 0)) * s for e, s in encoding.items())
        size /= sum(encoding.values())
        out_bytes += n * (size + headers)
        metered += n * max(1, math.ceil((size + headers) / p["http_api_metering_bytes"]))
    log_bytes += requests * (len(ACCESS_RECORD) + EVENT_OVERHEAD)

    # Cold starts: init billed (custom runtimes), one secret read where there is one.
    init_gb_s, secret_calls = 0.0, 0.0
    for name, count in invocations.items():
        cold = cold_starts(count, args.env_lifetime_hours, args.idle_timeout_s)
        init = (auth if name == "authorizer" else fns[name]).get("cold_ms", 0.0)
        if name in READS_SECRET:
            init += args.secret_fetch_ms
            secret_calls += cold
        init_gb_s += cold * billed_ms(init) / 1000 * memory.get(name, 128) / 1024
    gb_seconds += init_gb_s

    lambda_requests = sum(invocations.values())
    traces = sum(sampled_traces(c) for c in invocations.values())
    logs_gb = log_bytes / 1e9
    out_gb = out_bytes / 1e9
    if args.free_tier:
        lambda_requests = max(0.0, lambda_requests - FREE["lambda_requests"])
        gb_seconds = max(0.0, gb_seconds - FREE["lambda_gb_seconds"])
        out_gb = max(0.0, out_gb - FREE["transfer_out_gb"])
        traces = max(0.0, traces - FREE["xray_traces"])
        logs_gb = max(0.0, logs_gb - FREE["logs_gb"])
    items = {
        "API Gateway requests": metered / 1e6 * p["http_api_per_million"],
        "Lambda requests": lambda_requests / 1e6 * p["lambda_request_per_million"],
        "Lambda duration": gb_seconds * p["lambda_arm_gb_second"],
        "Data transfer out": out_gb * p["transfer_out_per_gb"],
        "CloudWatch Logs": logs_gb * p["logs_ingest_per_gb"]
        + logs_gb * args.retention_days / 30 * p["logs_store_per_gb_month"],
        "X-Ray traces": traces / 1e6 * p["xray_per_million_traces"],
        "Secrets Manager": secret_calls / 1e4 * p["secrets_per_10k_calls"]
        + FIXED["secrets"] * p["secret_per_month"],
        "RDS instance and storage": HOURS_PER_MONTH * p["rds_instance_per_hour"]
        + FIXED["rds_storage_gb"] * p["rds_storage_per_gb_month"],
        "Alarms and dashboard": FIXED["alarms"] * p["alarm_per_month"]
        + FIXED["dashboards"] * p["dashboard_per_month"],
    }
    if args.proxy:
        items["RDS Proxy"] = HOURS_PER_MONTH * max(2, FIXED["rds_vcpus"]) * p["rds_proxy_per_vcpu_hour"]
    items["total"] = sum(items.values())
    items["_invocations"] = sum(invocations.values())
    return items


def volume(n):
    for unit, name in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= unit:
            return f"{n / unit:g}{name}"
    return f"{n:g}"


def money(x):
    return f"{x:,.2f}" if x >= 0.01 or x == 0 else f"{x:.4f}"


def table(results, volumes):
    header = "| line item (USD a month) | " + " | ".join(
        f"{volume(v)} before | {volume(v)} after" for v in volumes) + " |"
    lines = [header, "|---|" + "---:|" * (2 * len(volumes))]
    keys = [k for k in results[(volumes[0], "before")] if not k.startswith("_")]
    for key in keys:
        cells = []
        for v in volumes:
            for design in ("before", "after"):
                cells.append(money(results.get((v, design), {}).get(key, 0.0)))
        name = f"**{key}**" if key == "total" else key
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for v in volumes:
        for design in ("before", "after"):
            cells.append(f"{results[(v, design)]['_invocations']:,.0f}")
    lines.append("| Lambda invocations | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("measured", help="the JSON scripts/bench cost writes (docs/cost/measured.json)")
    ap.add_argument("--template", default="template.yaml")
    ap.add_argument("--requests", default="10000,1000000,100000000",
                    help="comma-separated requests a month, one column pair each")
    ap.add_argument("--signed-in", type=float, default=0.2,
                    help="share of requests on public routes that carry a token")
    ap.add_argument("--mix", default=",".join(f"{r}={s}" for r, (_, _, s) in ROUTES.items()),
                    help="route=share,...; routes: " + ", ".join(ROUTES))
    ap.add_argument("--encoding", default="br=0.9,gzip=0.05,identity=0.05",
                    help="share of answers per coding (browsers send br)")
    ap.add_argument("--prices", help="a JSON object overriding PRICES' keys (another region)")
    ap.add_argument("--proxy", action="store_true", help="add an RDS Proxy")
    ap.add_argument("--free-tier", action="store_true", help="subtract the permanent free tiers")
    ap.add_argument("--secret-fetch-ms", type=float, default=50.0,
                    help="GetSecretValue and the first RDS login at a cold start (assumed)")
    ap.add_argument("--env-lifetime-hours", type=float, default=2.0)
    ap.add_argument("--idle-timeout-s", type=float, default=600.0)
    ap.add_argument("--retention-days", type=float, default=30.0)
    args = ap.parse_args(argv)

    with open(args.measured) as f:
        measured = json.load(f)
    with open(args.template) as f:
        memory = memory_sizes(f.read())
    prices = {}
    if args.prices:
        with open(args.prices) as f:
            prices = json.load(f)
    mix = parse_shares(args.mix)
    unknown = set(mix) - set(ROUTES)
    if unknown:
        ap.error(f"unknown routes in --mix: {', '.join(sorted(unknown))}")
    encoding = parse_shares(args.encoding)
    volumes = [int(float(v)) for v in args.requests.split(",")]
    results = {}
    for v in volumes:
        for design in ("before", "after"):
            results[(v, design)] = month(measured, memory, v, design, mix, args.signed_in,
                                         encoding, prices, args)
    print(table(results, volumes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
