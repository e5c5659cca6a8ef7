#!/usr/bin/env bash
# Checks the SLO kit (see ../SLO.md, "Running the checks"):
#   1. promtool check rules slo/rules.yml         (syntax, PromQL, templates)
#   2. promtool test rules slo/rules_test.yml     (recording values, alerts firing or not)
#   3. slo/dashboard.json parses, and every metric its queries name exists: a family of the
#      metric table in src/metrics/mod.rs (histograms with _bucket/_sum/_count) or a recording
#      rule of slo/rules.yml; the same for the metrics slo/rules.yml itself reads. Its queries
#      (Grafana variables replaced) pass `promtool check rules` as PromQL.
#   4. promtool check metrics on a synthetic exposition of every family of that table (naming
#      lint: counters end in _total, base units, no unit abbreviations...)
#   5. with an argument FILE (a real /metrics scrape): promtool check metrics < FILE (format and
#      naming lint), and the scrape's families equal the metric table's.
#
# Usage: slo/check.sh [SCRAPE_FILE]
# Needs promtool (Debian package prometheus, installed by ci/test.sh) and python3.
set -euo pipefail

cd "$(dirname "$0")/.."

die() {
    echo "slo/check.sh: $*" >&2
    exit 1
}

if [ "$#" -gt 1 ]; then
    die "usage: slo/check.sh [SCRAPE_FILE]"
fi
command -v promtool >/dev/null 2>&1 ||
    die "promtool not found: ci/test.sh installs the Debian package prometheus"
command -v python3 >/dev/null 2>&1 ||
    die "python3 not found: it validates slo/dashboard.json (Debian package python3)"

echo "== promtool check rules slo/rules.yml"
promtool check rules slo/rules.yml

echo "== promtool test rules slo/rules_test.yml"
promtool test rules slo/rules_test.yml

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== slo/dashboard.json: JSON, and every metric named by a query exists"
python3 - slo/dashboard.json slo/rules.yml src/metrics/mod.rs "$tmp/dashboard_queries.yml" <<'PY'
import json
import re
import sys

dash_path, rules_path, table_path, queries_out = sys.argv[1:5]
errors = []
as_rules = []  # every query, Grafana variables replaced, as a recording rule for promtool

# The metric table of the metrics module doc: "//! | `name` | type | labels |".
table = {}
row = re.compile(r"^//!\s*\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(counter|gauge|histogram|summary)\s*\|")
with open(table_path, encoding="utf-8") as f:
    for line in f:
        m = row.match(line)
        if m:
            table[m.group(1)] = m.group(2)
if len(table) < 10:
    sys.exit(f"{table_path}: found only {len(table)} rows in the metric table of the module doc; "
             "expected lines like //! | `tlsterm_requests_total` | counter | ... |")

# Recording rules of rules.yml (written one `- record: name` per line).
with open(rules_path, encoding="utf-8") as f:
    rules_text = f.read()
recorded = set(re.findall(r"^\s*-\s*record:\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$", rules_text, re.M))
if not recorded:
    sys.exit(f"{rules_path}: no `- record:` lines found")

exported = set(table)
for name, kind in table.items():
    if kind == "histogram":
        exported |= {name + "_bucket", name + "_sum", name + "_count"}
    elif kind == "summary":
        exported |= {name + "_sum", name + "_count"}

ident = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
string = re.compile(r'"(?:[^"\\]|\\.)*"')

def check(expr, where):
    """Every tlsterm_/haproxy_/process_ name and every name with a colon must exist."""
    bare = string.sub('""', expr)  # label values are not metric names
    bare = re.sub(r"\$\{?[a-zA-Z_]\w*\}?", "", bare)  # Grafana variables
    for tok in ident.findall(bare):
        if ":" in tok.rstrip(":"):
            if tok not in recorded:
                errors.append(f"{where}: {tok} is not a recording rule of {rules_path}")
        elif tok.startswith(("tlsterm_", "haproxy_", "process_")):
            if tok not in exported:
                errors.append(f"{where}: {tok} is not in the metric table of {table_path}")

with open(dash_path, encoding="utf-8") as f:
    try:
        dash = json.load(f)
    except json.JSONDecodeError as e:
        sys.exit(f"{dash_path}: not valid JSON: {e}")

queries = 0
ids = set()

def walk(panels):
    global queries
    for p in panels:
        title = p.get("title", "?")
        pid = p.get("id")
        if pid in ids:
            errors.append(f"{dash_path}: panel id {pid} ({title}) used twice")
        ids.add(pid)
        if p.get("type") != "row":
            ds = p.get("datasource", {})
            if not (isinstance(ds, dict) and ds.get("uid") == "${datasource}"):
                errors.append(f"{dash_path}: panel {title!r} does not use the $datasource variable")
            if not p.get("targets"):
                errors.append(f"{dash_path}: panel {title!r} has no query")
        for t in p.get("targets", []):
            expr = t.get("expr", "")
            if not expr.strip():
                errors.append(f"{dash_path}: panel {title!r} query {t.get('refId')} is empty")
                continue
            queries += 1
            check(expr, f"{dash_path}: panel {title!r} query {t.get('refId')}")
            as_rules.append((expr, f"panel {title!r} query {t.get('refId')}"))
        walk(p.get("panels", []))

