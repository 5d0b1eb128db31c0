"""Checks a spojit callback: Spojit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>.

Delivery is at least once: after this check, drop a callback whose
Idempotency-Key header (<approval id>/callback) was handled already."""
import hashlib, hmac, sys, time

def verify(secret: str, header: str, body: bytes, tolerance=300, now=None) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, sig = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or abs((now if now is not None else time.time()) - int(t)) > tolerance:
        return False                                   # too old (or from the future): a replay
    mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, sig)

if __name__ == "__main__":  # verify_callback.py SECRET HEADER [NOW] < body
    now = float(sys.argv[3]) if len(sys.argv) > 3 else None
    sys.exit(0 if verify(sys.argv[1], sys.argv[2], sys.stdin.buffer.read(), now=now) else 1)
