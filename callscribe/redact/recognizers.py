"""Presidio recognizers, one per kind, and `find`: the personal data in a call's words.

Words go through `spoken.normalise` (spoken numbers and spelled letters to written form, across
segments and turns), then Presidio's analyzer runs one recognizer per kind on that text, with
context words and validators (Luhn for cards, SSA rules for SSNs, libphonenumber for phones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from callscribe.redact.context import DIGIT_KINDS, context_spans, widen
from callscribe.redact.settings import ENTITY, KIND_OF, KINDS, RedactSettings
from callscribe.spoken import Normalised, normalise

THRESHOLD = 0.5  # a weak pattern (a bare 9-digit number) needs a context word ("social security") to pass
CONTEXT_SCORE = 0.45  # a number masked by context alone (callscribe.redact.context): a validated kind wins over it


@dataclass
class Found:
    kind: str
    words: list[int]  # indices of the words that say it
    score: float

    @property
    def first(self) -> int:
        return self.words[0]

    @property
    def last(self) -> int:
        return self.words[-1]


MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|march|mar|april|apr|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|"
         r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
YEAR = r"(?:19|20)\d{2}"
STREET = r"(?:street|st|avenue|ave|road|rd|lane|ln|boulevard|blvd|parkway|pkwy|highway|hwy)"
# Street types that are also everyday words ("3 kids drive", "we close at"): only beside "address", "live", ...
STREET_WEAK = r"(?:drive|dr|court|ct|way|place|pl|terrace|circle|trail|square|crescent)"
APARTMENT = r"(?:,?\s+(?:apartment|apt|unit|suite|flat|number)\s+\w{1,5}(?:\s+[a-z]\b)?)?"
# Words that stand between a number and "road" in ordinary speech ("5 miles down the road") but never in a street name.
NOT_STREET_NAME = (r"(?!(?:the|a|an|of|on|in|at|to|my|your|our|his|her|their|down|up|off|miles?|minutes?|hours?|blocks?|"
                   r"and|or|from|by|this|that|for)\b)")


def recognizers(settings: RedactSettings) -> list:
    """Presidio recognizers for the kinds in `settings`."""
    import phonenumbers  # Google's libphonenumber: which numbers exist in a region's numbering plan
    from presidio_analyzer import AnalysisExplanation, EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import EmailRecognizer, PhoneRecognizer, UsSsnRecognizer
    from stdnum import luhn  # Luhn checksum (python-stdnum: maintained validators for standard numbers)
    from stdnum.us import ssn as us_ssn  # SSA rules: no 000/666/9xx area, no 00 group, no 0000 serial, known fakes

    class CardRecognizer(EntityRecognizer):
        """Payment card numbers: 13-19 digits passing Luhn, also inside a longer run of digits
        (a card read out then the expiry); a Luhn failure (a digit misheard) counts only beside
        'card', 'visa', ... ."""

        def load(self):
            pass

        def result(self, start, end, score, why):
            return RecognizerResult("CARD", start, end, score, AnalysisExplanation(type(self).__name__, score, pattern_name=why),
                                    recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                                          RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})

        def analyze(self, text, entities, nlp_artifacts=None):
            out = []
            for m in re.finditer(r"\d{13,}", text):
                run = m.group()
                if len(run) <= 19:
                    if run[0] in "23456" and luhn.is_valid(run):
                        out.append(self.result(m.start(), m.end(), 1.0, "luhn"))
                    elif run[0] in "23456":  # a digit misheard: only beside "card", "visa", ...
                        out.append(self.result(m.start(), m.end(), 0.3, "card-length digits"))
                    continue
                # A longer run: a card then the expiry or CVV, or digits before it. Any 16 digits pass Luhn
                # one time in ten, so such a window also needs a context word.
                for n in (16, 15, 14, 13, 17, 18, 19):
                    hit = next((s for s in (0, len(run) - n) if run[s] in "23456" and luhn.is_valid(run[s:s + n])), None)
                    if hit is not None:
                        out.append(self.result(m.start() + hit, m.start() + hit + n, 0.4, "luhn, inside a longer run"))
                        break
            return out

    class SsnRecognizer(UsSsnRecognizer):
        PATTERNS = [Pattern("ssn (9 digits)", r"(?<!\d)\d{3}[- .]?\d{2}[- .]?\d{4}(?!\d)", 0.3)]

        def invalidate_result(self, pattern_text):
            return not us_ssn.is_valid(re.sub(r"\D", "", pattern_text))

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text):
            return _tld()(pattern_text).fqdn != ""  # the bundled suffix list: nothing fetched at run time

    class ValidPhoneRecognizer(PhoneRecognizer):
        """libphonenumber's matcher (valid, formatted for the region: no context word needed), and runs of
        10-12 digits that parse as a valid number of a region ("1223247942", a UK number said without its 0),
        which need a context word ("phone", "number")."""

        SCORE = 0.6

        def analyze(self, text, entities, nlp_artifacts=None):
            out = super().analyze(text, entities, nlp_artifacts)
            for m in re.finditer(r"(?<![\d+])\+?\d{10,12}(?!\d)", text):
                if any(r.start <= m.start() < r.end for r in out):
                    continue
                for region in self.supported_regions:
                    try:
                        valid = phonenumbers.is_valid_number(phonenumbers.parse(m.group(), region))
                    except phonenumbers.NumberParseException:
                        valid = False
                    if valid:
                        r = self._get_recognizer_result(m, text, region, nlp_artifacts)
                        r.start, r.end, r.score = m.start(), m.end(), 0.3
                        out.append(r)
                        break
            return out

    class DobRecognizer(PatternRecognizer):
        def invalidate_result(self, pattern_text):
            years = re.findall(r"(?:19|20)\d{2}", pattern_text)
            return bool(years) and not 1900 <= int(years[-1]) < date.today().year  # born in the past (this year's dates are appointments)

    context = {
        "card": ["card", "visa", "mastercard", "amex", "discover", "credit", "debit"],
        "ssn": ["social", "security", "ssn", "socials"],
        "dob": ["born", "birth", "birthday", "dob", "birthdate"],
        "policy": ["policy", "member", "contract", "certificate"],
        "phone": ["phone", "telephone", "cell", "mobile", "call", "reach", "callback"],  # not "number": policy numbers too
        "email": ["email", "e-mail", "mail", "address"],
        "address": ["address", "live", "lives", "living", "mailing", "reside", "located", "property", "home", "house", "moved"],
    }
    build = {
        "card": lambda: CardRecognizer(supported_entities=["CARD"], context=context["card"]),
        "ssn": lambda: SsnRecognizer(supported_entity="SSN", context=context["ssn"]),
        "dob": lambda: DobRecognizer(supported_entity="DOB", context=context["dob"], patterns=[
            Pattern("month day year", rf"\b{MONTH}\.?\s+(?:the\s+)?{DAY},?\s+(?:of\s+)?{YEAR}\b", 0.3),
            Pattern("day month year", rf"\b(?:the\s+)?{DAY}\s+(?:of\s+)?{MONTH},?\s+{YEAR}\b", 0.3),
            Pattern("numeric", rf"\b(?:0?[1-9]|1[0-2])[/.-]{DAY}[/.-](?:{YEAR}|\d{{2}})\b", 0.3),
            Pattern("digits mmddyyyy", rf"(?<!\d)(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]){YEAR}(?!\d)", 0.3),
        ]),
        "policy": lambda: PatternRecognizer(supported_entity="POLICY", context=context["policy"], patterns=[
            Pattern("letters and digits", r"\b[a-z]{1,4}-?\d{5,12}[a-z]?\b", 0.3),
            Pattern("digits", r"(?<!\d)\d{6,12}(?!\d)", 0.3),
        ]),
        "phone": lambda: ValidPhoneRecognizer(supported_entity="PHONE", context=context["phone"],
                                              supported_regions=settings.phone_regions),
        "email": lambda: OfflineEmailRecognizer(supported_entity="EMAIL", context=context["email"]),
        "address": lambda: PatternRecognizer(supported_entity="ADDRESS", context=context["address"], patterns=[
            Pattern("street", rf"\b\d{{1,6}}[a-z]?\s+(?:{NOT_STREET_NAME}[a-z]+\s+){{1,3}}{STREET}\b\.?{APARTMENT}", 0.6),
            Pattern("street, weak type", rf"\b\d{{1,6}}[a-z]?\s+(?:{NOT_STREET_NAME}[a-z]+\s+){{1,3}}{STREET_WEAK}\b\.?{APARTMENT}", 0.3),
            # the street type written into the name by ASR: "unit eight, Vikingway", "12 Broadway"
            Pattern("street, joined type", r"\b\d{1,6}[a-z]?,?\s+[a-z]{3,}(?:way|road|street|lane|avenue|drive)\b", 0.3),
            Pattern("po box", r"\b(?:p\s*o|post office)\s+box\s+\d{1,6}\b", 0.6),
        ]),
    }
    return [build[k]() for k in settings.kinds]


@lru_cache(maxsize=1)
def _tld():
    import tldextract  # Presidio's own choice for checking an e-mail's domain

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=8)
def analyzer(settings: RedactSettings):
    """Presidio's analyzer with our recognizers and a tokenizer-only NLP engine: nothing downloaded, no model."""
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine

    class TokenizerOnly(NlpEngine):
        """spaCy's rule-based English tokenizer (no statistical model) for Presidio's context words."""

        def __init__(self):
            self.nlp = spacy.blank("en")

        def load(self):
            pass

        def is_loaded(self):
            return True

        def process_text(self, text, language):
            doc = self.nlp(text)
            return NlpArtifacts(entities=[], tokens=doc, tokens_indices=[t.idx for t in doc], lemmas=[t.lower_ for t in doc],
                                nlp_engine=self, language=language)

        def process_batch(self, texts, language, batch_size=1, n_process=1, **kwargs):
            for text in texts:
                yield text, self.process_text(text, language)

        def is_stopword(self, word, language):
            return self.nlp.vocab[word].is_stop

        def is_punct(self, word, language):
            return bool(re.fullmatch(r"\W+", word))

        def get_supported_entities(self):
            return []

        def get_supported_languages(self):
            return ["en"]

    registry = RecognizerRegistry(supported_languages=["en"])
    for r in recognizers(settings):
        registry.add_recognizer(r)
    # Context often sits in the question before the answer ("...your date of birth? Sure, it's March 3 1980").
    enhancer = LemmaContextAwareEnhancer(context_prefix_count=12, context_suffix_count=2)
    return AnalyzerEngine(registry=registry, nlp_engine=TokenizerOnly(), supported_languages=["en"],
                          default_score_threshold=THRESHOLD, context_aware_enhancer=enhancer)


