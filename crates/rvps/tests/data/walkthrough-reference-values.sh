#!/bin/bash
# The PCR8 and reference-value steps of the Trustee walkthrough, run as the
# walkthrough runs them, in the current directory. Reads initdata.toml and
# podvm/measurements.json; writes pcr8.txt (PCR8_HASH), jq-output.json (the
# jq program's output as printed) and rvps-configmap.yaml.
set -euo pipefail
JQ_PROGRAM=$(cat "$(dirname "$0")/walkthrough-reference-values.jq")

initial_pcr=0000000000000000000000000000000000000000000000000000000000000000
hash=$(sha256sum initdata.toml | cut -d' ' -f1)
PCR8_HASH=$(echo -n "$initial_pcr$hash" | xxd -r -p | sha256sum | cut -d' ' -f1)
echo "$PCR8_HASH" > pcr8.txt

JSON_DATA=$(cat podvm/measurements.json)

# Prepare reference-values.json
REFERENCE_VALUES_JSON=$(echo "$JSON_DATA" | jq \
--arg pcr8_val "$PCR8_HASH" "$JQ_PROGRAM" | sed 's/^/    /')
# The jq output itself, without the indentation (jq runs once, as in the
# walkthrough, so that timing this script times the walkthrough).
printf '%s\n' "$REFERENCE_VALUES_JSON" | sed 's/^    //' > jq-output.json

# Build the final ConfigMap
cat > rvps-configmap.yaml <<EOT
apiVersion: v1
kind: ConfigMap
metadata:
  name: trusteeconfig-rvps-reference-values
  namespace: trustee-operator-system
data:
  reference-values.json: |
$REFERENCE_VALUES_JSON
EOT
