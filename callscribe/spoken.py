"""Spoken forms to written ones, for finding personal data in ASR words.

`normalise(words)` turns what a recognizer wrote ("four one one one", "forty one eleven", "oh",
"uh" inside a number, "March third, nineteen eighty", "j o h n at gmail dot com") into written
text ("4111", "4111", "0", -, "March 3 1980", "john@gmail.com") and keeps, for every character,
the index of the word it came from, so whatever is found in the text maps back to words and
their times. The text is only looked at, never written out: outputs keep the words as spoken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

UNITS = {"zero": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
         "eight": 8, "nine": 9}
TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
         "seventeen": 17, "eighteen": 18, "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
SCALES = {"hundred": 100, "thousand": 1000}
REPEATS = {"double": 2, "triple": 3}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
            "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
            "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30}
# Hesitations ASR writes inside a number ("four one, uh, one one"): skipped, their times masked with it.
FILLERS = {"uh", "um", "er", "erm", "ah", "uhm", "hmm", "hm", "mm", "eh"}
# What the other side says between two groups of digits ("it's four one one one" ... "okay" ... "one one one one").
BACKCHANNELS = {"okay", "ok", "yes", "yeah", "yep", "mhm", "mm-hmm", "uh-huh", "right", "alright", "sure", "got", "it",
                "go", "on", "ahead", "and", "then", "next", "all", "correct", "great", "thanks", "thank", "you"}
TLDS = {"com", "net", "org", "edu", "gov", "co", "uk", "io", "us", "ca", "de", "fr", "info", "biz", "me", "mil", "au", "in"}
MONTH_NAMES = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
               "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
CONNECTORS = {"dot": ".", "period": ".", "underscore": "_", "dash": "-", "hyphen": "-"}

DIGITS_RE = re.compile(r"^\d+(?:[-,.]\d+)*$")  # 4111, 4111-1111, 4,111 (not prices or times: $ and : stop it)
ALNUM_ID_RE = re.compile(r"^(?=.*\d)[a-z0-9]+(?:-[a-z0-9]+)+$")  # ho-4821937, h-o-4-8
ORDINAL_RE = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)$")


def clean(word: str) -> str:
    """A word as compared: lower case, without the punctuation ASR puts around it."""
    w = word.strip().lower().strip(".,;:!?\"'()[]")
    return w[1:] if w[:1] == "-" and w[1:2].isdigit() else w  # Whisper splits 601-10009 into "601", "-10009"


@dataclass
class Normalised:
    text: str
    owner: list[int]  # per character of `text`: index of the word it came from (-1: a space put in between)
    stepped: set[int] = field(default_factory=set)  # the other side's "okay" between two groups of digits

    def words_of(self, start: int, end: int) -> list[int]:
        """The words behind text[start:end], in order: fillers and "double" inside a number are, the
        other side's "okay" between its groups is not."""
        idx = [i for i in self.owner[start:end] if i >= 0]
        return [i for i in range(min(idx), max(idx) + 1) if i not in self.stepped]


def _number_value(w: str, nxt: str | None):
    """Kind and value of one spoken number word, or None."""
    if w in UNITS:
        return "u", UNITS[w]
    if w in TEENS:
        return "t", TEENS[w]
    if w in TENS:
        return "T", TENS[w]
    if w in SCALES:
        return "S", SCALES[w]
    if w in REPEATS and nxt is not None and (nxt in UNITS or DIGITS_RE.match(nxt)):
        return "R", REPEATS[w]
    if DIGITS_RE.match(w):
        if re.match(r"^\d+\.\d+$", w):  # 2.50, 3.5: a decimal is no part of an identifier
            return None
        return "d", re.sub(r"\D", "", w)
    if "-" in w:  # twenty-one
        a, _, b = w.partition("-")
        if a in TENS and b in UNITS and UNITS[b]:
            return "u", TENS[a] + UNITS[b]
    return None


