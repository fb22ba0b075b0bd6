#!/usr/bin/env python3
"""Generate a labelled corpus for ward-redact: log lines with planted secrets and
personal data of every kind Ward detects, and benign lines full of hard negatives.

Output (in --out DIR):
  corpus.jsonl  one record per line: {"id": n, "family": ..., "text": ...,
                "labels": [{"kind": ..., "value": ...}]}; benign records have no labels
                and a "negative" field naming the hard-negative classes they contain.

Deterministic: the same --seed gives byte-identical output. Python 3 stdlib only.
Usage: redact_corpus.py --out DIR [--seed 7] [--per-kind 200] [--benign 12000]
"""

import argparse
import base64
import json
import os
import random
import string

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def s(self, alphabet, n):
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def pick(self, xs):
        return self.r.choice(xs)

    def digits(self, n):
        return self.s(string.digits, n)

    # ---- validators' inverses -------------------------------------------------
    @staticmethod
    def luhn_ok(num):
        total = 0
        for i, ch in enumerate(reversed(num)):
            d = int(ch)
            if i % 2 == 1:
                d *= 2
                if d > 9:
                    d -= 9
            total += d
        return total % 10 == 0

    def luhn_complete(self, prefix, length):
        body = prefix + self.digits(length - len(prefix) - 1)
        for c in string.digits:
            if self.luhn_ok(body + c):
                return body + c
        raise AssertionError("unreachable")

    def card(self):
        brand = self.pick(["visa", "visa13", "mc", "mc2", "amex", "discover", "jcb", "diners", "unionpay", "maestro"])
        prefix, length = {
            "visa": ("4", 16),
            "visa13": ("4", 13),
            "mc": (str(self.r.randint(51, 55)), 16),
            "mc2": (str(self.r.randint(2221, 2720)), 16),
            "amex": (self.pick(["34", "37"]), 15),
            "discover": (self.pick(["6011", "65", "644"]), 16),
            "jcb": (str(self.r.randint(3528, 3589)), 16),
            "diners": (self.pick(["300", "305", "36", "38"]), 14),
            "unionpay": ("62" + self.pick(["0", "1", "3", "5"]), self.pick([16, 17, 18, 19])),
            "maestro": (self.pick(["6759", "6761", "5018", "6304"]), self.pick([16, 18, 19])),
        }[brand]
        num = self.luhn_complete(prefix, length)
        style = self.pick(["plain", "space", "dash"])
        if style == "plain" or length not in (15, 16):
            return num
        sep = " " if style == "space" else "-"
        if length == 15:
            return sep.join([num[:4], num[4:10], num[10:]])
        return sep.join(num[i:i + 4] for i in range(0, 16, 4))

    def ssn_parts(self):
        while True:
            a = self.r.randint(1, 899)
            if a != 666:
                break
        return f"{a:03d}", f"{self.r.randint(1, 99):02d}", f"{self.r.randint(1, 9999):04d}"

    def iban(self):
        country, bban = self.pick([
            ("GB", lambda: self.s(string.ascii_uppercase, 4) + self.digits(14)),
            ("DE", lambda: self.digits(18)),
            ("FR", lambda: self.digits(10) + self.s(string.ascii_uppercase + string.digits, 11) + self.digits(2)),
            ("NL", lambda: self.s(string.ascii_uppercase, 4) + self.digits(10)),
            ("ES", lambda: self.digits(20)),
            ("IT", lambda: self.s(string.ascii_uppercase, 1) + self.digits(10) + self.digits(12)),
            ("CH", lambda: self.digits(17)),
            ("BE", lambda: self.digits(12)),
        ])
        bban = bban()
        rearranged = bban + country + "00"
        num = "".join(str(int(c, 36)) for c in rearranged)
        check = 98 - int(num) % 97
        iban = f"{country}{check:02d}{bban}"
        if self.r.random() < 0.5:
            return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
        return iban

    def npi(self):
        while True:
            n = self.pick(["1", "2"]) + self.digits(9)
            if self.luhn_ok("80840" + n):
                return n

    def dea(self):
        first = self.pick("ABCDEFGHJKLMPRSTUX")
        second = self.pick(string.ascii_uppercase)
        d = [self.r.randint(0, 9) for _ in range(6)]
        check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
        return first + second + "".join(map(str, d)) + str(check)

    def icd10(self):
        letter = self.pick("ABCDEFGHIJKLMNOPQRSTVWXYZ")
        code = letter + self.digits(2)
        if self.r.random() < 0.7:
            code += "." + self.s(string.digits, self.r.randint(1, 3))
        return code

    def email(self):
        user = self.pick(["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]) + self.pick(["", ".smith", "_j", "+ward", str(self.r.randint(1, 999))])
        return f"{user}@{self.pick(['example.com', 'mail.example.org', 'corp.example.net', 'gmail.com', 'acme.co.uk'])}"

    def phone(self):
        area, exch = self.r.randint(201, 989), self.r.randint(200, 999)
        line = self.digits(4)
        return self.pick([
            f"+1{area}{exch}{line}",
            f"+1 {area} {exch} {line}",
            f"({area}) {exch}-{line}",
            f"{area}-{exch}-{line}",
            f"{area}.{exch}.{line}",
            f"+44 20 {self.digits(4)} {self.digits(4)}",
            f"+49 30 {self.digits(8)}",
            f"+33 1 {self.digits(2)} {self.digits(2)} {self.digits(2)} {self.digits(2)}",
        ])

    def b64url(self, raw):
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def jwt(self):
        header = self.b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = self.b64url(json.dumps({"sub": self.digits(8), "iat": self.r.randint(1700000000, 1800000000)}).encode())
        sig = self.b64url(bytes(self.r.getrandbits(8) for _ in range(32)))
        return f"{header}.{payload}.{sig}"

    def password(self):
        return self.s(ALNUM + "!#*+-_.", self.r.randint(8, 20))

    def random_secret(self, n=32):
        while True:
            v = self.s(ALNUM, n)
            if any(c.isdigit() for c in v) and any(c.isupper() for c in v) and any(c.islower() for c in v):
                return v

    def pem_body(self):
        return self.s(B64, 64)


def planted(g):
    """kind -> function returning (text_fragment, value) for one planting."""

    def jw(obj):
        return json.dumps(obj)

    def card():
        v = g.card()
        return g.pick([f"payment declined for card {v}", f'"card": "{v}"', f"cc={v.replace(' ', '')}", f"charged {v} amount=12.50"]), v

    def ssn():
        a, b, c = g.ssn_parts()
        v = g.pick([f"{a}-{b}-{c}", f"{a}{b}{c}"])
        frag = f"SSN: {v}" if "-" not in v else g.pick([f"applicant {v} verified", f"ssn={v}", f'"tax_id_note": "SSN {v}"'])
        return frag, v

    def phone():
        v = g.phone()
        return g.pick([f"callback requested at {v}", f"phone: {v}", f"SMS sent to {v}"]), v

    return {
        "password": lambda: (lambda v: (g.pick([f"password={v}", f'"password": "{v}"', f"--password {v}", f"PGPASSWORD={v}", f"db_passwd: {v}"]), v))(g.password()),
        "api_key": lambda: (lambda v: (g.pick([f"X-Api-Key: {v}", f"api_key={v}", f'"apiKey": "{v}"']), v))(g.random_secret(32)),
        "token": lambda: (lambda v: (g.pick([f"access_token={v}", f'"sessionToken": "{v}"', f"refresh_token: {v}"]), v))(g.random_secret(40)),
        "cookie": lambda: (lambda v: (f"Cookie: sid={v}; theme=dark", v))(g.random_secret(26)),
        "private_key": lambda: (lambda v: (g.pick([
            f"-----BEGIN RSA PRIVATE KEY-----\n{v}\n{g.pem_body()}\n-----END RSA PRIVATE KEY-----",
            f'"private_key": "-----BEGIN PRIVATE KEY-----\\n{v}\\n-----END PRIVATE KEY-----\\n", "client_email": "svc@proj.iam.gserviceaccount.com"',
            f"-----BEGIN OPENSSH PRIVATE KEY-----\n{v}\n",
        ]), v))(g.pem_body()),
        "card": card,
        "cvv": lambda: (lambda v: (g.pick([f'"cvv": "{v}"', f"cvv={v}", f"cvc: {v}"]), v))(g.digits(g.pick([3, 4]))),
        "ssn": ssn,
        "iban": lambda: (lambda v: (g.pick([f"refund to IBAN {v}", f'"account": "{v}"', f"payout {v} queued"]), v))(g.iban()),
        "email": lambda: (lambda v: (g.pick([f"login by {v}", f'"email": "{v}"', f"to=<{v}>"]), v))(g.email()),
        "phone": phone,
        "jwt": lambda: (lambda v: (g.pick([f"token {v} expired", f"id_token={v}", f"jwt: {v}"]), v))(g.jwt()),
        "bearer_token": lambda: (lambda v: (f"Authorization: Bearer {v}", v))(g.s(B64URL, 40)),
        "basic_auth": lambda: (lambda v: (f"Authorization: Basic {v}", v))(base64.b64encode(f"svc:{g.password()}".encode()).decode()),
        "url_credentials": lambda: (lambda v: (g.pick([f"connecting to postgres://app:{v}@db.internal:5432/orders", f"GET https://deploy:{v}@git.example.com/repo.git"]), v))(g.password()),
        "aws_access_key_id": lambda: (lambda v: (g.pick([f"aws_access_key_id={v}", f"using key {v} for s3", f'"AccessKeyId": "{v}"']), v))(g.pick(["AKIA", "ASIA"]) + g.s(string.ascii_uppercase + "234567", 16)),
        "aws_secret_key": lambda: (lambda v: (g.pick([f"aws_secret_access_key = {v}", f'"SecretAccessKey": "{v}"']), v))(g.s(B64, 40)),
        "google_api_key": lambda: (lambda v: (f"maps request key={v} failed", v))("AIza" + g.s(B64URL, 35)),
        "azure_storage_key": lambda: (lambda v: (f"DefaultEndpointsProtocol=https;AccountName=acct{g.digits(3)};AccountKey={v};EndpointSuffix=core.windows.net", v))(g.s(B64, 86) + "=="),
        "azure_sas_token": lambda: (lambda v: (f"GET https://acct.blob.core.windows.net/c/b.txt?sv=2022-11-02&sp=r&se=2026-12-01T00:00:00Z&spr=https&sig={v}", v))(g.s(ALNUM, 40) + "%2B" + g.s(ALNUM, 3) + "%3D"),
        "github_token": lambda: (lambda v: (g.pick([f"git push with {v}", f"GITHUB_TOKEN={v}", f'"token": "{v}"']), v))(g.pick([g.pick(["ghp_", "gho_", "ghs_", "ghu_", "ghr_"]) + g.s(ALNUM, 36), "github_pat_" + g.s(ALNUM, 22) + "_" + g.s(ALNUM, 59)])),
        "gitlab_token": lambda: (lambda v: (f"CI used {v} to clone", v))("glpat-" + g.s(B64URL, 20)),
        "slack_token": lambda: (lambda v: (f"slack client init {v}", v))(g.pick(["xoxb-", "xoxp-", "xoxa-"]) + g.digits(12) + "-" + g.digits(12) + "-" + g.s(ALNUM, 24)),
        "slack_webhook": lambda: (lambda v: (f"notify https://hooks.slack.com/services/T{g.s(string.ascii_uppercase + string.digits, 8)}/B{g.s(string.ascii_uppercase + string.digits, 8)}/{v}", v))(g.s(ALNUM, 24)),
        "stripe_key": lambda: (lambda v: (f"stripe.api_key set to {v}", v))(g.pick(["sk_live_", "rk_live_"]) + g.s(ALNUM, 24)),
        "twilio_key": lambda: (lambda v: (f"twilio auth with {v}", v))("SK" + g.s(HEX, 32)),
        "sendgrid_key": lambda: (lambda v: (f"mailer configured {v}", v))("SG." + g.s(B64URL, 22) + "." + g.s(B64URL, 43)),
        "openai_key": lambda: (lambda v: (f"OPENAI_API_KEY={v}", v))(g.pick(["sk-" + g.random_secret(48), "sk-proj-" + g.random_secret(64) + "_" + g.s(B64URL, 20)])),
        "anthropic_key": lambda: (lambda v: (f"client = Anthropic(api_key='{v}')", v))("sk-ant-api03-" + g.random_secret(80) + "-" + g.s(B64URL, 10) + "AA"),
        "huggingface_token": lambda: (lambda v: (f"huggingface-cli login --token {v}", v))("hf_" + g.s(string.ascii_letters, 34)),
        "npm_token": lambda: (lambda v: (f"//registry.npmjs.org/:_authToken={v}", v))("npm_" + g.s(ALNUM, 36)),
        "pypi_token": lambda: (lambda v: (f"twine upload -p {v}", v))("pypi-AgEIcHlwaS5vcmc" + g.s(B64URL, 70)),
        "generic_secret": lambda: (lambda v: (g.pick([f'"client_secret": "{v}"', f"SECRET_KEY={v}", f"key={v}", f"signing_key: {v}"]), v))(g.random_secret(32)),
        "npi": lambda: (lambda v: (g.pick([f"prescriber NPI: {v}", f"npi={v}", f'"provider_npi": "{v}"']), v))(g.npi()),
        "dea": lambda: (lambda v: (g.pick([f"DEA {v} on script", f"prescriber dea#{v}", f"registration {v} verified"]), v))(g.dea()),
        "mrn": lambda: (lambda v: (g.pick([f"patient MRN: {v} admitted", f"mrn={v}", f'"medical_record_number": "{v}"']), v))(g.digits(g.pick([7, 8, 10]))),
        "icd10": lambda: (lambda v: (g.pick([f"diagnosis: {v}", f"dx={v}", f'"diagnosis_code": "{v}"', f"ICD-10 {v} recorded"]), v))(g.icd10()),
    }


# ---- benign material: hard negatives ------------------------------------------

def negatives(g):
    def uuid():
        h = g.s(HEX, 32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def non_luhn16():
        while True:
            n = g.pick(["4", "5", "3", "6"]) + g.digits(15)
            if not Gen.luhn_ok(n):
                return n

    def nine():
        return str(g.r.randint(100000000, 999999999))

    def dea_fail():
        d = g.dea()
        return d[:-1] + str((int(d[-1]) + g.r.randint(1, 9)) % 10)

    return {
        "uuid": uuid,
        "git_sha": lambda: g.s(HEX, 40),
        "sha256": lambda: "sha256:" + g.s(HEX, 64),
        "md5": lambda: g.s(HEX, 32),
        "order_number": lambda: g.pick([f"ORD-{g.digits(8)}", f"INV-2026-{g.digits(6)}", f"#{g.digits(6)}"]),
        "timestamp": lambda: g.pick([f"2026-11-{g.r.randint(1, 28):02d}T{g.r.randint(0, 23):02d}:{g.r.randint(0, 59):02d}:{g.r.randint(0, 59):02d}.{g.digits(3)}Z", str(g.r.randint(1700000000, 1800000000)), str(g.r.randint(1700000000000, 1800000000000))]),
        "ipv4": lambda: ".".join(str(g.r.randint(1, 254)) for _ in range(4)),
        "ipv6": lambda: ":".join(g.s(HEX, 4) for _ in range(8)),
        "version": lambda: g.pick([f"v{g.r.randint(0, 9)}.{g.r.randint(0, 40)}.{g.r.randint(0, 200)}", f"1.{g.r.randint(60, 95)}.0-nightly", f"{g.r.randint(1, 20)}.{g.r.randint(0, 9)}.{g.r.randint(0, 9)}-rc.{g.r.randint(1, 5)}"]),
        "non_luhn_16": non_luhn16,
        "nine_digits": nine,
        "duration": lambda: f"{g.r.randint(1, 5000)}ms",
        "port": lambda: str(g.r.randint(1024, 65535)),
        "pod": lambda: f"checkout-api-{g.s('bcdf0123456789', 10)}-{g.s('bcdfghjklmnpqrstvwxz2456789', 5)}",
        "product_code": dea_fail,
        "mac": lambda: ":".join(g.s(HEX, 2) for _ in range(6)),
        "amount": lambda: f"{g.r.randint(1, 99999)}.{g.digits(2)}",
        "zip": lambda: g.digits(5),
    }


def benign_line(g, neg):
    n = {k: f() for k, f in neg.items()}
    used = []

    def u(k):
        used.append(k)
        return n[k]

    fam = g.pick(["access", "json", "trace", "prompt", "sql", "k8s"])
    if fam == "access":
        text = (f'{u("ipv4")} - - [22/Nov/2026:10:{g.r.randint(0, 59):02d}:{g.r.randint(0, 59):02d} +0000] '
                f'"{g.pick(["GET", "POST", "PUT"])} /api/v1/orders/{u("order_number")}?page={g.r.randint(1, 9)}&sort=desc&request_id={u("uuid")} HTTP/1.1" '
                f'{g.pick([200, 201, 204, 301, 404, 500])} {g.r.randint(100, 99999)} "https://shop.example.com/cart?ref={u("nine_digits")}" '
                f'"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"')
    elif fam == "json":
        obj = {
            "@timestamp": u("timestamp"),
            "level": g.pick(["INFO", "WARN", "DEBUG"]),
            "service": "checkout-api",
            "msg": g.pick(["order created", "password_reset requested", "token refreshed", "cache miss", "payment authorized"]),
            "event.action": g.pick(["password_reset", "user_login", "token_refresh", "order_create"]),
            "order_id": u("order_number"),
            "trace_id": u("md5"),
            "user_id": u("nine_digits"),
            "reference": u("non_luhn_16"),
            "password_changed": g.pick([True, False]),
            "token_count": g.r.randint(1, 4096),
            "max_tokens": 4096,
            "duration": u("duration"),
            "version": u("version"),
            "build": u("git_sha"),
            "amount": u("amount"),
            "cache_key": f"orders/{n['zip']}/{n['port']}",
            "sku": u("product_code"),
        }
        keys = list(obj)
        g.r.shuffle(keys)
        text = json.dumps({k: obj[k] for k in keys[: g.r.randint(6, len(keys))]})
    elif fam == "trace":
        text = g.pick([
            f'java.lang.IllegalStateException: order {u("order_number")} not found (ref {u("non_luhn_16")})\n'
            f"\tat com.example.orders.OrderService.load(OrderService.java:{g.r.randint(10, 900)})\n"
            f"\tat com.example.orders.OrderController.get(OrderController.java:{g.r.randint(10, 900)})",
            f'Traceback (most recent call last):\n  File "/app/orders/service.py", line {g.r.randint(10, 900)}, in create_order\n'
            f'    raise ValueError(f"bad quantity for item {u("nine_digits")}")\nValueError: bad quantity for item {n["nine_digits"]} at {u("timestamp")}',
            f"panic at src/store/segment.rs:{g.r.randint(10, 600)}:{g.r.randint(1, 80)}: offset {u('nine_digits')} beyond end, build {u('git_sha')}",
        ])
    elif fam == "prompt":
        text = g.pick([
            f"Summarize incident {u('order_number')}: the password reset flow returned 500 for request {u('uuid')} after deploy {u('version')}.",
            f"Refactor parse_config in src/config.rs so that token_count={g.r.randint(1, 900)} and max_tokens=4096 are validated; commit {u('git_sha')}.",
            f"Why does host {u('ipv4')} ({u('mac')}) log timeouts of {u('duration')} on port {u('port')}?",
            f"Explain this digest {u('sha256')} and whether image tag {u('version')} is signed.",
        ])
    elif fam == "sql":
        text = g.pick([
            f"SELECT id, email_verified, created_at FROM users WHERE id = {u('nine_digits')} AND status = 'active' LIMIT 50",
            f"UPDATE accounts SET password_hash = ?, updated_at = '{u('timestamp')}' WHERE id = ?",
            f"INSERT INTO orders (id, ref, amount, sku) VALUES ('{u('uuid')}', '{u('non_luhn_16')}', {u('amount')}, '{u('product_code')}')",
            f"DELETE FROM sessions WHERE expires_at < {u('timestamp')} -- zip {u('zip')}",
        ])
    else:
        text = (f"pod {u('pod')} node {u('ipv4')} image registry.example.com/checkout@{u('sha256')} "
                f"restarted {g.r.randint(1, 9)} times; fe80::{n['ipv6'][5:]} ready in {u('duration')}")
        used.append("ipv6")
    return fam, text, sorted(k for k in set(used) if n[k] in text)


def wrap(g, frag):
    """Places a planted fragment in one of the log-line families."""
    fam = g.pick(["access", "json", "trace", "prompt", "sql", "plain"])
    ip = ".".join(str(g.r.randint(1, 254)) for _ in range(4))
    if fam == "access":
        return fam, f'{ip} - - [22/Nov/2026:10:00:{g.r.randint(0, 59):02d} +0000] "POST /api/v1/session HTTP/1.1" 401 0 "-" "curl/8.5.0" {frag}'
    if fam == "json":
        return fam, json.dumps({"@timestamp": "2026-11-22T10:00:00Z", "level": "ERROR", "service": "billing", "msg": f"request failed: {frag}"})
    if fam == "trace":
        return fam, f"Exception in thread \"main\" java.lang.RuntimeException: {frag}\n\tat com.example.Billing.charge(Billing.java:{g.r.randint(10, 500)})"
    if fam == "prompt":
        return fam, f"User prompt: please debug why this fails, here is my config: {frag} -- thanks"
    if fam == "sql":
        return fam, f"INSERT INTO audit (note) VALUES ('{frag}')"
    return fam, f"2026-11-22T10:00:00Z WARN billing: {frag}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-kind", type=int, default=200)
    ap.add_argument("--benign", type=int, default=12000)
    args = ap.parse_args()
    g = Gen(args.seed)
    plant = planted(g)
    neg = negatives(g)
    records = []
    for kind in sorted(plant):
        for _ in range(args.per_kind):
            frag, value = plant[kind]()
            fam, text = wrap(g, frag)
            if value not in text:
                # JSON escaping changed the value (a PEM inside JSON); plant it as plain text.
                fam, text = "plain", f"2026-11-22T10:00:00Z WARN billing: {frag}"
            records.append({"family": fam, "text": text, "labels": [{"kind": kind, "value": value}]})
    for _ in range(args.benign):
        fam, text, used = benign_line(g, neg)
        records.append({"family": fam, "text": text, "labels": [], "negative": used})
    g.r.shuffle(records)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for i, rec in enumerate(records):
            rec = {"id": i, **rec}
            f.write(json.dumps(rec, sort_keys=True) + "\n")
    print(f"wrote {len(records)} records ({args.benign} benign, {len(plant)} kinds x {args.per_kind}) to {args.out}/corpus.jsonl")


if __name__ == "__main__":
    main()
