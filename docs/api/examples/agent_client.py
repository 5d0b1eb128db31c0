"""Ask a person for a decision from any Python program, and wait for it."""
import json, os, urllib.request

def call(method, path, body=None):
    req = urllib.request.Request(os.environ["SPOJIT_URL"] + path, method=method,
                                 data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": "Bearer " + os.environ["SPOJIT_TOKEN"],
                                          "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=70))

gate = call("POST", "/v1/approvals", {"title": "Refund 612 EUR?", "proposal": {"amount": 612},
                                      "reasoning": "Damaged on arrival", "to": ["team:finance"]})
while gate["status"] == "pending":                    # each long-poll waits up to 60 s
    gate = call("GET", f"/v1/approvals/{gate['id']}?wait=60")
print(gate["status"], gate["proposal"])               # approved with the approver's edits, or not
