// Ask a person for a decision from any TypeScript program, and wait for it (Node 18+ fetch).
const base = process.env.SPOJIT_URL!, token = process.env.SPOJIT_TOKEN!;
const call = async (method: string, path: string, body?: unknown) =>
  (await fetch(base + path, { method, body: body && JSON.stringify(body),
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" } })).json();

let gate = await call("POST", "/v1/approvals", { title: "Refund 612 EUR?", proposal: { amount: 612 },
  reasoning: "Damaged on arrival", to: ["team:finance"] });
while (gate.status === "pending") gate = await call("GET", `/v1/approvals/${gate.id}?wait=60`);
console.log(gate.status, gate.proposal);
