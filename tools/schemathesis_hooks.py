"""Schemathesis hooks for tools/schemathesis.sh: NDJSON bodies, one JSON value a line, sent (the
batch endpoint) and received (feeds and change pages, whose NDJSON schema is the array of their
lines), so that response-schema checks cover NDJSON too."""
import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode()


@schemathesis.deserializer("application/x-ndjson")
def ndjson_lines(ctx, response):
    text = response.content.decode("utf-8")
    return [json.loads(line) for line in text.split("\n") if line.strip()]