def _digits(items: list[tuple[str, object]]) -> str:
    """Digits of a run of spoken numbers. Groups are written one after the other, as people read out
    identifiers ("nineteen eighty" 1980, "four eleven" 411); "hundred"/"thousand" and a unit after a
    ten make one number ("five hundred twenty" 520, "thirty four" 34); "double five" is 55."""
    out: list[str] = []
    cur, last, scale, repeat = None, None, 0, 1
    for kind, v in items:
        if kind == "R":
            repeat = v
            continue
        if kind == "d" or (repeat > 1 and kind == "u"):
            if cur is not None:
                out.append(str(cur))
            out.append(str(v) * repeat)
            cur, last, scale, repeat = None, None, 0, 1
            continue
        if kind == "S":
            if cur is None:
                cur = v  # "a hundred"
            elif cur < v:
                cur *= v
            elif scale == 1000 and 0 < cur % 1000 < 10 and v == 100:  # two thousand five hundred
                cur += (cur % 1000) * 99
            last, scale = "S", max(scale, v)
            continue
        if scale and cur is not None and cur % 100 == 0 and v < 100:  # five hundred twenty
            cur += v
            last = kind
            continue
        if last == "T" and kind == "u" and 0 < v < 10:  # thirty four
            cur += v
            last = "u"
            continue
        if cur is not None:
            out.append(str(cur))
        cur, last, scale = v, kind, 0
    if cur is not None:
        out.append(str(cur))
    return "".join(out)


