"""Assertions of tests/prometheus/run against a live Prometheus that scrapes a live ringmcp.

Usage:
  check.py live PROM_URL INSTANCE CORES TCP_JSON HTTP_JSON DASHBOARD_JSON
  check.py healthy PROM_URL INSTANCE CORES [MAX_CONNECTIONS]
  check.py breaker PROM_URL INSTANCE DASHBOARD_JSON
  check.py drain PROM_URL INSTANCE
  check.py down PROM_URL INSTANCE TIMEOUT_S
  check.py dashboard-static DASHBOARD_JSON

Every check prints what it checks; the first failure exits 1 with the reason.
"""

import json
import re
import socket
import sys
import time
import urllib.parse
import urllib.request

JOB = "ringmcp"


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print(f"  ok: {msg}")


def api(prom, path, **params):
    url = f"{prom}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        body = json.load(e)
    return body


def query(prom, expr):
    """The result vector of an instant query; fails on any API error."""
    body = api(prom, "/api/v1/query", query=expr)
    if body.get("status") != "success":
        fail(f"query {expr!r}: status {body.get('status')}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]["result"]


def scalar(prom, expr):
    """The value of a query that must return exactly one sample."""
    res = query(prom, expr)
    if len(res) != 1:
        fail(f"query {expr!r}: expected one sample, got {len(res)}: {res}")
    return float(res[0]["value"][1])


def wait_for(desc, fn, timeout_s):
    """Polls fn() every 0.5 s until it returns a true value, at most timeout_s."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.5)
    fail(f"{desc() if callable(desc) else desc}: not within {timeout_s} s (last: {last})")


def loadgen_ok(path):
    with open(path) as f:
        report = json.load(f)
    if not report.get("passed") or not report.get("exact"):
        fail(f"loadgen report {path} did not pass (lost {report.get('lost')}, errors {report.get('errors')})")
    if report["ok"] != report["sent"] or report["errors_total"] != 0:
        fail(f"loadgen {path}: sent {report['sent']} ok {report['ok']} errors {report['errors_total']}")
    return report["ok"]


def live(prom, instance, cores, tcp_json, http_json, dashboard):
    sel = f'job="{JOB}",instance="{instance}"'
    tcp_ok, http_ok = loadgen_ok(tcp_json), loadgen_ok(http_json)
    calls = tcp_ok + http_ok
    print(f"loadgen answered {tcp_ok} tools/call over tcp and {http_ok} over http: {calls}")

    up = scalar(prom, f"up{{{sel}}}")
    if up != 1:
        fail(f"up{{{sel}}} is {up}, want 1")
    ok(f"up{{{sel}}} == 1")

    # A scrape after the load ended holds the final counts: wait for the exact total.
    expr = f'sum(ringmcp_messages_total{{{sel},method="tools/call"}})'
    seen = []
    wait_for(lambda: f"{expr} == {calls} (values seen: {seen[-5:]})", lambda: seen.append(scalar(prom, expr)) or seen[-1] == calls, 10)
    ok(f"{expr} == {calls} (every answered call counted once)")

    expr = f"sum(ringmcp_request_duration_seconds_count{{{sel}}})"
    got = scalar(prom, expr)
    if got != calls:
        fail(f"{expr} is {got}, want {calls} (one observation per request)")
    ok(f"{expr} == {calls}")

    # HTTP 200s are loadgen's answers plus the /metrics scrapes and the run's one /health
    # readiness check (they are HTTP answers too): between the first and the sum.
    expr = f'sum(ringmcp_http_responses_total{{{sel},status="200"}})'
    got = scalar(prom, expr)
    scrapes = scalar(prom, f"count_over_time(up{{{sel}}}[10m])")
    if not http_ok <= got <= http_ok + scrapes + 1:
        fail(f"{expr} is {got}, want {http_ok} (loadgen's answers) + at most {scrapes:g} scrapes + 1 /health")
    ok(f"{expr} == {got:g}: {http_ok} loadgen answers + {got - http_ok:g} (≤ {scrapes:g} scrapes + 1 /health)")

    expr = f"sum(ringmcp_errors_total{{{sel}}})"
    got = scalar(prom, expr)
    if got != 0:
        fail(f"{expr} is {got}, want 0")
    ok(f"{expr} == 0")

    for transport in ("tcp", "http"):
        expr = f'sum(ringmcp_connections_accepted_total{{{sel},transport="{transport}"}})'
        got = scalar(prom, expr)
        if got < 1:
            fail(f"{expr} is {got}, want ≥ 1")
        ok(f"{expr} == {got:g} (≥ 1)")

    want_cores = {str(c) for c in range(cores)}
    for metric in ("ringmcp_io_path", "ringmcp_queue_depth", "ringmcp_queue_capacity",
                   "ringmcp_request_duration_seconds_count"):
        res = query(prom, f"{metric}{{{sel}}}")
        got = {r["metric"].get("core") for r in res}
        if got != want_cores:
            fail(f"{metric}: core labels {sorted(map(str, got))}, want {sorted(want_cores)}")
    ok(f"per-core series carry core labels {sorted(want_cores)}")

    healthy(prom, instance, cores)

    res = query(prom, f"ringmcp_connections{{{sel}}}")
    transports = {r["metric"]["transport"] for r in res}
    if transports != {"tcp", "http", "websocket", "stdio"}:
        fail(f"ringmcp_connections transports {sorted(transports)}")
    ok("ringmcp_connections has transport tcp, http, websocket, stdio")

    buckets = query(prom, f'ringmcp_request_duration_seconds_bucket{{{sel},core="0"}}')
    les = sorted(r["metric"]["le"] for r in buckets)
    for le in ("0.05", "0.1", "+Inf"):
        if le not in les:
            fail(f"histogram has no le={le} bucket (the 50/100 ms SLO needs it): {les}")
    ok(f"histogram buckets include the SLO bounds 0.05 and 0.1 ({len(les)} buckets)")

    # Recording rules evaluate on the live series.
    expr = f'instance_method:ringmcp_messages:rate1m{{{sel},method="tools/call"}}'
    rate = wait_for(f"{expr} > 0", lambda: (lambda v: v if v > 0 else None)(scalar(prom, expr)), 10)
    ok(f"{expr} == {rate:.1f}/s (> 0)")
    expr = f"instance:ringmcp_request_duration_seconds:p99_5m{{{sel}}}"
    p99 = scalar(prom, expr)
    if not 0 < p99 <= 0.1:
        fail(f"{expr} is {p99}, want 0 < p99 ≤ 0.1 s for echo on loopback")
    ok(f"{expr} == {p99 * 1000:.3f} ms (within the 100 ms SLO)")
    expr = f"instance:ringmcp_server_error_ratio:rate5m{{{sel}}}"
    if (v := scalar(prom, expr)) != 0:
        fail(f"{expr} is {v}, want 0")
    ok(f"{expr} == 0")
    res = query(prom, f"instance_core:ringmcp_queue_fill:ratio{{{sel}}}")
    if {r["metric"]["core"] for r in res} != want_cores or any(float(r["value"][1]) != 0 for r in res):
        fail(f"instance_core:ringmcp_queue_fill:ratio: {res}")
    ok(f"instance_core:ringmcp_queue_fill:ratio == 0 on cores {sorted(want_cores)}")

    rules = api(prom, "/api/v1/rules")
    if rules.get("status") != "success":
        fail(f"/api/v1/rules: {rules}")
    groups = rules["data"]["groups"]
    names = sorted(g["name"] for g in groups)
    want = ["ringmcp.alerts", "ringmcp.readiness", "ringmcp.recording", "ringmcp.test"]
    if names != want:
        fail(f"rule groups {names}, want {want}")
    count = 0
    for g in groups:
        for r in g["rules"]:
            count += 1
            if r.get("health") != "ok":
                fail(f"rule {r.get('name')} in {g['name']}: health {r.get('health')}: {r.get('lastError')}")
    ok(f"/api/v1/rules: {len(groups)} groups, all {count} rules health \"ok\"")

    firing = query(prom, 'ALERTS{alertname=~"Ringmcp.*"}')
    if firing:
        fail(f"alerts while the server is healthy: {[r['metric'] for r in firing]}")
    ok("no Ringmcp alert pending or firing while the server is healthy")

    check_dashboard_live(prom, instance, dashboard)


# queue_capacity 10000 × queue_warn_percent 75 (the defaults; tests/prometheus/run sets neither).
QUEUE_WARN_DEPTH = 7500


def healthy(prom, instance, cores, max_connections=15000):
    """The readiness and mark gauges of an idle, healthy server: exact, on every core."""
    sel = f'job="{JOB}",instance="{instance}"'
    want_cores = {str(c) for c in range(cores)}
    for metric, want in (("ringmcp_ready", 1), ("ringmcp_draining", 0), ("ringmcp_degraded", 0),
                         ("ringmcp_queue_warn_depth", QUEUE_WARN_DEPTH),
                         ("ringmcp_max_connections", max_connections)):
        res = query(prom, f"{metric}{{{sel}}}")
        got = {r["metric"].get("core"): float(r["value"][1]) for r in res}
        if got != {c: want for c in want_cores}:
            fail(f"{metric}{{{sel}}}: {got}, want {want} on cores {sorted(want_cores)}")
        ok(f"{metric}{{{sel}}} == {want} on cores {sorted(want_cores)}")
    res = query(prom, f'{{{sel},__name__=~"ringmcp_tool_breaker_.*"}}')
    if res:
        fail(f"breaker series on a server whose tools never failed: {[r['metric'] for r in res]}")
    ok("no ringmcp_tool_breaker_* series (no tool has failed)")


class Ndjson:
    """A 2025-11-25 session over raw NDJSON on the server's one port."""

    def __init__(self, instance):
        host, port = instance.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buf = b""
        self.next_id = 0
        init = self.call("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                        "clientInfo": {"name": "tests/prometheus", "version": "1"}})
        if "result" not in init:
            fail(f"initialize over NDJSON: {init}")
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg):
        self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def call(self, method, params):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    fail(f"{method}: the server closed the connection")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if msg.get("id") == self.next_id:
                return msg


BREAKER_TOOL = "test_error_handling"  # the conformance pack's tool that always fails
BREAKER_FAILURES = 5  # breaker_failures' default


def breaker(prom, instance, dashboard):
    """Fails the conformance pack's error tool until its breaker opens, then checks what
    Prometheus sees: the breaker series, degraded, the alert pending, the dashboard panel."""
    sel = f'job="{JOB}",instance="{instance}"'
    conn = Ndjson(instance)
    for n in range(BREAKER_FAILURES):
        r = conn.call("tools/call", {"name": BREAKER_TOOL, "arguments": {}})
        if not r.get("result", {}).get("isError"):
            fail(f"call {n + 1} of {BREAKER_TOOL}: want an isError result, got {r}")
    r = conn.call("tools/call", {"name": BREAKER_TOOL, "arguments": {}})
    if r.get("error", {}).get("code") != -32011:
        fail(f"call {BREAKER_FAILURES + 1} of {BREAKER_TOOL}: want error -32011 (circuit open), got {r}")
    ok(f"{BREAKER_FAILURES} calls of {BREAKER_TOOL} answered isError, the next -32011 (breaker open)")

    tsel = f'{sel},tool="{BREAKER_TOOL}"'
    for metric, want in (("ringmcp_tool_breaker_state", 2), ("ringmcp_tool_breaker_trips_total", 1),
                         ("ringmcp_tool_breaker_rejections_total", 1)):
        expr = f"{metric}{{{tsel}}}"
        seen = []
        wait_for(lambda: f"{expr} == {want} (seen {seen[-3:]})",
                 lambda: seen.append([float(x["value"][1]) for x in query(prom, expr)]) or seen[-1] == [want], 10)
        ok(f"{expr} == {want}")
    expr = f"max(ringmcp_degraded{{{sel}}})"
    if (v := scalar(prom, expr)) != 1:
        fail(f"{expr} is {v}, want 1 (a breaker is open)")
    ok(f"{expr} == 1 (a breaker open makes the core degraded)")

    def alert():
        res = query(prom, f'ALERTS{{alertname="RingmcpCircuitBreakerOpen",{sel}}}')
        return res[0]["metric"] if res else None
    got = wait_for("RingmcpCircuitBreakerOpen pending", alert, 10)
    want = {"__name__": "ALERTS", "alertname": "RingmcpCircuitBreakerOpen", "alertstate": "pending",
            "job": JOB, "instance": instance, "tool": BREAKER_TOOL, "severity": "warning"}
    if got != want:
        fail(f"ALERTS: {got}, want {want}")
    ok(f"ALERTS {{alertname=RingmcpCircuitBreakerOpen, tool={BREAKER_TOOL}}} pending (for: 1m)")

    exprs = [(t, e) for t, e in dashboard_static(dashboard) if "ringmcp_tool_breaker_state" in e]
    if len(exprs) != 1:
        fail(f"want one dashboard query on ringmcp_tool_breaker_state, got {exprs}")
    title, expr = exprs[0]
    q = expr.replace("$instance", instance).replace("$core", ".*")
    res = query(prom, q)
    got = [(r["metric"].get("tool"), float(r["value"][1])) for r in res]
    if got != [(BREAKER_TOOL, 2)]:
        fail(f"panel {title!r}: {q!r} gave {got}, want [({BREAKER_TOOL!r}, 2)]")
    ok(f"panel {title!r}: {BREAKER_TOOL} open (2): {q}")


def drain(prom, instance):
    """After SIGTERM with shutdown_delay_ms and the exit: the scrapes of the delay window
    (read back from the TSDB, so no race with the window) show draining 1 and ready 0 on
    every core, RingmcpDrainingTooLong went pending, RingmcpNotReady never did."""
    sel = f'job="{JOB}",instance="{instance}"'

    def samples(metric):
        res = query(prom, f"{metric}{{{sel}}}[2m]")
        return {(r["metric"]["core"], float(t)): float(v) for r in res for t, v in r["values"]}

    draining, ready = samples("ringmcp_draining"), samples("ringmcp_ready")
    if draining.keys() != ready.keys():
        fail(f"ringmcp_draining and ringmcp_ready were not scraped together: {sorted(draining)} {sorted(ready)}")
    during = sorted(k for k, v in draining.items() if v == 1)
    before = sorted(k for k, v in draining.items() if v == 0)
    if not during:
        fail(f"no scrape in the shutdown delay showed ringmcp_draining 1: {sorted(draining.items())}")
    if not before or max(t for _, t in before) > min(t for _, t in during):
        fail(f"ringmcp_draining went back to 0 after 1: {sorted(draining.items())}")
    if any(ready[k] != 0 for k in during) or any(ready[k] != 1 for k in before):
        fail(f"ringmcp_ready is not 1 - ringmcp_draining: draining {sorted(draining.items())} ready {sorted(ready.items())}")
    ok(f"{len(during)} scrape(s) in the shutdown delay: ringmcp_draining 1 and ringmcp_ready 0; "
       f"{len(before)} before SIGTERM: 0 and 1")

    res = query(prom, f'ALERTS{{alertname="RingmcpDrainingTooLong",{sel}}}[2m]')
    states = {r["metric"]["alertstate"] for r in res}
    if states != {"pending"}:
        fail(f"RingmcpDrainingTooLong states {states}, want pending only (for: 5m)")
    ok("ALERTS{alertname=\"RingmcpDrainingTooLong\"} was pending during the delay")
    res = query(prom, f'ALERTS{{alertname="RingmcpNotReady",{sel}}}[2m]')
    if res:
        fail(f"RingmcpNotReady went {[r['metric']['alertstate'] for r in res]} during a drain")
    ok("ALERTS{alertname=\"RingmcpNotReady\"} never appeared: not ready while draining is no alert")


def panels_of(dash):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])


