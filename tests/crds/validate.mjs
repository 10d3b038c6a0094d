// Reads rendered manifests (YAML documents) on stdin and validates each custom resource against
// the schema of its CRD, as @kubernetes-models generated it from the Prometheus Operator's CRDs.
// Kinds it has no schema for are reported, not skipped, so a new kind cannot pass unchecked;
// core kinds are left to kubernetes-validate (tests/python). Exit 1 on any failure.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const CUSTOM = {
  "monitoring.coreos.com/v1/PodMonitor": PodMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
};
// Kinds of the Kubernetes API itself: their schemas are kubernetes-validate's job.
const CORE_GROUPS = new Set(["v1", "apps/v1", "policy/v1", "autoscaling/v2", "batch/v1", "networking.k8s.io/v1"]);

let failed = 0;
for (const document of parseAllDocuments(readFileSync(0, "utf8"))) {
  const manifest = document.toJS();
  if (!manifest) continue;
  const name = `${manifest.kind}/${manifest.metadata?.name}`;
  if (CORE_GROUPS.has(manifest.apiVersion)) continue;
  const Model = CUSTOM[`${manifest.apiVersion}/${manifest.kind}`];
  try {
    if (!Model) throw new Error(`no schema for ${manifest.apiVersion} ${manifest.kind}`);
    new Model(manifest).validate();
    console.log(`valid: ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`INVALID: ${name}: ${error.message}`);
  }
}
process.exit(failed ? 1 : 0);
