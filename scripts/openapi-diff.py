#!/usr/bin/env python3
"""What changed between two OpenAPI 3.1 documents, and the semver bump it needs.

    scripts/openapi-diff.py OLD.json NEW.json [--markdown]

Prints one line per change with its level, then the bump the changes imply:
- major: a removed route or method; a removed or retyped response field, or one no
  longer always present; a removed success status; a new required request field or
  parameter; a request field or parameter removed (the API refuses unknown fields) or
  narrowed (fewer types, a narrowed enum, a tighter length, range or pattern); a route
  that now needs a token; any schema difference this script cannot classify (when in
  doubt it asks for MAJOR rather than let a change through);
- minor: a new route or method, a new optional request field or parameter, a new
  response field, a widened request field, a new enum value in a response, a new status;
- patch: nothing above (descriptions, examples, summaries).

Why not oasdiff (the Go tool the issue names): the machines this repository is built on
reach crates.io, PyPI, Debian and npm but not the Go module proxy, and npm's
openapi-diff reads OpenAPI 3.0 only (this document is 3.1). This is standard-library
Python, so CI installs nothing for it, and scripts/tests/check-semver.sh holds it to the
cases above. See docs/releasing.md.
"""
import json
import sys

LEVELS = ("patch", "minor", "major")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class Differ:
    def __init__(self, old, new):
        self.old, self.new = old, new
        self.changes = []  # (level, where, what)
        self.seen = set()

    def add(self, level, where, what):
        self.changes.append((level, where, what))

    # --- schemas -----------------------------------------------------------------

    def resolve(self, doc, schema):
        hops = 0
        while isinstance(schema, dict) and "$ref" in schema and hops < 32:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                return schema
            node = doc
            for part in ref[2:].split("/"):
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
            schema, hops = node, hops + 1
        return schema if isinstance(schema, dict) else {}

    @staticmethod
    def types(schema):
        """The JSON types a schema allows, `null` included (3.1 `type` arrays, or a
        oneOf/anyOf with a `{"type": "null"}` branch)."""
        t = schema.get("type")
        if isinstance(t, list):
            return set(t)
        if isinstance(t, str):
            return {t}
        return None

    def unwrap_null(self, doc, schema):
        """`oneOf: [{"type": "null"}, X]` → (X, True); anything else → (schema, None)."""
        for key in ("oneOf", "anyOf"):
            branches = schema.get(key)
            if isinstance(branches, list):
                rest = [b for b in branches if self.resolve(doc, b).get("type") != "null"]
                if len(rest) == 1 and len(branches) == 2:
                    return self.resolve(doc, rest[0]), True
        return schema, None

    def schema(self, old, new, where, direction):
        """Compares a schema read by the client (`response`) or sent by it (`request`)."""
        # A named schema is compared once per direction and reported under its name
        # (`UserView.github_id`), however many routes use it.
        ref_old, ref_new = (old or {}).get("$ref"), (new or {}).get("$ref")
        if ref_old and ref_old == ref_new and ref_old.startswith("#/components/schemas/"):
            where = f"{ref_old.rsplit('/', 1)[1]} ({direction})"
        old, new = self.resolve(self.old, old), self.resolve(self.new, new)
        key = (id(old), id(new), direction)
        if key in self.seen:
            return
        self.seen.add(key)
        old, old_null = self.unwrap_null(self.old, old)
        new, new_null = self.unwrap_null(self.new, new)
        ot, nt = self.types(old), self.types(new)
        if ot is not None and old_null:
            ot = ot | {"null"}
        if nt is not None and new_null:
            nt = nt | {"null"}
        tighter, looser = ("major", "minor") if direction == "request" else ("minor", "major")
        if ot is not None and nt is not None and ot != nt:
            if nt < ot:
                self.add(tighter, where, f"type narrowed from {sorted(ot)} to {sorted(nt)}")
            elif nt > ot:
                self.add(looser, where, f"type widened from {sorted(ot)} to {sorted(nt)}")
            else:
                self.add("major", where, f"type changed from {sorted(ot)} to {sorted(nt)}")
        elif (ot is None) != (nt is None) and not (old.get("oneOf") or new.get("oneOf")):
            self.add("major", where, "type changed (one side has none)")
        self.enum(old, new, where, direction)
        self.bounds(old, new, where, direction)
        if old.get("format") != new.get("format") and old.get("format") and new.get("format"):
            self.add("major", where, f"format changed from {old.get('format')} to {new.get('format')}")
        if "items" in old or "items" in new:
            self.schema(old.get("items", {}), new.get("items", {}), where + "[]", direction)
        self.properties(old, new, where, direction)
        for key in ("oneOf", "anyOf", "allOf"):
            ob, nb = old.get(key), new.get(key)
            if ob is None and nb is None:
                continue
            ob, nb = ob or [], nb or []
            if len(ob) != len(nb):
                self.add("major", where, f"{key} has {len(nb)} branches, had {len(ob)} (not classified)")
                continue
            for i, (o, n) in enumerate(zip(ob, nb)):
                self.schema(o, n, f"{where}<{key} {i}>", direction)

    def enum(self, old, new, where, direction):
        oe, ne = old.get("enum"), new.get("enum")
        if oe is None and ne is None:
            return
        if oe is None or ne is None:
            level = ("major" if ne is not None else "minor") if direction == "request" else (
                "minor" if ne is not None else "major")
            self.add(level, where, "enum " + ("added" if ne is not None else "removed"))
            return
        gone, came = [v for v in oe if v not in ne], [v for v in ne if v not in oe]
        if gone:
            self.add("major" if direction == "request" else "minor", where, f"enum values removed: {gone}")
        if came:
            self.add("minor", where, f"enum values added: {came}")

    def bounds(self, old, new, where, direction):
        for key, tighter_if in (("maxLength", -1), ("maximum", -1), ("maxItems", -1),
                                ("minLength", 1), ("minimum", 1), ("minItems", 1)):
            o, n = old.get(key), new.get(key)
            if o == n:
                continue
            if direction != "request":
                self.add("patch", where, f"{key} {o} → {n}")
                continue
            if o is None:
                tighter = True
            elif n is None:
                tighter = False
            else:
                tighter = (n - o) * tighter_if > 0
            self.add("major" if tighter else "minor", where, f"{key} {o} → {n}")
        if old.get("pattern") != new.get("pattern"):
            level = "major" if direction == "request" else "patch"
            self.add(level, where, f"pattern {old.get('pattern')!r} → {new.get('pattern')!r}")

    def properties(self, old, new, where, direction):
        op, np_ = old.get("properties") or {}, new.get("properties") or {}
        if not op and not np_:
            return
        oreq, nreq = set(old.get("required") or []), set(new.get("required") or [])
        for name in sorted(set(op) | set(np_)):
            at = f"{where}.{name}"
            if name not in np_:
                self.add("major", at, "field removed" + (
                    " (the API refuses unknown fields)" if direction == "request" else ""))
            elif name not in op:
                if direction == "request":
                    self.add("major" if name in nreq else "minor", at,
                             "new required field" if name in nreq else "new optional field")
                else:
                    self.add("minor", at, "new field")
            else:
                if direction == "request" and name in nreq and name not in oreq:
                    self.add("major", at, "field now required")
                if direction == "request" and name in oreq and name not in nreq:
                    self.add("minor", at, "field now optional")
                if direction == "response" and name in oreq and name not in nreq:
                    self.add("major", at, "field no longer always present")
                self.schema(op[name], np_[name], at, direction)

    # --- operations ----------------------------------------------------------------

    def parameters(self, old_op, new_op, where):
        def index(doc, op):
            out = {}
            for p in op.get("parameters") or []:
                p = self.resolve(doc, p)
                out[(p.get("in"), p.get("name"))] = p
            return out
        op, np_ = index(self.old, old_op), index(self.new, new_op)
        for key in sorted(set(op) | set(np_), key=str):
            at = f"{where} {key[0]} parameter {key[1]}"
            if key not in np_:
                self.add("major" if key[0] != "header" else "minor", at, "removed")
            elif key not in op:
                required = np_[key].get("required", False)
                self.add("major" if required else "minor", at,
                         "new required parameter" if required else "new optional parameter")
            else:
                if np_[key].get("required") and not op[key].get("required"):
                    self.add("major", at, "now required")
                self.schema(op[key].get("schema", {}), np_[key].get("schema", {}), at, "request")

    def content(self, old_body, new_body, where, direction):
        oc = (self.resolve(self.old, old_body) or {}).get("content") or {}
        nc = (self.resolve(self.new, new_body) or {}).get("content") or {}
        for media in sorted(set(oc) | set(nc)):
            if media not in nc:
                self.add("major", f"{where} {media}", "media type removed")
            elif media not in oc:
                self.add("minor", f"{where} {media}", "media type added")
            else:
                self.schema(oc[media].get("schema", {}), nc[media].get("schema", {}),
                            f"{where} {media}", direction)

    def operation(self, path, method, old_op, new_op):
        where = f"{method.upper()} {path}"
        self.parameters(old_op, new_op, where)
        ob, nb = old_op.get("requestBody"), new_op.get("requestBody")
        if ob is None and nb is not None:
            required = self.resolve(self.new, nb).get("required", False)
            self.add("major" if required else "minor", f"{where} body",
                     "new required body" if required else "new optional body")
        elif ob is not None and nb is None:
            self.add("major", f"{where} body", "body removed")
        elif ob is not None:
            if self.resolve(self.new, nb).get("required") and not self.resolve(self.old, ob).get("required"):
                self.add("major", f"{where} body", "body now required")
            self.content(ob, nb, f"{where} body", "request")
        ors, nrs = old_op.get("responses") or {}, new_op.get("responses") or {}
        for status in sorted(set(ors) | set(nrs)):
            at = f"{where} → {status}"
            if status not in nrs:
                level = "major" if str(status).startswith("2") else "minor"
                self.add(level, at, "status no longer answered")
            elif status not in ors:
                self.add("minor", at, "new status")
            else:
                self.content(ors[status], nrs[status], at, "response")
        osec = old_op.get("security", self.old.get("security"))
        nsec = new_op.get("security", self.new.get("security"))
        public = lambda sec: not sec or any(not s for s in sec)
        if public(osec) and not public(nsec):
            self.add("major", where, "now needs a token")
        elif not public(osec) and public(nsec):
            self.add("minor", where, "no longer needs a token")

    def run(self):
        op, np_ = self.old.get("paths") or {}, self.new.get("paths") or {}
        for path in sorted(set(op) | set(np_)):
            if path not in np_:
                self.add("major", path, "route removed")
                continue
            if path not in op:
                self.add("minor", path, "new route")
                continue
            for method in METHODS:
                o, n = op[path].get(method), np_[path].get(method)
                if o is None and n is None:
                    continue
                if n is None:
                    self.add("major", f"{method.upper()} {path}", "method removed")
                elif o is None:
                    self.add("minor", f"{method.upper()} {path}", "new method")
                else:
                    self.operation(path, method, o, n)
        return self

    def bump(self):
        levels = [LEVELS.index(c[0]) for c in self.changes]
        return LEVELS[max(levels)] if levels else "patch"


