#!/usr/bin/env python3
"""Seed corpora for the harnesses: examples/, docs/workflows snippets, and the
C string literals of tests/unit/*.c (adjacent literals joined)."""
import ast, hashlib, json, os, re, sys, glob
import yaml

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = os.path.join(root, "build", "fuzz", "corpus")

def put(d, data):
    if isinstance(data, str):
        data = data.encode()
    os.makedirs(os.path.join(out, d), exist_ok=True)
    h = hashlib.sha1(data).hexdigest()[:16]
    open(os.path.join(out, d, h), "wb").write(data)

LIT = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
def c_strings(path):
    src = open(path, encoding="utf-8", errors="replace").read()
    src = re.sub(r'/\*.*?\*/', ' ', src, flags=re.S)
    res = []
    # runs of adjacent literals separated only by whitespace
    for m in re.finditer(r'(?:"(?:[^"\\\n]|\\.)*"\s*)+', src):
        parts = LIT.findall(m.group(0))
        try:
            s = "".join(ast.literal_eval('"' + p + '"') for p in parts)
        except Exception:
            continue
        res.append(s)
    return res

wf = []
for p in sorted(glob.glob(os.path.join(root, "examples", "*.yaml"))):
    wf.append(open(p).read())
doc = open(os.path.join(root, "docs", "workflows", "README.md")).read()
wf += re.findall(r'```ya?ml\n(.*?)```', doc, flags=re.S)
wf += re.findall(r'```json\n(.*?)```', doc, flags=re.S)
for s in c_strings(os.path.join(root, "tests", "unit", "test_workflow.c")):
    if "\n" in s or s.lstrip().startswith("{"):
        wf.append(s)
for s in list(wf):
    put("workflow_load", s)
    try:
        v = yaml.safe_load(s)
        if isinstance(v, dict):
            put("workflow_load", json.dumps(v))
            put("workflow_load", json.dumps(v, indent=1))
    except Exception:
        pass

# JSON bodies / API validation / expressions / auth strings
for t in ["test_api_validate.c", "test_core.c", "test_http.c"]:
    for s in c_strings(os.path.join(root, "tests", "unit", t)):
        put("json", s)
for s in c_strings(os.path.join(root, "tests", "unit", "test_expr.c")):
    put("expr", s)
for t in ["test_auth.c", "test_session.c", "test_link.c"]:
    for s in c_strings(os.path.join(root, "tests", "unit", t)):
        put("auth", s)
