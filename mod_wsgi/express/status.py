"""--status-url: a live HTML page of the server, for a browser on the
same host. It asks --metrics-url for the Prometheus page every two
seconds and shows, per daemon group (and for Apache's own processes),
throughput and mean latency over the last five minutes as a plot, busy
and idle threads, restarts, the requests that ran past --slow-requests
(their URLs and stacks are in the error log, WSGI0306) and the memory of
its processes.
The page is one self-contained file (no script from elsewhere), written
into the server root."""

TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mod_wsgi-express: %(name)s</title>
<style>
body { font: 14px sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
canvas { border: 1px solid #ccc; margin: 0.3em 1em 1em 0; }
.error { color: #b00; }
</style>
</head>
<body>
<h1>%(name)s</h1>
<p id="state">Waiting for the first figures from %(metrics)s ...</p>
<table id="groups">
<thead><tr><th>group</th><th>req/s</th><th>mean latency ms</th>
<th>busy</th><th>idle</th><th>restarts</th><th>slow</th>
<th>memory MiB</th></tr></thead>
<tbody></tbody>
</table>
<div id="plots"></div>
<script>
"use strict";
var METRICS = %(metrics_json)s, EVERY = 2000, KEEP = 150;
var seen = {};      // group -> [{t, rps, ms}] (not "history": window.history)
var last = null;    // the previous sample, for rates

function parse(text) {
  // "name{k="v",...} value" lines; # lines are comments.
  var out = [];
  text.split("\n").forEach(function (line) {
    var m = /^([a-z_]+)\{(.*)\} ([0-9.e+-]+)$/.exec(line);
    if (!m) return;
    var labels = {};
    m[2].replace(/([a-z]+)="((?:[^"\\]|\\.)*)"/g, function (_, k, v) {
      labels[k] = v.replace(/\\(.)/g, "$1");
    });
    out.push({name: m[1], labels: labels, value: parseFloat(m[3])});
  });
  return out;
}

function sample(rows) {
  var s = {};
  rows.forEach(function (r) {
    var g = r.labels.group;
    if (!g) return;
    var e = s[g] || (s[g] = {requests: 0, sum: 0, count: 0, busy: 0,
                             idle: 0, restarts: 0, slow: 0,
                             memory: 0});
    if (r.name === "mod_wsgi_requests_total") e.requests += r.value;
    if (r.name === "mod_wsgi_request_duration_seconds_sum" &&
        r.labels.phase === "total") e.sum = r.value;
    if (r.name === "mod_wsgi_request_duration_seconds_count" &&
        r.labels.phase === "total") e.count = r.value;
    if (r.name === "mod_wsgi_threads") e[r.labels.state] = r.value;
    if (r.name === "mod_wsgi_process_restarts_total") e.restarts += r.value;
    if (r.name === "mod_wsgi_slow_requests_total") e.slow = r.value;
    if (r.name === "mod_wsgi_process_resident_memory_bytes")
      e.memory += r.value / 1048576;
  });
  return s;
}

function cell(text) {
  var td = document.createElement("td");
  td.textContent = text;
  return td;
}

function plot(group, points) {
  var id = "plot-" + group.replace(/[^A-Za-z0-9]/g, "_");
  var c = document.getElementById(id);
  if (!c) {
    var h = document.createElement("h3");
    h.textContent = group + ": req/s (blue) and mean latency ms (red)";
    c = document.createElement("canvas");
    c.id = id; c.width = 600; c.height = 160;
    c.setAttribute("data-group", group);
    document.getElementById("plots").append(h, c);
  }
  var x = c.getContext("2d");
  x.clearRect(0, 0, c.width, c.height);
  [["rps", "#1f5fbf"], ["ms", "#bf1f1f"]].forEach(function (kind) {
    var top = Math.max(1, Math.max.apply(null, points.map(function (p) {
      return p[kind[0]]; })));
    x.strokeStyle = kind[1];
    x.beginPath();
    points.forEach(function (p, i) {
      var px = c.width * (KEEP - points.length + i) / (KEEP - 1);
      var py = c.height - 5 - (c.height - 10) * p[kind[0]] / top;
      if (i === 0) x.moveTo(px, py); else x.lineTo(px, py);
    });
    x.stroke();
    x.fillStyle = kind[1];
    x.fillText(kind[0] + " max " + top.toFixed(1), 5,
               kind[0] === "rps" ? 12 : 26);
  });
  c.setAttribute("data-points", points.length);
}

function show(now, s) {
  var body = document.querySelector("#groups tbody");
  body.textContent = "";
  Object.keys(s).sort().forEach(function (g) {
    var e = s[g], p = last && last.s[g], rps = 0, ms = 0;
    if (p) {
      var dt = (now - last.t) / 1000, dn = e.count - p.count;
      rps = (e.requests - p.requests) / dt;
      ms = dn > 0 ? 1000 * (e.sum - p.sum) / dn : 0;
    }
    var h = seen[g] || (seen[g] = []);
    if (last) h.push({t: now, rps: rps, ms: ms});
    if (h.length > KEEP) h.shift();
    var tr = document.createElement("tr");
    tr.setAttribute("data-group", g);
    tr.setAttribute("data-requests", e.requests);
    tr.append(cell(g), cell(rps.toFixed(1)), cell(ms.toFixed(1)),
              cell(e.busy), cell(e.idle), cell(e.restarts), cell(e.slow),
              cell(e.memory.toFixed(1)));
    body.append(tr);
    plot(g, h);
  });
  last = {t: now, s: s};
  var state = document.getElementById("state");
  state.className = "";
  state.textContent = "Updated " + new Date(now).toLocaleTimeString() +
    " from " + METRICS + " (every " + EVERY / 1000 + " s)";
}

function tick() {
  fetch(METRICS, {cache: "no-store"}).then(function (r) {
    if (!r.ok) throw new Error(METRICS + " answered " + r.status);
    return r.text();
  }).then(function (text) {
    show(Date.now(), sample(parse(text)));
  }).catch(function (err) {
    var state = document.getElementById("state");
    state.className = "error";
    state.textContent = String(err);
  }).finally(function () {
    setTimeout(tick, EVERY);
  });
}
tick();
</script>
</body>
</html>
"""


def render(name, metrics_url):
    """The page for the server called name, reading metrics_url."""
    import html
    import json
    return TEMPLATE % {"name": html.escape(name),
                       "metrics": html.escape(metrics_url),
                       # "</script>" cannot end the script early.
                       "metrics_json": json.dumps(metrics_url).replace(
                           "<", "\\u003c")}