def find(words: list[str], settings: RedactSettings) -> list[Found]:
    """Personal data in a call's words (in spoken order, all segments and speakers together)."""
    if not words or not settings.kinds:
        return []
    norm: Normalised = normalise(words)
    results = analyzer(settings).analyze(norm.text, language="en", entities=[ENTITY[k] for k in settings.kinds])
    found = []
    for r in results:
        found.append(Found(KIND_OF[r.entity_type], norm.words_of(r.start, r.end), r.score))
    # Overlaps (a 10-digit policy number that is also a valid phone): the higher score, then the longer span wins.
    found.sort(key=lambda f: (-f.score, f.first - f.last, KINDS.index(f.kind)))
    kept: list[Found] = []
    for f in found:
        if all(f.last < k.first or f.first > k.last for k in kept):
            kept.append(f)
    for f in kept:  # the whole number: with the digits said right before or after it ("One, [PHONE]")
        if f.kind in DIGIT_KINDS:
            f.words = widen(f.words, words)
    # After a strong context word, a number no recognizer validated (a digit misheard or dropped); where a
    # recognizer found part of it, that span takes in the rest.
    kept += [Found(kind, idx, CONTEXT_SCORE) for kind, idx in context_spans(words, settings.kinds)]
    kept.sort(key=lambda f: (f.first, -f.score))
    merged: list[Found] = []
    for f in kept:
        if merged and f.first <= merged[-1].last:
            last = merged[-1]
            last.words = sorted(set(last.words) | set(f.words))
            if f.score > last.score:
                last.kind, last.score = f.kind, f.score
        else:
            merged.append(f)
    return merged
