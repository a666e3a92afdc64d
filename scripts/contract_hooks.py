"""schemathesis hooks for scripts/contract: batch files are sent as they are (text/csv,
application/x-ndjson), and the document the run uses names the seeded member, so that valid
requests can find someone (CONTRACT_SKYJOY_ID) — everything else is generated from
server/openapi.json as served."""
import os

import schemathesis


class Text:
    def as_requests(self, context, value):
        data = value if isinstance(value, (str, bytes)) else str(value)
        return {"data": data.encode("utf-8") if isinstance(data, str) else data}

    def as_werkzeug(self, context, value):
        return self.as_requests(context, value)


schemathesis.serializer("text/csv")(Text)
schemathesis.serializer("application/x-ndjson")(Text)


def _name_member(node, skyjoy_id):
    if isinstance(node, dict):
        if node.get("pattern") == "^SJ[0-9]{10}$":
            node["enum"] = [skyjoy_id]
        for v in node.values():
            _name_member(v, skyjoy_id)
    elif isinstance(node, list):
        for v in node:
            _name_member(v, skyjoy_id)


@schemathesis.hook
def before_load_schema(context, raw_schema):
    skyjoy_id = os.environ.get("CONTRACT_SKYJOY_ID")
    if skyjoy_id:
        _name_member(raw_schema, skyjoy_id)
