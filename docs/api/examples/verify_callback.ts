// Checks a spojit callback: Spojit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>.
// Delivery is at least once: after this check, drop a callback whose
// Idempotency-Key header (<approval id>/callback) was handled already.
import { createHmac, timingSafeEqual } from "node:crypto";

export function verify(secret: string, header: string, body: Buffer, toleranceS = 300, now = Date.now() / 1000): boolean {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2)));
  const t = parts.t ?? "", sig = Buffer.from(parts.v1 ?? "", "hex");
  if (!/^\d+$/.test(t) || Math.abs(now - Number(t)) > toleranceS) return false;   // a replay
  const mac = createHmac("sha256", secret).update(`${t}.`).update(body).digest();
  return sig.length === mac.length && timingSafeEqual(sig, mac);
}