def normalise(words: list[str]) -> Normalised:
    """Written text for `words` (as ASR wrote them, one entry per word), with each character's word."""
    low = [clean(w) for w in words]
    n = len(low)
    pieces: list[tuple[str, list[int], str]] = []  # (text, word index per character, kind)
    stepped: set[int] = set()

    def num(j: int):
        """(kind, value) when word j is part of a spoken or written number."""
        if j >= n:
            return None
        w = low[j]
        if w in ("oh", "o"):  # a zero only beside other numbers ("oh, I see" is not; "six oh oh oh" is)
            near = []
            for step in (-1, 1):
                k = j + step
                while 0 <= k < n and low[k] in ("oh", "o"):
                    k += step
                if 0 <= k < n:
                    near.append(low[k])
            return ("u", 0) if any(_number_value(x, "oh") for x in near) else None
        return _number_value(w, low[j + 1] if j + 1 < n else None)

    def run_digits(k: int) -> int:
        items = []
        while k < n and num(k):
            items.append(num(k))
            k += 1
        return len(_digits(items))

    i = 0
    while i < n:
        w = low[i]
        email = _email_at(low, i)
        if email:
            text, last = email
            n_words = last - i + 1  # every word of it owns some characters, so all of them are masked
            pieces.append((text, [i + c * n_words // len(text) for c in range(len(text))] if len(text) >= n_words
                           else list(range(i, last + 1))[: len(text) - 1] + [last], "email"))
            i = last + 1
        elif w in TENS and i + 1 < n and low[i + 1] in ORDINALS and ORDINALS[low[i + 1]] < 10:  # twenty third
            text = str(TENS[w] + ORDINALS[low[i + 1]])
            pieces.append((text, [i, i + 1], "ordinal"))
            i += 2
        elif w in ORDINALS or ORDINAL_RE.match(w):
            text = str(ORDINALS[w]) if w in ORDINALS else ORDINAL_RE.match(w).group(1)
            pieces.append((text, [i] * len(text), "ordinal"))
            i += 1
        elif num(i):
            items, owners, j = [], [], i
            while j < n:
                if num(j):
                    if low[j] in TENS and j + 1 < n and low[j + 1] in ORDINALS:  # "... nineteen eighty, twenty third"
                        break
                    if items and pieces and pieces[-1][0].lower().rstrip(".") in MONTH_NAMES and len(items) == 1 \
                            and len(_digits(items)) <= 2 and int(_digits(items)) <= 31:
                        break  # "May 13, 2010": the day, then the year
                    before = len(_digits(items))
                    items.append(num(j))
                    grown = len(_digits(items)) - before
                    owners.extend([j] * grown)
                    if grown == 0 and owners:  # "thirty four": the unit is part of the last digits
                        owners[-1] = j
                    j += 1
                    continue
                # step over fillers inside a number, "and" after a hundred, and the other side's
                # "okay" between two groups of three or more digits
                k = j
                while k < n and k - j < 4 and (low[k] in FILLERS or low[k] in BACKCHANNELS or low[k] == "and" or not low[k]):
                    k += 1
                gap = low[j:k]
                if k > j and num(k) and (
                        all(g in FILLERS or not g for g in gap)
                        or (gap == ["and"] and items[-1][0] == "S")
                        or ("and" not in gap and len(_digits(items)) >= 3 and run_digits(k) >= 3)):
                    stepped.update(x for x in range(j, k) if low[x] not in FILLERS)
                    j = k
                    continue
                break
            text = _digits(items)
            owners = (owners + [j - 1] * len(text))[: len(text)]
            # letters before the digits: spelled ("h o four eight ...", "l f dash nine ...") or written
            # in capitals ("AU 7731 0482"): one identifier, ho48..., au7731...
            if len(pieces) >= 2 and pieces[-1][0].lower() in ("dash", "hyphen", "-") and pieces[-2][2] == "spelled":
                pieces.pop()
            prev = pieces[-1] if pieces else None
            if prev and len(prev[0]) <= 4 and (prev[2] == "spelled" or (prev[2] == "word" and prev[0].isalpha() and prev[0].isupper()
                                                                         and len(prev[0]) >= 2)):
                pieces.pop()
                text, owners = prev[0].lower() + text, prev[1] + owners
            pieces.append((text, owners, "digits"))
            i = j
        elif len(w) == 1 and w.isalpha() and i + 1 < n and len(low[i + 1]) == 1 and low[i + 1].isalpha():
            j = i
            while j < n and len(low[j]) == 1 and low[j].isalpha():  # j o h n, J. O. H. N.
                j += 1
            pieces.append(("".join(low[i:j]), list(range(i, j)), "spelled"))
            i = j
        elif ALNUM_ID_RE.match(w):  # ho-4821937, h-o-4-8-2
            text = w.replace("-", "")
            pieces.append((text, [i] * len(text), "id"))
            i += 1
        else:
            text = words[i].strip()
            if text:
                pieces.append((text, [i] * len(text), "word"))
            i += 1
    out, owner = [], []
    for text, own, _ in pieces:
        if out:
            out.append(" ")
            owner.append(-1)
        out.append(text)
        owner.extend(own)
    return Normalised("".join(out), owner, stepped)


def _email_at(low: list[str], i: int) -> tuple[str, int] | None:
    """An e-mail address starting at word i, said ("john dot smith at gmail dot com"), spelled
    ("j o h n at gmail dot com") or written ("john@gmail.com"): (address, its last word) or None."""
    if re.match(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$", low[i]):
        return low[i], i
    local, j = [], i
    while j < len(low) and low[j] not in ("at", "@"):
        w = low[j]
        short = len(w) == 1 or w.isdigit() or w in UNITS
        if w in CONNECTORS and local and local[-1] not in CONNECTORS.values():
            local.append(CONNECTORS[w])
        elif re.match(r"^[a-z0-9]+$", w) and (not local or local[-1] in CONNECTORS.values() or (short and len(local[-1]) == 1)
                                              or (w.isdigit() or w in UNITS) and len(w) > 1):  # johnsmith seven seven
            local.append(str(UNITS[w]) if w in UNITS and len(w) > 1 else w)  # j o h n one two: john12
        else:
            return None
        j += 1
        if j - i > 40:
            return None
    if j >= len(low) or not local or local[-1] in CONNECTORS.values():
        return None
    domain, k = [], j + 1
    while k < len(low):
        w = low[k]
        if re.match(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$", w) and (not domain or domain[-1] == "."):  # gmail.com, written
            domain.append(w)
            k += 1
            break
        if re.match(r"^[a-z0-9-]+$", w) and w not in ("dot", "period") and (not domain or domain[-1] == "."):
            domain.append(w)
        elif w in ("dot", "period") and domain and domain[-1] != ".":
            domain.append(".")
        else:
            break
        k += 1
    while domain and domain[-1] == ".":
        domain.pop()
        k -= 1
    dom = "".join(domain)
    if "." not in dom or dom.rsplit(".", 1)[1] not in TLDS:
        return None
    return "".join(local) + "@" + dom, k - 1
