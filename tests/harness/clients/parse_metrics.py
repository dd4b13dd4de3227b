"""Parse a Prometheus text exposition (stdin) with the official Python client's parser and
print its samples as JSON: [{"family", "type", "name", "labels", "value"}]. A syntax error
exits non-zero with the parser's message (the metrics test then fails with it)."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
samples = []
for family in text_string_to_metric_families(text):
    for s in family.samples:
        samples.append(
            {
                "family": family.name,
                "type": family.type,
                "name": s.name,
                "labels": s.labels,
                "value": s.value,
            }
        )
json.dump(samples, sys.stdout)
