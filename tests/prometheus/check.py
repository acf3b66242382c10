"""Assertions of tests/prometheus/run against a live Prometheus that scrapes a live ringmcp.

Usage:
  check.py live PROM_URL INSTANCE CORES TCP_JSON HTTP_JSON DASHBOARD_JSON
  check.py down PROM_URL INSTANCE TIMEOUT_S
  check.py dashboard-static DASHBOARD_JSON

Every check prints what it checks; the first failure exits 1 with the reason.
"""

import json
import re
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


# Panels whose series exist only with a feature on (auth, a blackbox /ready probe): they must
# evaluate without error, but may be empty on a default server.
MAY_BE_EMPTY = re.compile(r"ringmcp_auth_|probe_success")


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
    alerts = api(prom, "/api/v1/alerts")["data"]["alerts"]
    names = sorted({a["labels"]["alertname"] for a in alerts})
    if names != ["RingmcpTargetDown", "RingmcpTargetDownTest"]:
        fail(f"active alerts {names}, want only the two target-down alerts")
    severity = {a["labels"]["alertname"]: a["labels"].get("severity") for a in alerts}
    if severity["RingmcpTargetDown"] != "critical":
        fail(f"RingmcpTargetDown severity {severity['RingmcpTargetDown']}")
    ok(f"/api/v1/alerts: {names}, severity critical")


def main(argv):
    if len(argv) >= 2 and argv[1] == "live" and len(argv) == 8:
        live(argv[2], argv[3], int(argv[4]), argv[5], argv[6], argv[7])
    elif len(argv) == 5 and argv[1] == "down":
        down(argv[2], argv[3], float(argv[4]))
    elif len(argv) == 3 and argv[1] == "dashboard-static":
        dashboard_static(argv[2])
    else:
        fail(f"usage: {__doc__}")


if __name__ == "__main__":
    main(sys.argv)