def dashboard_static(path):
    with open(path) as f:
        dash = json.load(f)
    ok(f"{path} is valid JSON")
    if not 36 <= dash.get("schemaVersion", 0) <= 41:
        fail(f"schemaVersion {dash.get('schemaVersion')}, want about 39")
    names = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    for v in ("datasource", "instance", "core"):
        if v not in names:
            fail(f"template variable {v} missing (have {sorted(names)})")
    ok(f"schemaVersion {dash['schemaVersion']}, template variables {sorted(names)}")
    exprs = []
    ids = set()
    for p in panels_of(dash):
        if p.get("type") == "row":
            continue
        if p.get("id") in ids:
            fail(f"panel id {p.get('id')} is used twice")
        ids.add(p.get("id"))
        targets = p.get("targets") or []
        if not targets or any(not t.get("expr") for t in targets):
            fail(f"panel {p.get('title')!r} has no targets or a target without expr")
        exprs += [(p["title"], t["expr"]) for t in targets]
    ok(f"{len(ids)} panels, each with targets: {len(exprs)} PromQL expressions")
    return exprs


# Panels whose series exist only with a feature on (auth) or after a tool failed (breakers):
# they must evaluate without error, but may be empty on a default server (the breaker panel is
# checked non-empty by `breaker`).
MAY_BE_EMPTY = re.compile(r"ringmcp_auth_|ringmcp_tool_breaker_")