walk(dash.get("panels", []))
for v in dash.get("templating", {}).get("list", []):
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query", "")
    if v.get("type") == "query" and isinstance(q, str):
        queries += 1
        check(q, f"{dash_path}: variable ${v.get('name')}")
names = [v.get("name") for v in dash.get("templating", {}).get("list", [])]
if "datasource" not in names:
    errors.append(f"{dash_path}: no datasource template variable")

# The rules' own expressions (comment lines skipped; annotations count too).
for n, line in enumerate(rules_text.splitlines(), 1):
    if line.lstrip().startswith("#") or re.match(r"^\s*-\s*record:", line):
        continue
    check(re.sub(r"^\s*(-\s*)?[a-z_]+:(\s|$)", " ", line), f"{rules_path}:{n}")

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(f"{len(errors)} unknown metric name(s) or dashboard problem(s)")

# JSON is YAML: a rule file promtool can parse, one recording rule per panel query.
grafana_vars = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
                "${datasource}": "", "$job": ".*", "$instance": ".*"}
rules = []
with open(queries_out + ".index", "w", encoding="utf-8") as index:
    for i, (expr, where) in enumerate(as_rules):
        for k, v in grafana_vars.items():
            expr = expr.replace(k, v)
        if "$" in expr:
            sys.exit(f"{dash_path}: {where}: unknown Grafana variable in {expr}")
        rules.append({"record": f"dashboard:query:{i}", "expr": expr})
        print(f"  dashboard:query:{i} = {where}", file=index)
with open(queries_out, "w", encoding="utf-8") as f:
    json.dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f)
print(f"ok: {queries} queries, {len(ids)} panels; {len(table)} metric families in the table, "
      f"{len(recorded)} recording rules")
PY

echo "== the dashboard's queries are valid PromQL (promtool check rules on them)"
if ! promtool check rules "$tmp/dashboard_queries.yml"; then
    echo "the queries of slo/dashboard.json, as named above:" >&2
    cat "$tmp/dashboard_queries.yml.index" >&2
    die "a query of slo/dashboard.json is not valid PromQL (see above)"
fi

echo "== promtool check metrics on every family of the metric table (names, types, units)"
# A real scrape leaves families without samples unlinted (no OCSP staple, no fetch...), so the
# table itself is rendered as a synthetic exposition with one sample per family and linted.
synthetic="$(python3 - src/metrics/mod.rs <<'PY'
import re
import sys

row = re.compile(r"^//!\s*\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(counter|gauge|histogram|summary)\s*\|")
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        m = row.match(line)
        if not m:
            continue
        name, kind = m.groups()
        print(f"# HELP {name} From the metric table.")
        print(f"# TYPE {name} {kind}")
        if kind == "histogram":
            print(f'{name}_bucket{{le="0.05"}} 1')
            print(f'{name}_bucket{{le="+Inf"}} 1')
            print(f"{name}_sum 0.01")
            print(f"{name}_count 1")
        elif kind == "summary":
            print(f"{name}_sum 0.01")
            print(f"{name}_count 1")
        else:
            print(f"{name} 1")
PY
)"
if ! promtool check metrics <<<"$synthetic"; then
    die "promtool check metrics: the names in the metric table of src/metrics/mod.rs have lint problems (listed above)"
fi

if [ "$#" -eq 1 ]; then
    scrape="$1"
    [ -r "$scrape" ] || die "cannot read the scrape file $scrape"
    echo "== promtool check metrics < $scrape"
    # Non-zero on a format error or on any lint problem (e.g. a counter without _total);
    # both fail the check: rename the metric rather than ignore the lint.
    if ! promtool check metrics <"$scrape"; then
        die "promtool check metrics found problems in $scrape (listed above)"
    fi
    echo "== $scrape: families equal the metric table of src/metrics/mod.rs"
    python3 - "$scrape" src/metrics/mod.rs <<'PY'
import re
import sys

scrape_path, table_path = sys.argv[1:3]
row = re.compile(r"^//!\s*\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(counter|gauge|histogram|summary)\s*\|")
table = {}
with open(table_path, encoding="utf-8") as f:
    for line in f:
        m = row.match(line)
        if m:
            table[m.group(1)] = m.group(2)
scraped = {}
with open(scrape_path, encoding="utf-8") as f:
    for line in f:
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "#" and parts[1] == "TYPE":
            scraped[parts[2]] = parts[3]
errors = []
for name in sorted(set(scraped) - set(table)):
    errors.append(f"{scrape_path}: {name} is exported but missing from the metric table of {table_path}")
for name in sorted(set(table) - set(scraped)):
    errors.append(f"{scrape_path}: {name} is in the metric table of {table_path} but not exported")
for name in sorted(set(table) & set(scraped)):
    if table[name] != scraped[name]:
        errors.append(f"{name}: type {scraped[name]} in the scrape, {table[name]} in {table_path}")
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(f"{len(errors)} difference(s) between the scrape and the metric table")
print(f"ok: {len(scraped)} families")
PY
fi

echo "slo/check.sh: all checks passed"
