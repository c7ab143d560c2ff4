"""callscribe: offline, resumable transcription of phone-call archives."""

__version__ = "0.1.0"
