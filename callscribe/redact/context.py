"""Masking by context, for numbers ASR got wrong.

A number read out after "social security number" is personal data even when the ASR wrote one digit as a
word that sounds like it ("time" for nine) or dropped one, so that it no longer validates. After a strong
context word, the run of digits that starts within a few words (numerals or number words, those
sound-alikes and fillers inside it, and a few short words of ASR noise between digits) is masked as that
word's kind when it says a few digits, unless it reads as an amount, a time or a year. And a number found
by its recognizer takes in the digits said just before or after it ("One, [PHONE]": the country code
before a pause), so the whole of it is masked.
"""

from __future__ import annotations

import re

from callscribe.spoken import BACKCHANNELS, FILLERS, SCALES, TEENS, TENS, UNITS, clean

# context word -> kind: words that, said just before a number, make it personal data
CONTEXT = {"social": "ssn", "ssn": "ssn", "card": "card", "visa": "card", "mastercard": "card", "amex": "card",
           "account": "policy", "routing": "policy", "policy": "policy", "born": "dob", "birth": "dob", "birthday": "dob",
           "dob": "dob", "phone": "phone", "cell": "phone", "mobile": "phone", "telephone": "phone"}
AFTER = 8  # words after the context word within which the number starts ("social security number? Yes, it's two ...")
MIN_DIGITS = 3  # fewer is a count ("the card, one second"), not an identifier
NOISE = 4  # short words between two digits taken as ASR's noise inside the number, at most
SHORT = 5  # a run shorter than this after a preposition is a time or a date ("at ten thirty", "in 2019")
# Words ASR writes for a spoken digit: masked inside a run of digits (not counted as digits), never alone.
SOUNDS_LIKE = {"time", "nein", "niner", "for", "fore", "to", "too", "won", "ate", "tree", "sex", "fife"}
UNITS_AFTER = {"dollar", "dollars", "cents", "bucks", "percent", "pounds", "miles", "minutes", "hours", "days", "weeks",
               "months", "years", "o'clock", "am", "pm", "a.m.", "p.m.", "thousand", "grand"}
BEFORE_TIME = {"at", "on", "in", "since", "until", "before", "after", "by", "from", "around", "about"}
YEAR = re.compile(r"^(19|20)\d\d$")
DIGITS = re.compile(r"^\(?\d[\d\-/.,()]*$")
DIGIT_KINDS = {"card", "ssn", "phone", "policy"}
LETTER = re.compile(r"^[A-Z]\.?,?$")  # a letter spelled out, as ASR writes it: "P", "A."


def digits_in(word: str) -> int:
    """How many digits a (cleaned) word says: 0 for a word that is no number."""
    if DIGITS.match(word):
        return sum(c.isdigit() for c in word)
    if word in UNITS:
        return 1
    if word in TEENS or word in TENS:
        return 2
    if word in SCALES:
        return 2  # "five hundred": 500
    return 0


def _run(low: list[str], start: int) -> tuple[int, int, int] | None:
    """The run of number words starting at or just after `start`: (first, last, digits said as digits),
    fillers, sound-alikes and ASR's noise inside it; None when no number starts there."""
    first = next((j for j in range(start, min(start + 2, len(low))) if digits_in(low[j])), None)
    if first is None:
        return None
    if first > start and low[start] in SOUNDS_LIKE:  # "too six four ...": the first digit misheard
        first = start
    last, count, j = first, 0, first
    while j < len(low):
        w = low[j]
        n = digits_in(w)
        if n:
            pair = w in UNITS and j > first and low[j - 1] in TENS  # "ninety nine": two digits, not three
            count, last = count + (0 if pair else n), j
        elif w in SOUNDS_LIKE and (digits_in(low[j - 1]) or j + 1 < len(low) and digits_in(low[j + 1])):
            last = j  # masked with the number, not counted: "for 3 of the 4" holds two digits
        elif w in BACKCHANNELS and j + 1 < len(low) and digits_in(low[j + 1]):
            pass  # the other side's "okay" between two groups (left unmasked)
        elif _noise_then_digit(low, j):
            pass  # what ASR made of the words between digits ("6 nm of 1, 1 nm of nm of 9"): the run goes on
        elif not (w in FILLERS or w in ("", "dash", "hyphen", "double", "triple")):
            break
        j += 1
    return first, last, count


def _noise_then_digit(low: list[str], j: int) -> bool:
    """Whether up to NOISE short words from `j` on are followed by a digit."""
    for k in range(j, min(j + NOISE + 1, len(low))):
        if digits_in(low[k]):
            return k > j
        if not (low[k].isalpha() and len(low[k]) <= 3) or low[k] in UNITS_AFTER or low[k] in BEFORE_TIME:
            return False
    return False


def context_spans(words: list[str], kinds: tuple[str, ...]) -> list[tuple[str, list[int]]]:
    """(kind, word indices) of the numbers said after a strong context word."""
    low = [clean(w) for w in words]
    spans, taken = [], -1
    for c, w in enumerate(low):
        kind = CONTEXT.get(w)
        if kind not in kinds or c <= taken:
            continue
        for j in range(c + 1, min(c + 1 + AFTER, len(low))):
            if j <= taken or any(ch.isdigit() for ch in low[j]) and not digits_in(low[j]):
                break  # a number already taken, or one with letters ("HO-4821"): its recognizer's
            run = _run(low, j)
            if run is None:
                continue
            first, last, count = run
            said = low[first:last + 1]
            after = low[last + 1] if last + 1 < len(low) else ""
            before = low[first - 1] if first else ""
            if (count < MIN_DIGITS or after in UNITS_AFTER or (count < SHORT and before in BEFORE_TIME)
                    or (kind != "dob" and _year(said)) or (count < 7 and any(w in SCALES for w in said))):
                break  # the first number after the word is not an identifier: nothing of this one
            while kind == "policy" and first > c + 1 and LETTER.match(words[first - 1].strip()):
                first -= 1  # "P A seven zero three ...": the spelled letters are part of it
            spans.append((kind, [i for i in range(first, last + 1) if low[i] not in BACKCHANNELS]))
            taken = last
            break
    return spans


def _year(said: list[str]) -> bool:
    """A year, written or said: 2019, "nineteen ninety nine", "twenty fifteen", "two thousand five"."""
    written = "".join(said).replace("-", "")  # "2019", or a year said in halves as Whisper writes it: "20-19", "20" "-19"
    if written.isdigit():
        return bool(YEAR.match(written))
    return said[0] in ("nineteen", "twenty") and len(said) <= 3 or said[:2] == ["two", "thousand"]


def widen(indices: list[int], words: list[str]) -> list[int]:
    """A found number with the digits said right before and after it (fillers and punctuation between)."""
    low = [clean(w) for w in words]
    first, last = indices[0], indices[-1]
    for step, edge in ((-1, first), (1, last)):
        j = edge + step
        while 0 <= j < len(low) and (digits_in(low[j]) or low[j] in FILLERS or low[j] == ""
                                     or (low[j] in SOUNDS_LIKE and abs(j - edge) == 1)):
            if low[j] not in FILLERS and low[j] != "":
                edge = j
            j += step
        first, last = (edge, last) if step < 0 else (first, edge)
    return sorted(set(indices) | set(range(first, indices[0])) | set(range(indices[-1] + 1, last + 1)))
