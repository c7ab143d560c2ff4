"""Personal data in transcripts, found and masked: card, SSN, date of birth, policy number, phone,
e-mail, street address.

- `settings`: `redact:` in params.yaml (the schema) and the settings a run masks with;
- `recognizers`: one Presidio recognizer per kind, on the words made written form (`spoken`), and `find`;
- `mask`: what was found masked in place, every word keeping its times;
- `masker`: a call's transcript and record masked with the current settings (a pure transform);
- `audio`: copies of the audio with the masked spans bleeped;
- `tally`: what was masked in a set of calls, per kind. Records say how many, never the values.
"""

from callscribe.redact.audio import bleep_audio, bleep_copy, masked_spans
from callscribe.redact.mask import Redaction, redact
from callscribe.redact.masker import Masked, remask
from callscribe.redact.recognizers import Found, find
from callscribe.redact.settings import KINDS, RedactParams, RedactSettings
from callscribe.redact.tally import Tally

__all__ = ["KINDS", "Found", "Masked", "RedactParams", "RedactSettings", "Redaction", "Tally", "bleep_audio", "bleep_copy", "find",
           "masked_spans", "redact", "remask"]
