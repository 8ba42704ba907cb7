#!/usr/bin/env python3
"""Cross-checks of the deployment artefacts that generic schema validators cannot do (run by
scripts/validate-deploy.sh with its venv's Python):
- the KEDA ScaledObject (no schema in kubernetes-validate): required fields, that it scales a
  Deployment defined in deploy/k8s, and that its streams and consumer group are the ones the code
  uses (`{<prefix>}:queue:<lane>`, group from polyvox-infra);
- every Polyvox setting named in compose and the manifests is an env var the binary reads (a typo
  there would be silently ignored by clap);
- the Prometheus rules name only metrics that `polyvox_core::metrics` defines and recorded series
  that a recording rule defines, and every alert has a firing and a silent unit test
  (`promtool test rules` runs them; it cannot tell an alert that no test mentions).
Exits non-zero with one line per problem."""
import pathlib
import re
import sys

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Settings named in the artefacts before `cli.rs` has them (none at present).
PENDING: set = set()
SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {"type": "object", "required": ["name"],
                                   "properties": {"name": {"type": "string"}}},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "triggers": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["type", "metadata"],
                    "properties": {"type": {"const": "redis-streams"}, "metadata": {
                        "type": "object", "required": ["address", "stream", "consumerGroup"],
                        "additionalProperties": False,
                        "properties": {k: {"type": "string"} for k in (
                            "address", "stream", "consumerGroup", "streamLength", "lagCount",
                            "pendingEntriesCount", "activationLagCount", "databaseIndex")}}}}},
            },
        },
    },
}


def docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def metric_names(expr):
    """The polyvox_*/process_* metric names in a PromQL expression, histogram suffixes removed."""
    names = set(re.findall(r"(?<![\w:])((?:polyvox|process)_\w+)", expr))
    return {re.sub(r"_(bucket|count|sum)$", "", n) if n.endswith(("_bucket", "_count", "_sum")) else n
            for n in names}


def rule_problems():
    problems = []
    prom = ROOT / "deploy/prometheus"
    src = (ROOT / "crates/polyvox-core/src/metrics.rs").read_text()
    defined = set(re.findall(r'pub const \w+: &str = "((?:polyvox|process)_\w+)";', src))
    groups = [g for f in sorted(prom.glob("*.rules.yml")) for g in yaml.safe_load(f.read_text())["groups"]]
    rules = [r for g in groups for r in g["rules"]]
    recorded = {r["record"] for r in rules if "record" in r}
    alerts = {r["alert"] for r in rules if "alert" in r}
    for r in rules:
        name = r.get("record") or r.get("alert")
        for m in sorted(metric_names(r["expr"]) - defined):
            problems.append(f"rule {name} reads {m}, which polyvox_core::metrics does not define")
        for used in sorted(set(re.findall(r"\bpolyvox:[\w:]+", r["expr"])) - recorded):
            problems.append(f"rule {name} reads {used}, which no recording rule defines")
    firing, silent = set(), set()
    for f in sorted((prom / "tests").glob("*.yml")):
        for test in yaml.safe_load(f.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    for a in sorted(alerts):
        if a not in firing:
            problems.append(f"alert {a} has no unit test where it fires (deploy/prometheus/tests)")
        if a not in silent:
            problems.append(f"alert {a} has no unit test where it stays silent (deploy/prometheus/tests)")
    for a in sorted((firing | silent) - alerts):
        problems.append(f"unit tests name alert {a}, which no rule file defines")
    return problems, len(alerts), len(recorded)


def main():
    problems, n_alerts, n_recorded = rule_problems()
    k8s = {p.name: docs(p) for p in sorted((ROOT / "deploy/k8s").glob("*.yaml"))}
    every = [d for ds in k8s.values() for d in ds]
    deployments = {d["metadata"]["name"] for d in every if d["kind"] == "Deployment"}
    config = next(d for d in every if d["kind"] == "ConfigMap")
    prefix = config["data"].get("POLYVOX_REDIS_PREFIX", "polyvox")
    queue_src = (ROOT / "crates/polyvox-infra/src/queue/mod.rs").read_text()
    redis_src = (ROOT / "crates/polyvox-infra/src/queue/redis.rs").read_text()
    group = re.search(r'group: "([^"]+)"\.into\(\)', queue_src)
    if not group:
        problems.append("cannot find the default consumer group in polyvox-infra/src/queue/mod.rs")
    if 'format!("{{{}}}:queue", cfg.prefix)' not in redis_src:
        problems.append("the Redis stream key format changed in queue/redis.rs: update this check and KEDA")
    # The lanes are defined with the job payload in polyvox-core (`Lane::as_str`).
    lane_src = (ROOT / "crates/polyvox-core/src/job.rs").read_text()
    lane_fn = lane_src[lane_src.index("impl Lane {"):lane_src.index("impl std::fmt::Display for Lane")]
    lanes = set(re.findall(r'Self::\w+ => "(\w+)"', lane_fn))
    if not lanes:
        problems.append("cannot find the queue lanes in polyvox-core/src/job.rs")
    scaled = [d for d in every if d["kind"] == "ScaledObject"]
    if not scaled:
        problems.append("no KEDA ScaledObject: workers would not scale on queue depth")
    for so in scaled:
        try:
            jsonschema.validate(so, SCALED_OBJECT)
        except jsonschema.ValidationError as e:
            problems.append(f"ScaledObject {so['metadata'].get('name')}: {e.message} at {list(e.path)}")
            continue
        if so["spec"]["scaleTargetRef"]["name"] not in deployments:
            problems.append(f"ScaledObject scales {so['spec']['scaleTargetRef']['name']}, not a Deployment here")
        streams = set()
        for t in so["spec"]["triggers"]:
            m = t["metadata"]
            streams.add(m["stream"])
            if group and m["consumerGroup"] != group.group(1):
                problems.append(f"trigger group {m['consumerGroup']} != the code's {group.group(1)}")
        want = {f"{{{prefix}}}:queue:{lane}" for lane in lanes}
        if streams != want:
            problems.append(f"ScaledObject streams {sorted(streams)} != the queue's {sorted(want)}")

    cli = (ROOT / "crates/polyvox/src/cli.rs").read_text()
    known = set(re.findall(r'env = "([A-Z0-9_]+)"', cli)) | PENDING
    names = set()
    for d in every:
        if d["kind"] in ("ConfigMap",):
            names |= set(d.get("data", {}))
        if d["kind"] == "Secret":
            names |= set(d.get("stringData", {}))
        for c in d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []) or []:
            names |= {e["name"] for e in c.get("env", [])}
    compose = yaml.safe_load((ROOT / "deploy/compose/compose.yaml").read_text())
    for svc in compose["services"].values():
        env = svc.get("environment") or {}
        names |= set(env if isinstance(env, dict) else (e.split("=")[0] for e in env))
    names |= set(compose.get("x-polyvox-env", {}))
    ours = {n for n in names if n.startswith(("POLYVOX_", "DATABASE_URL", "REDIS_URL", "AWS_"))}
    for n in sorted(ours - known):
        problems.append(f"{n} is set in the artefacts but no polyvox flag reads it (cli.rs)")
    for p in problems:
        print(f"deploy check: {p}")
    print(f"deploy check: {len(scaled)} ScaledObject(s), {len(ours)} settings checked, {n_alerts} alerts and "
          f"{n_recorded} recording rules checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