def compare(old, new):
    differ = Differ(old, new).run()
    if not differ.changes and old != new:
        differ.add("patch", "document", "descriptions, examples or other text")
    return differ


def report(differ, markdown=False):
    order = {level: i for i, level in enumerate(reversed(LEVELS))}
    rows = sorted(differ.changes, key=lambda c: (order[c[0]], c[1]))
    lines = []
    if markdown:
        lines += ["| bump | where | change |", "| --- | --- | --- |"]
        lines += [f"| {l.upper()} | `{w}` | {what} |" for l, w, what in rows]
        if not rows:
            lines = ["No change to the API document."]
    else:
        lines += [f"{l.upper():5}  {w}: {what}" for l, w, what in rows]
        if not rows:
            lines = ["no change to the API document"]
    return "\n".join(lines)


def main(argv):
    if len(argv) < 3:
        sys.exit("usage: scripts/openapi-diff.py OLD.json NEW.json [--markdown]")
    with open(argv[1]) as f:
        old = json.load(f)
    with open(argv[2]) as f:
        new = json.load(f)
    differ = compare(old, new)
    print(report(differ, "--markdown" in argv))
    print(("\n**Implied bump: {}**" if "--markdown" in argv else "implied bump: {}").format(
        differ.bump().upper()))


if __name__ == "__main__":
    main(sys.argv)