def check_dashboard_live(prom, instance, path):
    exprs = dashboard_static(path)
    for title, expr in exprs:
        q = (expr.replace("$instance", instance).replace("$core", ".*")
             .replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$job", JOB))
        if "$" in q.replace("$labels", ""):
            fail(f"panel {title!r}: template variable left in {q!r}")
        res = query(prom, q)
        if not res and not MAY_BE_EMPTY.search(q):
            fail(f"panel {title!r}: {q!r} returned no series")
        print(f"  ok: panel {title!r}: {len(res)} series: {q}")


def down(prom, instance, timeout_s):
    sel = f'job="{JOB}",instance="{instance}"'

    def state(name):
        res = query(prom, f'ALERTS{{alertname="{name}",{sel}}}')
        return res[0]["metric"]["alertstate"] if res else None

    wait_for(f"up{{{sel}}} == 0", lambda: scalar(prom, f"up{{{sel}}}") == 0, timeout_s)
    ok(f"up{{{sel}}} == 0 after the server was killed")
    got = wait_for("RingmcpTargetDown pending (for: 1m)", lambda: state("RingmcpTargetDown"), timeout_s)
    if got != "pending":
        fail(f"RingmcpTargetDown is {got} within seconds, want pending (its for: is 1m)")
    ok("ALERTS{alertname=\"RingmcpTargetDown\"} is pending (shipped rule, for: 1m)")
    wait_for("RingmcpTargetDownTest firing", lambda: state("RingmcpTargetDownTest") == "firing", timeout_s)
    ok("ALERTS{alertname=\"RingmcpTargetDownTest\"} is firing (the same expression, for: 2s)")
    alerts = [a for a in api(prom, "/api/v1/alerts")["data"]["alerts"] if a["labels"].get("instance") == instance]
    names = sorted({a["labels"]["alertname"] for a in alerts})
    if names != ["RingmcpTargetDown", "RingmcpTargetDownTest"]:
        fail(f"active alerts of {instance}: {names}, want only the two target-down alerts")
    severity = {a["labels"]["alertname"]: a["labels"].get("severity") for a in alerts}
    if severity["RingmcpTargetDown"] != "critical":
        fail(f"RingmcpTargetDown severity {severity['RingmcpTargetDown']}")
    ok(f"/api/v1/alerts: {names}, severity critical")


def main(argv):
    if len(argv) >= 2 and argv[1] == "live" and len(argv) == 8:
        live(argv[2], argv[3], int(argv[4]), argv[5], argv[6], argv[7])
    elif len(argv) in (5, 6) and argv[1] == "healthy":
        healthy(argv[2], argv[3], int(argv[4]), *map(int, argv[5:]))
    elif len(argv) == 5 and argv[1] == "breaker":
        breaker(argv[2], argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "drain":
        drain(argv[2], argv[3])
    elif len(argv) == 5 and argv[1] == "down":
        down(argv[2], argv[3], float(argv[4]))
    elif len(argv) == 3 and argv[1] == "dashboard-static":
        dashboard_static(argv[2])
    else:
        fail(f"usage: {__doc__}")


if __name__ == "__main__":
    main(sys.argv)
