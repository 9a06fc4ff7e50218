#!/usr/bin/env python3
"""Differential test of Postern's TOML reader against Python's tomllib (TOML 1.0).

Generates random TOML documents, valid and near-valid (CRLF, multi-line and literal strings, every
number form, dates and times, inline tables, arrays of tables, comments everywhere, duplicate keys
and tables, then random mutations that usually break them), and asks both readers. They must agree
on accept/reject and, when both accept, on every value (compared in toml-test's tagged form).

    scripts/toml-diff.py [--count N] [--seed S] [--parser "CMD"] [--show K]

The parser command reads documents on stdin as `<byte count>\\n<bytes>` and writes one JSON line per
document, `{"ok": <tagged>}` or `{"error": {...}}` (default: `.build/debug/postern config parse
--batch`). Exit status 0 when every document agrees, 1 otherwise; the last line is a summary.

Where tomllib and the TOML 1.0 spec part ways, the spec wins: integers outside 64 bits are an error
(tomllib keeps Python ints). Both refuse year 0000 and second 60, as toml-test does. Fractions of a
second are compared to the microsecond (tomllib's limit; Postern keeps nanoseconds).
"""

import argparse
import datetime as dt
import json
import math
import os
import random
import re
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------------------------
# Generator


class Gen:
    BARE = ["a", "b", "c", "key", "x-y", "_", "1", "-", "true", "inf", "2024", "A"]
    QUOTED = ['"a"', '"a b"', '""', "'c'", '"é"', '"\\u0061"', "'a.b'", '"tab\\there"', "'#'", '"中文"']
    TEXT = list("abcxyz ABC019_-.,:;!?/@$%^&*()+=<>|~`{}[]#") + ["é", "中", "😀", "\t", "'", "ß"]
    ESCAPES = ["\\n", "\\t", '\\"', "\\\\", "\\b", "\\f", "\\r"]
    CODEPOINTS = [0x41, 0xE9, 0x4E2D, 0x1F600, 0x0, 0x1F, 0x7F, 0xFFFF, 0x10FFFF, 0xD7FF, 0xE000, 0x80]
    BAD_CODEPOINTS = [0xD800, 0xDFFF, 0x110000, 0xFFFFFFFF]

    def __init__(self, rng):
        self.r = rng
        self.bad = 0.0
        self.fresh = 0.5

    def chance(self, p):
        return self.r.random() < p

    def oops(self):
        """Whether this piece should be a near miss (the document's own rate)."""
        return self.chance(self.bad)

    def ws(self):
        return self.r.choice(["", "", "", " ", "  ", "\t"])

    # Keys ------------------------------------------------------------------------------------

    def simple_key(self):
        if self.chance(self.fresh):
            return "k%d" % self.r.randrange(40)
        return self.r.choice(self.BARE) if self.chance(0.75) else self.r.choice(self.QUOTED)

    def key(self, max_parts=3):
        parts = [self.simple_key() for _ in range(self.r.randint(1, max_parts) if self.chance(0.5) else 1)]
        out = parts[0]
        for p in parts[1:]:
            out += self.ws() + "." + self.ws() + p
        return out

    # Scalars ---------------------------------------------------------------------------------

    def digits(self, n, alphabet="0123456789", underscores=True):
        s = "".join(self.r.choice(alphabet) for _ in range(n))
        if underscores and len(s) > 1 and self.chance(0.3):
            pos = self.r.randint(1, len(s) - 1)
            s = s[:pos] + "_" + s[pos:]
        return s

    def integer(self):
        r = self.r.random()
        if self.oops():
            r = 1
        elif r > 0.7:
            r = 0
        if r < 0.35:
            sign = self.r.choice(["", "", "+", "-"])
            n = self.r.randint(1, 19)
            return sign + self.r.choice("123456789") + self.digits(n - 1) if n > 1 else sign + self.r.choice("0123456789")
        if r < 0.55:
            prefix, alphabet = self.r.choice([("0x", "0123456789abcdefABCDEF"), ("0o", "01234567"), ("0b", "01")])
            return prefix + self.digits(self.r.randint(1, 16), alphabet)
        if r < 0.7:
            return self.r.choice(["0", "+0", "-0", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                                  "-9223372036854775809", "0x7FFFFFFFFFFFFFFF", "0x8000000000000000", "0o777777777777777777777",
                                  "0o1777777777777777777777", "0b" + "1" * 63, "0b1" + "0" * 63, "99999999999999999999"])
        # Near misses.
        return self.r.choice(["01", "-01", "00", "0_0", "1__0", "_1", "1_", "0X1F", "+0x1", "0x", "0xG", "0b2", "0o8", "1_000",
                              "1 000", "0x_1", "0x1_", "--1", "+-1", "0B1", "0O7", "1e", "١"])

    def float_(self):
        r = self.r.random()
        if self.oops():
            r = 1
        elif r > 0.8:
            r = 0
        if r < 0.5:
            s = self.r.choice(["", "", "+", "-"]) + (self.r.choice("123456789") + self.digits(self.r.randint(0, 4)) if self.chance(0.7) else "0")
            if self.chance(0.7):
                s += "." + self.digits(self.r.randint(1, 6))
            if self.chance(0.4) or "." not in s:
                s += self.r.choice("eE") + self.r.choice(["", "+", "-"]) + self.digits(self.r.randint(1, 3))
            return s
        if r < 0.7:
            return self.r.choice(["", "+", "-"]) + self.r.choice(["inf", "nan"])
        if r < 0.8:
            return self.r.choice(["0.0", "-0.0", "+0.0", "1e400", "-1e400", "1e-400", "5e-324", "1.7976931348623157e308",
                                  "6.626e-34", "3.14159", "1e0_0", "0e0", "0.1e-0_1"])
        return self.r.choice(["1.", ".5", "1.e5", "1._5", "1_.5", "1e_5", "1e5_", "Inf", "NaN", "+Inf", "infinity", "nan1", "01.5",
                              "1.5.2", "1e5e5", "1,5", "- 1.0", "1e+", "0.", "-.5", "1e1.5", "00.1", "1.0_"])

    def basic_chars(self, multiline):
        out = []
        for _ in range(self.r.randint(0, 8)):
            r = self.r.random()
            if r < 0.6:
                out.append(self.r.choice(self.TEXT))
            elif r < 0.8:
                out.append(self.r.choice(self.ESCAPES))
            elif r < 0.9:
                cp = self.r.choice(self.CODEPOINTS)
                out.append("\\u%04X" % cp if cp <= 0xFFFF and self.chance(0.6) else "\\U%08x" % cp)
            elif multiline and (r < 0.95 or not self.oops()):
                out.append(self.r.choice(["\n", '"', '""', "\\\n", "\\  \n   \n  ", "\\\t\n\t", "\t\n"]))
            elif not self.oops():
                out.append(self.r.choice(self.TEXT))
            else:
                cp = self.r.choice(self.BAD_CODEPOINTS)
                out.append(self.r.choice(["\\x41", "\\u12", "\\e", "\\ ", '"', "\x01", "\x7f", "\x1b", "\\%s" % ("u%04X" % cp if cp <= 0xFFFF else "U%08X" % cp),
                                          "\\u00E", "\\Ug", "\r", "\\"]))
        return "".join(out)

    def string(self):
        r = self.r.random()
        if r < 0.35:
            return '"' + self.basic_chars(False) + '"'
        if r < 0.6:
            chars = [c for c in self.TEXT if c != "'"] + ['"', "\\", "\\n", "#", "[", "]"]
            s = "".join(self.r.choice(chars) for _ in range(self.r.randint(0, 8)))
            if self.oops():
                s += self.r.choice(["'", "\x00", "\x7f", "\n", "\r"])
            return "'" + s + "'"
        if r < 0.8:
            return '"""' + self.r.choice(["", "\n", "\r\n"]) + self.basic_chars(True) + self.r.choice(["", "", '"', '""'] + (['"""'] if self.oops() else [])) + '"""'
        chars = self.TEXT + ["\n", "'", "''", "\\", '"']
        s = "".join(self.r.choice(chars) for _ in range(self.r.randint(0, 8)))
        if self.oops():
            s += self.r.choice(["'''", "\x00", "\x7f", "\r"])
        return "'''" + self.r.choice(["", "\n"]) + s + self.r.choice(["", "", "'", "''"]) + "'''"

    def date(self, valid=True):
        y = self.r.choice([1979, 2000, 1900, 2024, 2023, 1, 9999, 1987])
        m = self.r.randint(1, 12)
        d = self.r.randint(1, 28) if self.chance(0.8) else self.r.choice([29, 30, 31])
        if not valid:
            y, m, d = self.r.choice([(2023, 2, 29), (2024, 2, 30), (2024, 4, 31), (2024, 13, 1), (2024, 0, 1), (2024, 1, 0), (2024, 1, 32), (1900, 2, 29), (0, 1, 1)])
        return "%04d-%02d-%02d" % (y, m, d)

    def time(self, valid=True):
        h, mi, s = self.r.randint(0, 23), self.r.randint(0, 59), self.r.randint(0, 59)
        if not valid:
            h, mi, s = self.r.choice([(24, 0, 0), (23, 60, 0), (23, 59, 60), (99, 0, 0)])
        t = "%02d:%02d:%02d" % (h, mi, s)
        if self.chance(0.3):
            t += "." + self.digits(self.r.randint(1, 9), underscores=False)
        return t

    def datetime(self):
        r = self.r.random()
        valid = not self.oops()
        if r < 0.25:
            return self.date(valid)
        if r < 0.4:
            return self.time(valid)
        s = self.date(valid or self.chance(0.5)) + self.r.choice(["T", "t", " "]) + self.time(valid or self.chance(0.5))
        if r < 0.75:
            s += self.r.choice(["Z", "z", "+08:00", "-07:00", "+00:00", "-00:00", "+23:59", "+05:30"])
        if not valid and self.chance(0.5):
            s = self.r.choice(["1979-05-27T07:32Z", "1979-05-27 07:32", "07:32", "1979-05-27T07:32:00+08", "1979-05-27T07:32:00+24:00",
                               "1979-5-27", "79-05-27", "1979-05-27T", "1979-05-27T07:32:00.Z", "1979-05-27T07:32:00 Z",
                               "1979-05-27_07:32:00", "07:32:00Z", "1979-05-27T07:32:00+08:60", "1979-05-27  07:32:00"])
        return s

    # Containers ------------------------------------------------------------------------------

    def value(self, depth=0):
        r = self.r.random()
        if depth < 3 and r < 0.12:
            return self.array(depth + 1)
        if depth < 3 and r < 0.2:
            return self.inline_table(depth + 1)
        r = self.r.random()
        if r < 0.25:
            return self.integer()
        if r < 0.45:
            return self.float_()
        if r < 0.75:
            return self.string()
        if r < 0.9:
            return self.datetime()
        return self.r.choice(["True", "tru", "falsey", "yes", "FALSE"] if self.oops() else ["true", "false"])

    def array_gap(self):
        r = self.r.random()
        if r < 0.6:
            return self.ws()
        if r < 0.8:
            return self.ws() + "\n" + self.ws()
        return self.ws() + "# " + self.r.choice(["c", "x, y", "]", "é", "\t"]) + "\n" + self.ws()

    def array(self, depth):
        items = [self.value(depth) for _ in range(self.r.randint(0, 4))]
        s = "[" + self.array_gap()
        for n, it in enumerate(items):
            s += it + self.array_gap()
            if n < len(items) - 1:
                s += "," + self.array_gap()
        if items and self.chance(0.3):
            s += "," + self.array_gap()
        if self.oops():
            s += self.r.choice([",", ",,", ""])
        return s + "]"

    def inline_table(self, depth):
        pairs = [self.key() + self.ws() + "=" + self.ws() + self.value(depth) for _ in range(self.r.randint(0, 3))]
        s = "{" + self.ws() + ("," + self.ws()).join(pairs) + self.ws()
        if self.oops():
            s += self.r.choice([",", "\n"])
        return s + "}"

    # Document --------------------------------------------------------------------------------

    def comment(self):
        return "#" + self.r.choice(["", " a comment", " [x]", " a = 1", " é中", "\t", " '\"", "#"])

    def trailer(self):
        return (self.ws() + self.comment()) if self.chance(0.2) else self.ws()

    def keyval(self):
        return self.ws() + self.key() + self.ws() + "=" + self.ws() + self.value() + self.trailer()

    def header(self):
        k = self.key()
        if self.chance(0.35):
            return self.ws() + "[[" + self.ws() + k + self.ws() + "]]" + self.trailer()
        return self.ws() + "[" + self.ws() + k + self.ws() + "]" + self.trailer()

    def document(self):
        self.bad = self.r.choice([0.0, 0.0, 0.0, 0.01, 0.05])
        self.fresh = self.r.choice([0.3, 0.7, 0.9])
        lines = []
        for _ in range(self.r.randint(0, 4)):
            lines.append(self.keyval())
        for _ in range(self.r.randint(0, 4)):
            lines.append(self.header())
            for _ in range(self.r.randint(0, 3)):
                lines.append(self.keyval())
        out = []
        for ln in lines:
            if self.chance(0.1):
                out.append(self.ws() + self.comment())
            if self.chance(0.1):
                out.append(self.ws())
            out.append(ln)
        text = "\n".join(out) + ("\n" if self.chance(0.8) else "")
        style = self.r.random()
        if style < 0.3:
            text = text.replace("\n", "\r\n")
        elif style < 0.35:
            text = "".join(self.r.choice(["\n", "\r\n"]) if c == "\n" else c for c in text)
        data = text.encode("utf-8")
        if self.chance(0.25):
            data = self.mutate(data)
        return data

    def mutate(self, data):
        for _ in range(self.r.randint(1, 2)):
            if not data:
                return data
            p = self.r.randrange(len(data) + 1)
            r = self.r.random()
            if r < 0.2:
                data = data[:p] + data[p + 1:]
            elif r < 0.45:
                ins = self.r.choice(['"', "'", "[", "]", "{", "}", "=", ",", ".", "#", "\\", " ", "\t", "\n", "\r", "_", "a", "1", "-",
                                     ":", "+", "e", "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\x7f", "é"])
                data = data[:p] + ins.encode() + data[p:]
            elif r < 0.6:
                lines = data.split(b"\n")
                k = self.r.randrange(len(lines))
                lines.insert(self.r.randrange(len(lines) + 1), lines[k])
                data = b"\n".join(lines)
            elif r < 0.7:
                lines = data.split(b"\n")
                a, b = self.r.randrange(len(lines)), self.r.randrange(len(lines))
                lines[a], lines[b] = lines[b], lines[a]
                data = b"\n".join(lines)
            elif r < 0.78:
                data = data[:p]
            elif r < 0.85:
                data = data[:p] + self.r.choice([b"\xff", b"\xc3", b"\xe4\xb8", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x80"]) + data[p:]
            elif r < 0.92:
                i = data.find(b"\n", p)
                if i >= 0:
                    data = data[:i] + b"\r" + data[i + 1:]
            else:
                c = data[p:p + 1]
                if c.isalpha():
                    data = data[:p] + c.swapcase() + data[p + 1:]
        return data


# Hand-picked documents run before the random ones: the cases the old reader got wrong and the
# table-definition rules, which random documents reach only by luck.
FIXED = [
    "pattern = '^[A-Z#]+$'\n[[device]]\nid = 'x'\n",
    "command = ['/usr/local/bin/alert', '#gate']\n[sounds]\nadmit = 'a.wav'\n",
    "# comment\r\na = 1\r\n[t]\r\nb = \"x\"\r\n",
    "a = 1\rb = 2\n",
    "[rules]\nx = 1\n[rules]\ny = 2\n",
    "a = 01\n", "a = 1.\n", "a = Inf\n", "a = 0X1\n", "a = +0xff\n", "a = \"\x01\"\n",
    "[fruit]\napple.color = 'red'\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true\n",
    "[fruit]\napple.color = 'red'\n[fruit.apple]\n",
    "a.b.c = 1\n[a.b]\n", "a.b.c = 1\n[a.b.d]\n", "[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n", "[a.b.c.d]\nz = 9\n[a]\nb.c.d.k.t = 1\n",
    "[a.b.c]\n[a]\nb.x = 1\n", "[a.b.c]\n[a]\nb.x = 1\n[a.b]\n", "[a.b]\n[a]\n", "[a]\n[a.b]\n[a]\n",
    "a = {}\n[a.b]\n", "a = {b = 1}\na.c = 2\n", "a = [1]\n[[a]]\n", "[[a]]\n[a]\n", "[a]\n[[a]]\n", "[[a]]\nb.c = 1\n[[a]]\nb.c = 2\n",
    "[[a]]\n[a.b]\n[[a]]\n[a.b]\n", "[[a.b]]\n[a]\nb.c = 1\n", "t = {a.b = 1, a.c = 2}\n", "t = {a = {}, a.b = 1}\n", "t = {a.b = 1, a = 2}\n",
    "t = {a = 1,}\n", "t = {a = 1\n}\n", "t = {a = [\n1]}\n", "a = \"\"\"\na\\\n  \n  b\"\"\"\"\"\n", "a = '''''''\n", "a = ''''''''''\n",
    "a = \"\"\"\\ x\"\"\"\n", "\"\"\"a\"\"\" = 1\n", "a = 1979-05-27T07:32:00.123456789+08:00\n", "a = 1979-05-27 07:32:00\n",
    "a = 1979-05-27 07:32\n", "a = 2024-02-29\n", "a = 2023-02-29\n", "a = 23:59:60\n", "a = \"\\uD800\"\n", "a = \"\\U0010FFFF\"\n",
    "a = 9223372036854775807\nb = -9223372036854775808\n", "a = 9223372036854775808\n", "a = 0x8000000000000000\n",
    "a = -0.0\nb = +inf\nc = -nan\nd = 1e400\n", "\ufeffa = 1\n", "a = 1 # c\x7f\n", "a = 1 # tab\there\n", "a = [1,,2]\n", "a = [,]\n",
    "a = [{ b = 1 }]\n[a.c]\nfoo = 1\n", "[a.b]\n[a]\n[a]\n", "[a]\nb = 1\n[a.b]\n", "a.b = 1\na.b.c = 2\n", "[a.b]\n[a.b.c]\n[a]\nb.c.d = 1\n",
    "a = {}\na.b = 1\n", "[[a]]\n[a.b]\nx = 1\n[a.b]\n", "x.y = 1\n[x]\n", "a = 1\n\ufeffb = 2\n", "[a]\n[a.b]\n[a.b.c]\n[a.d]\n",
    "[a.b.c]\n[a.b]\n[a]\n", "a.b.c.d = 1\na.b.e = 2\n[a.b.f]\n", "[t]\na.b = 1\n[t.a]\n", "[t]\na.b = 1\n[t.a.c]\n", "[[t]]\na.b = 1\n[t.a]\n",
    "a = 0000-01-01\n", "a = 0001-01-01T00:00:00Z\n", "a = 1979-05-27T07:32:00.1234567891234\n", "a = \"\\u0000\"\n",
    "[ a . 'b c' . \"d\" ]\ne = 1\n", "[[ a ]]\n[ [a]]\n", "a.\"b\".'c' = 1\n", "'' = 1\n\"\" = 2\n", "= 1\n", "a = \n", "a =\n1\n",
]


# ---------------------------------------------------------------------------------------------
# Comparing


class OutOfRange(Exception):
    pass


def fraction(micros_or_digits):
    s = micros_or_digits[:6].rstrip("0")
    return "." + s if s else ""


def tag_python(v):
    """tomllib's result in tagged form, normalised like `normalise` below."""
    if isinstance(v, dict):
        return {k: tag_python(x) for k, x in v.items()}
    if isinstance(v, list):
        return [tag_python(x) for x in v]
    if isinstance(v, bool):
        return ("bool", "true" if v else "false")
    if isinstance(v, int):
        if not -(2**63) <= v < 2**63:
            raise OutOfRange(v)
        return ("integer", str(v))
    if isinstance(v, float):
        return ("float", float_key(v))
    if isinstance(v, str):
        return ("string", v)
    if isinstance(v, dt.datetime):
        t = "%02d:%02d:%02d" % (v.hour, v.minute, v.second) + fraction("%06d" % v.microsecond)
        if v.tzinfo is None:
            return ("datetime-local", v.date().isoformat() + "T" + t)
        return ("datetime", v.date().isoformat() + "T" + t + offset(int(v.utcoffset().total_seconds()) // 60))
    if isinstance(v, dt.date):
        return ("date-local", v.isoformat())
    if isinstance(v, dt.time):
        return ("time-local", "%02d:%02d:%02d" % (v.hour, v.minute, v.second) + fraction("%06d" % v.microsecond))
    raise TypeError(type(v))


def offset(minutes):
    if minutes == 0:
        return "Z"
    sign = "-" if minutes < 0 else "+"
    return sign + "%02d:%02d" % divmod(abs(minutes), 60)


def float_key(f):
    return "nan" if math.isnan(f) else repr(f)


LEAF_TYPES = {"string", "integer", "float", "bool", "datetime", "datetime-local", "date-local", "time-local"}


def normalise(j):
    """The parser's tagged JSON, normalised: floats by value, date-times to the microsecond."""
    if isinstance(j, list):
        return [normalise(x) for x in j]
    if set(j) == {"type", "value"} and isinstance(j["type"], str) and isinstance(j["value"], str) and j["type"] in LEAF_TYPES:
        t, v = j["type"], j["value"]
        if t == "float":
            return (t, float_key(float(v)))
        if t in ("datetime", "datetime-local", "time-local"):
            head, _, rest = v.partition(".")
            if rest:
                digits = re.match(r"[0-9]*", rest).group()
                v = head + fraction(digits) + rest[len(digits):]
            v = v.replace("+00:00", "Z").replace("-00:00", "Z")
        return (t, v)
    return {k: normalise(x) for k, x in j.items()}


def expected(doc):
    """('ok', value) or ('error', message) from tomllib, with the spec's 64-bit integer rule."""
    try:
        return ("ok", tag_python(tomllib.loads(doc.decode("utf-8"))))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        return ("error", str(e))
    except OutOfRange as e:
        return ("error", "integer out of 64-bit range: %s" % e)


def run_parser(cmd, docs):
    """One result per document; a document on which the parser died gets ('crash', status)."""
    results = []
    start = 0
    while start < len(docs):
        batch = docs[start:]
        payload = b"".join(str(len(d)).encode() + b"\n" + d for d in batch)
        p = subprocess.run(cmd, input=payload, stdout=subprocess.PIPE, stderr=subprocess.PIPE, shell=True, cwd=ROOT)
        lines = p.stdout.decode("utf-8").splitlines()
        for ln in lines[:len(batch)]:
            j = json.loads(ln)
            results.append(("ok", normalise(j["ok"])) if "ok" in j else ("error", j["error"]["message"]))
        if len(lines) >= len(batch):
            break
        results.append(("crash", "status %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace")[-300:])))
        start += len(lines) + 1
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=2000, help="random documents (the fixed ones come on top)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--parser", default=os.path.join(ROOT, ".build/debug/postern") + " config parse --batch")
    ap.add_argument("--show", type=int, default=10, help="disagreements to print in full")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    gen = Gen(rng)
    docs = [d.encode("utf-8") for d in FIXED] + [gen.document() for _ in range(args.count)]
    want = [expected(d) for d in docs]
    got = run_parser(args.parser, docs)

    counts = {"valid-rejected": 0, "invalid-accepted": 0, "value-mismatch": 0, "crash": 0}
    shown = 0
    for n, (d, w, g) in enumerate(zip(docs, want, got)):
        if g[0] == "crash":
            kind = "crash"
        elif w[0] == "ok" and g[0] == "error":
            kind = "valid-rejected"
        elif w[0] == "error" and g[0] == "ok":
            kind = "invalid-accepted"
        elif w[0] == "ok" and w[1] != g[1]:
            kind = "value-mismatch"
        else:
            continue
        counts[kind] += 1
        if shown < args.show:
            shown += 1
            print("--- document %d: %s" % (n, kind))
            print("    text:     %r" % d)
            print("    tomllib:  %s" % (w[1] if w[0] == "error" else json.dumps(w[1], ensure_ascii=False)))
            print("    postern:  %s" % (g[1] if g[0] != "ok" else json.dumps(g[1], ensure_ascii=False)))
    valid = sum(1 for w in want if w[0] == "ok")
    bad = sum(counts.values())
    print("toml-diff: %d documents (seed %d; %d valid, %d invalid per tomllib): %d agree, %d valid-rejected, %d invalid-accepted, "
          "%d value-mismatch, %d crash" % (len(docs), args.seed, valid, len(docs) - valid, len(docs) - bad, counts["valid-rejected"],
                                           counts["invalid-accepted"], counts["value-mismatch"], counts["crash"]))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
