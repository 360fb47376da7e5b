#!/usr/bin/env python3
"""Renders the dsp-harness Helm chart and validates every manifest against the Kubernetes API
schemas, offline.

The chart's templates are restricted to a subset of Helm's template language that this script
renders exactly as `helm template` does: `{{ .Values.a.b }}`, `{{ .Release.Name }}`,
`{{ .Release.Namespace }}`, and un-nested `{{- if .Values.a.b }}` ... `{{- end }}` blocks. Any
other action is refused, so the chart cannot drift out of what is checked here. (Helm itself is
not in the registries this project can reach.) Validation uses the PyPI package
`kubernetes-validate` (the API's JSON schemas, no cluster needed), strict: unknown fields fail.

    python3 deploy/check.py                          # render with values.yaml and validate
    python3 deploy/check.py --set load.workers=5     # override values, as helm --set does
    python3 deploy/check.py --out DIR                # also write the manifests and target.toml
    python3 deploy/check.py --print | kubectl apply -f -   # install without Helm

Exit 0 when every manifest is valid, 1 with the reasons otherwise, 2 on a template the subset
does not cover.
"""

import argparse
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CHART = os.path.join(HERE, "helm", "dsp-harness")
KUBERNETES_VERSION = "1.30"
ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


class Unsupported(Exception):
    pass


def lookup(values, release, path):
    if path == ".Release.Name":
        return release["name"]
    if path == ".Release.Namespace":
        return release["namespace"]
    if not path.startswith(".Values."):
        raise Unsupported(f"{path}: only .Values.*, .Release.Name and .Release.Namespace are used")
    node = values
    for part in path[len(".Values."):].split("."):
        if not isinstance(node, dict) or part not in node:
            raise Unsupported(f"{path}: no such value")
        node = node[part]
    return node


def scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(text, values, release, name):
    out, pos, skipping, in_if = [], 0, False, False
    for match in ACTION.finditer(text):
        left_trim, action, right_trim = match.groups()
        literal = text[pos:match.start()]
        if left_trim:
            literal = literal.rstrip()
        if not skipping:
            out.append(literal)
        pos = match.end()
        if right_trim:
            while pos < len(text) and text[pos] in " \t\n":
                pos += 1
        if action.startswith("if "):
            if in_if:
                raise Unsupported(f"{name}: nested if")
            in_if, skipping = True, not lookup(values, release, action[3:].strip())
        elif action == "end":
            if not in_if:
                raise Unsupported(f"{name}: end without if")
            in_if, skipping = False, False
        elif re.fullmatch(r"\.[A-Za-z][\w.]*", action):
            if not skipping:
                out.append(scalar(lookup(values, release, action)))
        else:
            raise Unsupported(f"{name}: {{{{ {action} }}}} is outside the subset this chart keeps to")
    if in_if:
        raise Unsupported(f"{name}: if without end")
    out.append(text[pos:])
    return "".join(out)


def set_value(values, assignment):
    path, _, raw = assignment.partition("=")
    node = values
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = yaml.safe_load(raw)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    parser.add_argument("--release", default="dsp-harness")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--out", help="write the rendered manifests (and the load target file) here")
    parser.add_argument("--print", action="store_true", help="print the rendered manifests on stdout")
    args = parser.parse_args()

    with open(os.path.join(CHART, "values.yaml")) as f:
        values = yaml.safe_load(f)
    for assignment in args.set:
        set_value(values, assignment)
    release = {"name": args.release, "namespace": args.namespace}

    templates = os.path.join(CHART, "templates")
    documents = []
    try:
        for name in sorted(os.listdir(templates)):
            with open(os.path.join(templates, name)) as f:
                rendered = render(f.read(), values, release, name)
            for doc in yaml.safe_load_all(rendered):
                if doc:
                    documents.append((name, doc))
    except Unsupported as error:
        print(f"check: {error}", file=sys.stderr)
        sys.exit(2)

    import kubernetes_validate  # only needed past rendering

    failures = []
    for name, doc in documents:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{name}: {doc.get('kind')} {doc.get('metadata', {}).get('name')}: {error.message} at {'/'.join(map(str, error.path))}")
        except Exception as error:  # an unknown kind or version is a failure too
            failures.append(f"{name}: {doc.get('kind')}: {error}")

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "manifests.yaml"), "w") as f:
            yaml.safe_dump_all([doc for _, doc in documents], f, sort_keys=False)
        for _, doc in documents:
            if doc.get("kind") == "ConfigMap" and "target.toml" in doc.get("data", {}):
                with open(os.path.join(args.out, "target.toml"), "w") as f:
                    f.write(doc["data"]["target.toml"])
    if args.print:
        yaml.safe_dump_all([doc for _, doc in documents], sys.stdout, sort_keys=False)

    kinds = ", ".join(f"{d.get('kind')} {d['metadata']['name']}" for _, d in documents)
    if failures:
        print("check: invalid manifests:\n" + "\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print(f"check: {len(documents)} manifests valid for Kubernetes {KUBERNETES_VERSION}: {kinds}", file=sys.stderr)


if __name__ == "__main__":
    main()
