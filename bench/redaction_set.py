"""The labelled redaction test set: tests/data/redaction/transcripts.jsonl, made reproducibly here.

    python bench/redaction_set.py            # rewrites the files (seeded: the same files every time)

Each line is a call: `turns`, a list of [speaker, text]; personal data in the text is marked
`[[kind: words]]`. Values are made up (Luhn-valid test cards, SSNs that follow the SSA rules,
numbers in real US area codes); each kind comes in the forms ASR writes: digits said one by one
("four one one one"), in pairs ("forty one eleven"), "oh" for zero, numerals ("4111 1111 ..."),
with fillers, spread over several turns with the agent's "okay" between, dates as "March third,
nineteen eighty", e-mails spelled letter by letter. Unmarked text holds look-alikes that must stay:
prices, times, counts, years, renewal dates, playing cards, directions.

misheard.jsonl: numbers after a strong context word ("social", "card", "account", "routing", "born", ...)
as ASR gets them wrong: a digit written as a word that sounds like it ("time" for nine), a digit dropped,
the country code said before a pause; and numbers after those words that must stay ("the card for
three years", "an account balance of two hundred dollars").
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from stdnum import luhn

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "redaction" / "transcripts.jsonl"
MISHEARD_OUT = OUT.with_name("misheard.jsonl")
UNIT = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEEN = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
ORD = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh", "twelfth",
       "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth", "twentieth"]
BACK = ["okay", "mhm", "okay go on", "yes", "uh-huh", "got it"]
R = random.Random(15)


def ordinal(d: int) -> str:
    if d <= 20:
        return ORD[d]
    if d == 30:
        return "thirtieth"
    return f"{TENS[d // 10]} {ORD[d % 10]}"


def digit(c: str, zero: str) -> str:
    return zero if c == "0" else UNIT[int(c)]


def pair(p: str) -> str:
    """Two digits as people say them: 41 forty one, 11 eleven, 05 oh five, 00 double oh."""
    a, b = int(p[0]), int(p[1])
    if a == 0:
        return "double oh" if b == 0 else f"oh {UNIT[b]}"
    if a == 1:
        return TEEN[b]
    return TENS[a] if b == 0 else f"{TENS[a]} {UNIT[b]}"


def year(y: int) -> str:
    if 2000 <= y <= 2009:
        return "two thousand" + (f" {UNIT[y % 10]}" if y % 10 else "")
    return f"{pair(str(y)[:2])} {pair(str(y)[2:])}"


def say_digits(s: str, groups: list[int], style: str) -> list[str]:
    """The groups of `s` as spoken pieces (one per group) in the given style."""
    out, i = [], 0
    zero = R.choice(["oh", "zero"])
    for g in groups:
        chunk = s[i:i + g]
        i += g
        if style == "digits":
            out.append(" ".join(digit(c, zero) for c in chunk))
        elif style == "pairs" and len(chunk) % 2 == 0:
            out.append(" ".join(pair(chunk[k:k + 2]) for k in range(0, len(chunk), 2)))
        elif style == "pairs":
            out.append(digit(chunk[0], zero) + " " + " ".join(pair(chunk[k:k + 2]) for k in range(1, len(chunk), 2)))
        else:  # numerals, as Whisper often writes a number read out
            out.append(chunk)
    return out


def join_pieces(pieces: list[str], style: str, fillers: bool) -> str:
    sep = "-" if style == "dashed" else ", "
    if style == "numerals" and R.random() < 0.3:
        sep = " "
    text = pieces[0]
    for p in pieces[1:]:
        text += (", uh, " if fillers and R.random() < 0.5 else sep) + p
    return text


def card_number() -> str:
    prefix, n = R.choice([("4", 16), ("51", 16), ("55", 16), ("6011", 16), ("37", 15), ("34", 15), ("4", 16)])
    body = prefix + "".join(R.choice("0123456789") for _ in range(n - len(prefix) - 1))
    return body + luhn.calc_check_digit(body)


def ssn_number() -> str:
    while True:
        area = R.randint(1, 899)
        if area != 666:
            return f"{area:03d}{R.randint(1, 99):02d}{R.randint(1, 9999):04d}"


def phone_number() -> str:
    area = R.choice(["212", "415", "312", "617", "206", "305", "713", "404", "503", "919"])
    return area + str(R.randint(2, 9)) + f"{R.randint(0, 99):02d}" + f"{R.randint(0, 9999):04d}"


def spoken_number(value: str, groups: list[int]) -> str:
    style = R.choice(["digits", "digits", "pairs", "numerals", "digits"])
    pieces = say_digits(value, groups, style if style != "dashed" else "numerals")
    return join_pieces(pieces, style, fillers=R.random() < 0.3)


def mark(kind: str, words: str) -> str:
    return f"[[{kind}: {words}]]"


def card_call() -> list:
    value = card_number()
    groups = [4, 6, 5] if len(value) == 15 else [4, 4, 4, 4]
    ask = R.choice(["Can I have the card number please?", "What's the long number on the front of the card?",
                    "Go ahead with your Visa number.", "And the card you'd like to use?"])
    if R.random() < 0.35:  # read out over several turns, the agent acknowledging in between
        style = R.choice(["digits", "pairs", "digits"])
        pieces = say_digits(value, groups, style)
        turns = [["agent", ask]]
        first = True
        for k, p in enumerate(pieces):
            turns.append(["caller", ("Sure, it's " if first else "") + mark("card", p) + ("" if k < len(pieces) - 1 else ".")])
            first = False
            if k < len(pieces) - 1:
                turns.append(["agent", R.choice(BACK)])
        return turns + [["agent", R.choice(["Thank you, and the expiry?", "Perfect, that's forty dollars today."])]]
    return [["agent", ask], ["caller", f"Yes, it's {mark('card', spoken_number(value, groups))}."],
            ["agent", R.choice(["Thanks. That comes to two hundred and forty five dollars.",
                                "Great, the payment of 89.99 is scheduled for three thirty.",
                                "Thank you, it'll take three to five days."])]]


def ssn_call() -> list:
    v = ssn_number()
    ask = R.choice(["Could you confirm your social security number?", "I'll need the last, sorry, the full social.",
                    "And your SSN please?", "For verification, what's your social security number?"])
    lead = R.choice(['Sure,', 'Yeah it is', 'Okay,', 'It is'])
    return [["agent", ask], ["caller", f"{lead} {mark('ssn', spoken_number(v, [3, 2, 4]))}."],
            ["agent", R.choice(["Thanks, I see two policies on file.",
                                "Thank you. You've been with us since nineteen ninety eight.", "Great."])]]


def dob_call() -> list:
    y, m, d = R.randint(1940, 2012), R.randint(1, 12), R.randint(1, 28)
    forms = [f"{MONTHS[m - 1]} {ordinal(d)}, {year(y)}", f"the {ordinal(d)} of {MONTHS[m - 1]}, {year(y)}",
             f"{MONTHS[m - 1]} {d}, {y}", f"{MONTHS[m - 1]} {d}th {y}" if d > 3 else f"{MONTHS[m - 1]} {ordinal(d)} {y}",
             f"{m}/{d}/{y}", f"{pair(f'{m:02d}')}, {pair(f'{d:02d}')}, {year(y)}"]
    form = R.choice(forms)
    ask = R.choice(["And your date of birth?", "Can you confirm the date of birth on the policy?", "What's your birthday?",
                    "And when were you born?"])
    return [["agent", ask], ["caller", f"{R.choice(['It is', 'Sure,', 'Um,', ''])} {mark('dob', form)}.".strip()],
            ["agent", R.choice([f"Thank you. Your renewal is on {MONTHS[R.randint(0, 11)]} {ordinal(R.randint(1, 28))}, twenty twenty six.",
                                "Thanks, and the policy started in 2019.", "Perfect."])]]


def policy_call() -> list:
    letters = R.choice(["HO", "AU", "LF", "PA", "HX"])
    digits = "".join(R.choice("0123456789") for _ in range(R.choice([7, 8, 9])))
    style = R.choice(["spelled", "written", "spelled"])
    if style == "written":
        said = f"{letters}-{digits}" if R.random() < 0.5 else f"{letters}{digits}"
    else:
        said = " ".join(letters) + " " + spoken_number(digits, [len(digits)])
    ask = R.choice(["Do you have your policy number?", "What's the policy number?", "Can I get the policy number on the declaration page?"])
    return [["agent", ask], ["caller", f"{R.choice(['Yes, it is', 'Sure,', 'It is'])} {mark('policy', said)}."],
            ["agent", R.choice(["Thanks, you have three vehicles on it.", "Thank you, the deductible is five hundred.", "Okay."])]]


def phone_call() -> list:
    v = phone_number()
    lead = R.choice(["You can reach me at", "My cell is", "The best number is", "Call me back on", "My phone number is"])
    return [["agent", R.choice(["And a callback number?", "What's a good number for you?", "Is there a number I can reach you at?"])],
            ["caller", f"{lead} {mark('phone', spoken_number(v, [3, 3, 4]))}."],
            ["agent", R.choice(["Great, we're open until five thirty.", "Thanks, I'll call before 10:45.", "Got it."])]]


def email_call() -> list:
    first, last = R.choice(["john", "mary", "linda", "james", "kate", "omar"]), R.choice(["smith", "jones", "garcia", "lee", "brown"])
    domain = R.choice(["gmail dot com", "yahoo dot com", "outlook dot com", "aol dot com", "comcast dot net"])
    form = R.choice(["said", "spelled", "spelled_dot", "digits", "written"])
    if form == "said":
        said = f"{first} dot {last} at {domain}"
    elif form == "spelled":
        said = f"{' '.join(first)} at {domain}"
    elif form == "spelled_dot":
        said = f"{' '.join(first)} dot {' '.join(last)} at {domain}"
    elif form == "digits":
        said = f"{first}{last} {UNIT[R.randint(1, 9)]} {UNIT[R.randint(1, 9)]} at {domain}"
    else:
        said = f"{first}.{last}@{domain.replace(' dot ', '.')}"
    return [["agent", R.choice(["And an email for the documents?", "What email should we send it to?"])],
            ["caller", f"{R.choice(['It is', 'Sure, it is', 'My email is'])} {mark('email', said)}."],
            ["agent", R.choice(["Thanks, look at your inbox in about ten minutes.", "Great, I'll send it at four.", "Perfect."])]]


def address_call() -> list:
    num = R.choice([str(R.randint(10, 9999)), None])
    street = R.choice(["Main Street", "Oak Avenue", "Elm Drive", "Maple Lane", "Cedar Road", "Park Boulevard", "Lincoln Court",
                       "Sunset Way"])
    if num is None or R.random() < 0.5:
        n = R.randint(10, 9999)
        said_num = pair(f"{n:04d}"[:2]) + " " + pair(f"{n:04d}"[2:]) if n >= 1000 and n % 100 >= 10 else (
            UNIT[n // 100] + " " + pair(f"{n % 100:02d}") if n >= 100 and n < 1000 else pair(f"{n:02d}"[-2:]) if n < 100 else str(n))
    else:
        said_num = num
    extra = R.choice(["", ", apartment " + str(R.randint(1, 20)), ", unit " + R.choice(["4B", "two", "12"])])
    return [["agent", R.choice(["What's the address of the property?", "And your mailing address?", "Where do you live?"])],
            ["caller", f"{R.choice(['It is', 'I live at', 'Sure,'])} {mark('address', said_num + ' ' + street + extra)}."],
            ["agent", R.choice(["Thanks, that's about five miles down the road from our office.",
                                "Okay, the home was built in nineteen seventy two.", "Got it."])]]


NEGATIVES = [
    [["agent", "Your premium is two hundred and forty five dollars a month, or 1,200 a year."]],
    [["caller", "I called at three thirty yesterday and waited twenty minutes."], ["agent", "Sorry about that, we close at 5:30."]],
    [["caller", "We have three cars and two kids, the oldest is sixteen."]],
    [["caller", "We bought the house in nineteen ninety eight and the roof was redone in 2015."]],
    [["caller", "Four queen of clubs, five five, eight of spades four of clubs seven of hearts."]],
    [["agent", "Your renewal date is March third, twenty twenty six."], ["caller", "Okay, and the last payment was on January 15, 2025?"]],
    [["caller", "The accident was on route sixty six about five miles down the road from the exit."]],
    [["agent", "The deductible is one thousand, and the claim was twelve thousand five hundred."]],
    [["caller", "Press one, then two, then the pound key, it said."], ["agent", "Yes, option four two is billing."]],
    [["caller", "I'll look at it at nine and call you back at ten."]],
    [["agent", "That's 25% off, so 89.99 instead of 119.99."]],
    [["caller", "The car is a 2019 Honda with forty two thousand miles on it."]],
    [["agent", "Your claim reference is in the email we sent on the fourth."]],
    [["caller", "There are four hundred and twelve pages in the contract, section seven point two."]],
    [["agent", "Please hold for two or three minutes."], ["caller", "Okay."], ["agent", "Thanks for holding, one moment more."]],
    [["caller", "Uh, we have, um, one one-bedroom and two two-bedroom units in the building."]],
    [["agent", "We're at the office on the second floor, suite four hundred, open nine to five."]],
    [["caller", "It was nineteen eighty something, maybe eighty two, eighty three."]],
    [["agent", "The total for twelve months is fourteen hundred and forty dollars."]],
    [["caller", "My son is twenty one and my daughter nineteen, both on the policy since 2020."]],
]


# ---- misheard.jsonl: numbers as ASR gets them wrong, after a strong context word -------------------------

SOUNDS_LIKE = {"9": ["time", "nein"], "4": ["for"], "2": ["to", "too"], "1": ["won"], "8": ["ate"], "3": ["tree"], "6": ["sex"]}
M = random.Random(22)  # its own generators (misheard_set): transcripts.jsonl stays as it was


def misheard(value: str, groups: list[int], drop: bool = True) -> str:
    """Digits said one by one, one of them written as a word that sounds like it ("time" for nine), and
    now and then one dropped: a number that no longer validates."""
    words = [[digit(c, "oh") for c in value[sum(groups[:g]):sum(groups[:g + 1])]] for g in range(len(groups))]
    flat = [(g, k) for g in range(len(words)) for k in range(len(words[g]))]
    g, k = M.choice([(g, k) for g, k in flat if value[sum(groups[:g]) + k] in SOUNDS_LIKE] or flat)
    c = value[sum(groups[:g]) + k]
    words[g][k] = M.choice(SOUNDS_LIKE.get(c, [words[g][k]]))
    if drop and M.random() < 0.5:
        g2, k2 = M.choice([(a, b) for a, b in flat if (a, b) != (g, k)])
        words[g2][k2] = ""
    return ", ".join(" ".join(w for w in grp if w) for grp in words)


def misheard_call(i: int) -> list:
    kind = ["ssn", "card", "policy", "policy", "dob", "phone"][i % 6]
    if kind == "ssn":
        ask, said = M.choice(["What's your social security number?", "Can you read me the social?"]), misheard(ssn_number(), [3, 2, 4])
    elif kind == "card":
        ask = M.choice(["Go ahead with the card number.", "What's the number on the card?"])
        said = misheard(card_number()[:16], [4, 4, 4, 4])
    elif kind == "policy":
        ask = M.choice(["And the account number?", "What's the routing number?", "Do you have the policy number?"])
        said = misheard("".join(M.choice("0123456789") for _ in range(M.choice([8, 9, 10]))), [3, 3, 4], drop=False)
    elif kind == "dob":
        m, d, y = M.randint(1, 12), M.randint(1, 28), M.randint(40, 99)
        ask, said = M.choice(["And your date of birth?", "When were you born?"]), f"{pair(f'{m:02d}')}, {pair(f'{d:02d}')}, {pair(str(y))}"
    else:  # the country code said, then a pause: "One, seven one three, ..."
        ask = M.choice(["What's the best phone number?", "And your cell phone?"])
        said = "one, " + misheard(phone_number(), [3, 3, 4], drop=False)
    return [["agent", ask], ["caller", f"{M.choice(['Sure, it is', 'Yeah,', 'It is', 'Um,'])} {mark(kind, said)}."],
            ["agent", M.choice(["Thank you.", "Got it, thanks.", "Okay, one moment."])]]


# Strong context words with numbers after them that are not personal data: they must stay.
CONTEXT_LOOKALIKES = [
    [["caller", "I've had the card for three years."], ["agent", "Great, the card has a twenty dollar fee."]],
    [["agent", "Your account balance is two hundred forty five dollars."]],
    [["agent", "The policy started in 2019 and renews in twenty twenty six."]],
    [["caller", "I was born in a small town with two brothers."]],
    [["agent", "I'm routing you to billing, one moment."]],
    [["caller", "My social media is private, I have one account."]],
    [["caller", "The card, one second, let me find it."]],
    [["agent", "Your account has three drivers and two cars."]],
    [["agent", "The policy covers up to fifty thousand dollars."]],
    [["caller", "The card was charged on the fifth at ten thirty."]],
    [["agent", "Is that phone still good? I'll call at four."]],
    [["caller", "The account was opened in nineteen ninety nine."]],
]


# Written after the rules, for the check half only.
CHECK_LOOKALIKES = [
    [["agent", "Your card will arrive in seven to ten business days."]],
    [["caller", "I called about the account twice, on the third and on the ninth."]],
    [["agent", "The policy limit is three hundred thousand per accident."]],
    [["caller", "My phone died at two percent, sorry."]],
    [["agent", "Is the card still in your wallet? It expires in 2028."]],
    [["caller", "I was born in nineteen seventy, so I'm fifty five."]],
    [["agent", "The account has a balance of one thousand two hundred and six dollars."]],
    [["caller", "Social security pays me on the fourth, about nineteen hundred a month."]],
]


def misheard_set() -> list[dict]:
    """A tuning half (the rules were written looking at it) and a check half, made the same way with
    another seed, and look-alikes written after the rules."""
    global M
    calls = []
    for half, seed, lookalikes in (("tune", 22, CONTEXT_LOOKALIKES), ("check", 23, CHECK_LOOKALIKES)):
        M = random.Random(seed)
        calls += [{"id": f"misheard-{half}-{i:02d}", "turns": misheard_call(i)} for i in range(48)]
        calls += [{"id": f"context-lookalike-{half}-{i:02d}", "turns": t} for i, t in enumerate(lookalikes)]
    return calls


def main():
    makers = [card_call, ssn_call, dob_call, policy_call, phone_call, email_call, address_call]
    calls = []
    for i in range(40):
        for make in makers:
            calls.append({"id": f"{make.__name__}-{i:02d}", "turns": make()})
    for i in range(40):  # calls with several kinds at once
        turns = [t for make in R.sample(makers, 3) for t in make()]
        calls.append({"id": f"mixed-{i:02d}", "turns": turns})
    for i, turns in enumerate(NEGATIVES):
        calls.append({"id": f"lookalike-{i:02d}", "turns": turns})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(c) + "\n" for c in calls))
    print(f"{OUT}: {len(calls)} calls")
    misheard_calls = misheard_set()
    MISHEARD_OUT.write_text("".join(json.dumps(c) + "\n" for c in misheard_calls))
    print(f"{MISHEARD_OUT}: {len(misheard_calls)} calls")


if __name__ == "__main__":
    main()
