"""Queries over the index (callscribe/index.py), for `callscribe search` and the web page alike."""

from __future__ import annotations

import json
import sqlite3
import sys
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from callscribe.index import TOKENIZE, tag

DEFAULT_DB = "data/output/calls.db"
# snippet() marks the matched words with these control characters; each front end turns them into its own markup.
MARK_ON, MARK_OFF = "\x02", "\x03"


class QueryError(ValueError):
    """A query or filter the index cannot use; the message says what to type instead."""


@dataclass
class Filters:
    queue: str | None = None
    date_from: str | None = None  # YYYY-MM-DD, inclusive
    date_to: str | None = None
    caller: str | None = None  # any part of the number
    speaker: str | None = None  # agent, caller, SPEAKER_00, ...

    def __post_init__(self):
        for name in ("queue", "date_from", "date_to", "caller", "speaker"):
            value = getattr(self, name)
            setattr(self, name, value.strip() if isinstance(value, str) and value.strip() else None)
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    raise QueryError(f"{name.replace('_', ' ')}: {value!r} is not a date; write YYYY-MM-DD, e.g. 2025-09-30") from None

    def sql(self) -> tuple[str, list]:
        """WHERE clauses on calls `c` (and segments `s` for the speaker) with their parameters."""
        where, args = [], []
        if self.queue:
            where.append("c.queue = ?")
            args.append(self.queue)
        if self.date_from:
            where.append("c.date >= ?")
            args.append(self.date_from)
        if self.date_to:
            where.append("c.date <= ?")
            args.append(self.date_to)
        if self.caller:
            where.append("instr(c.caller, ?) > 0")
            args.append(self.caller)
        if self.speaker:
            where.append("s.speaker = ? COLLATE NOCASE")
            args.append(self.speaker)
        return "".join(f" AND {w}" for w in where), args


@dataclass
class Hit:
    call: str  # call id
    date: str | None
    time: str | None  # clock time the call started
    queue: str | None
    caller: str | None
    start: float  # seconds into the call
    end: float
    speaker: str | None
    seg: int  # the segment's position in the call's transcript
    snippet: str  # with MARK_ON/MARK_OFF around matched words
    text: str


def clock(seconds: float) -> str:
    """0:07, 12:05, 1:02:03: a time in a call."""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _query_error(query: str, e: sqlite3.OperationalError) -> QueryError:
    detail = str(e).removeprefix("fts5: ")
    return QueryError(f"cannot read the query {query!r} ({detail}). Write words, \"a phrase\", pref* for a prefix, "
                      f"AND, OR, NOT (in capitals) and parentheses; put words with punctuation in double quotes: \"what's\"")


def _phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _months(lo: date, hi: date):
    y, m = lo.year, lo.month
    while (y, m) <= (hi.year, hi.month):
        yield y, m
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def _date_words(con: sqlite3.Connection, date_from: str | None, date_to: str | None) -> list[str] | None:
    """The tags words (m<yyyymm> for whole months, d<yyyymmdd> for days) that cover a date range; [] when none can."""
    if not (date_from or date_to):
        return None
    first, last = con.execute("SELECT min(date), max(date) FROM calls").fetchone()
    if first is None:
        return []
    lo = max(date.fromisoformat(date_from or first), date.fromisoformat(first))
    hi = min(date.fromisoformat(date_to or last), date.fromisoformat(last))
    words = []
    for y, m in _months(lo, hi):
        month_start = date(y, m, 1)
        month_end = (date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)) - timedelta(days=1)
        if lo <= month_start and month_end <= hi:
            words.append(f"m{y:04d}{m:02d}")
        else:
            d = max(lo, month_start)
            while d <= min(hi, month_end):
                words.append(f"d{d:%Y%m%d}")
                d += timedelta(days=1)
    return words


def fts_query(con: sqlite3.Connection, query: str, filters: Filters | None = None) -> str | None:
    """The user's query with the filters added as FTS terms on the `tags` and `speaker` columns;
    None when a filter matches no call at all."""
    if not query or not query.strip():
        raise QueryError("empty query: give words to search for")
    # Parse the query alone first (on an empty table of the same columns): wrapped in `text : ( )`, an unbalanced
    # `a) OR (b` would parse, and escape the wrapping.
    con.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.parse USING fts5(text, speaker, tags)")
    try:
        con.execute("SELECT count(*) FROM temp.parse WHERE parse MATCH ?", [query]).fetchone()
    except sqlite3.OperationalError as e:
        raise _query_error(query, e) from None
    f = filters or Filters()
    terms = [f"text : ({query})"]  # the words in what was said, not in the speaker or tags columns
    if f.queue:
        terms.append(f"tags : {_phrase(tag('q', f.queue))}")
    if f.speaker:
        terms.append(f"speaker : {_phrase(f.speaker)}")
    days = _date_words(con, f.date_from, f.date_to)
    if days is not None:
        if not days:
            return None
        terms.append(f"tags : ({' OR '.join(days)})")
    if f.caller:
        numbers = [r[0] for r in con.execute("SELECT DISTINCT caller FROM calls WHERE instr(caller, ?) > 0 LIMIT 501", (f.caller,))]
        if not numbers:
            return None
        if len(numbers) > 500:
            raise QueryError(f"caller {f.caller!r}: more than 500 numbers contain it; give more digits")
        terms.append(f"tags : ({' OR '.join(_phrase(tag('c', n)) for n in numbers)})")
    return " AND ".join(terms)


# bm25 scores every match, which costs ~6 us each: a common word's 60,000 matches took 400 ms. Ranking the
# latest RANK_WINDOW matches (segment ids grow with the call's time) keeps a query under 50 ms (docs/PERFORMANCE.md).
RANK_WINDOW = 5000


def search(con: sqlite3.Connection, query: str, filters: Filters | None = None, limit: int = 20, offset: int = 0,
           snippet_words: int = 14) -> list[Hit]:
    """Segments matching an FTS5 query, best first (bm25 on the text, among the latest RANK_WINDOW matches),
    with the call's fields and a highlighted snippet."""
    return search_page(con, query, filters, limit, offset, snippet_words)[0]


def search_page(con: sqlite3.Connection, query: str, filters: Filters | None = None, limit: int = 20, offset: int = 0,
                snippet_words: int = 14) -> tuple[list[Hit], int]:
    """search()'s hits and how many segments match in all, from one pass over the matches when there are
    fewer than RANK_WINDOW (a second pass, which only counts, otherwise)."""
    match = fts_query(con, query, filters)
    if match is None:
        return [], 0
    try:
        window = con.execute(f"""SELECT rowid, bm25(segments_fts, 1.0, 0.0, 0.0) FROM segments_fts
                                 WHERE segments_fts MATCH ? ORDER BY rowid DESC LIMIT {RANK_WINDOW}""", [match]).fetchall()
        total = len(window) if len(window) < RANK_WINDOW else _count(con, match)
    except sqlite3.OperationalError as e:
        raise _query_error(query, e) from None
    window.sort(key=lambda r: (r[1], -r[0]))
    page = [r[0] for r in window[offset:offset + limit]]
    if not page:
        return [], total
    rows = {r[0]: r for r in con.execute(
        f"""SELECT s.id, c.id, c.date, c.time, c.queue, c.caller, s.start, s."end", s.speaker, s.seg, s.text
            FROM segments s JOIN calls c ON c.n = s.call WHERE s.id IN ({','.join(map(str, page))})""")}
    snippets = _snippets(con, query, [(i, rows[i][10]) for i in page], snippet_words)
    return [Hit(*rows[i][1:10], snippets.get(i, rows[i][10]), rows[i][10]) for i in page], total


def _snippets(con: sqlite3.Connection, query: str, texts: list[tuple[int, str]], words: int) -> dict[int, str]:
    """The page's snippets from a scratch FTS5 table holding its rows alone: snippet() on the index would
    evaluate the whole query again for them (40 ms with filters on 37,000 calls; this takes well under 1)."""
    con.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.page USING fts5(text, tokenize='{TOKENIZE}')")
    con.execute("DELETE FROM temp.page")
    con.executemany("INSERT INTO temp.page(rowid, text) VALUES (?, ?)", texts)
    try:
        return dict(con.execute(f"SELECT rowid, snippet(page, 0, '{MARK_ON}', '{MARK_OFF}', '…', {int(words)}) FROM temp.page "
                                "WHERE page MATCH ?", [f"text : ({query})"]))
    except sqlite3.OperationalError:
        return {}


def _count(con: sqlite3.Connection, match: str) -> int:
    return con.execute("SELECT count(*) FROM segments_fts WHERE segments_fts MATCH ?", [match]).fetchone()[0]


def count(con: sqlite3.Connection, query: str, filters: Filters | None = None) -> int:
    """How many segments match (FTS5 counts without scoring: milliseconds even for a common word)."""
    match = fts_query(con, query, filters)
    if match is None:
        return 0
    try:
        return _count(con, match)
    except sqlite3.OperationalError as e:
        raise _query_error(query, e) from None


ORDERS = {"newest": "c.date DESC, c.time DESC, c.id",
          "least_confident": "c.confidence IS NULL, c.confidence, c.date DESC, c.id"}  # calls with no words last


def calls(con: sqlite3.Connection, filters: Filters | None = None, limit: int = 20, offset: int = 0,
          order: str = "newest") -> list[sqlite3.Row]:
    """Calls matching the filters, newest (or least confident) first; the speaker filter keeps calls where that speaker talks."""
    f = filters or Filters()
    speaker = f.speaker
    where, args = Filters(f.queue, f.date_from, f.date_to, f.caller).sql()
    if speaker:
        where += " AND EXISTS (SELECT 1 FROM talk t WHERE t.call = c.n AND t.speaker = ? COLLATE NOCASE)"
        args.append(speaker)
    return con.execute(f"""SELECT c.* FROM calls c WHERE 1{where} ORDER BY {ORDERS.get(order, ORDERS["newest"])}
                           LIMIT ? OFFSET ?""", [*args, int(limit), int(offset)]).fetchall()


def call(con: sqlite3.Connection, call_id: str) -> tuple[sqlite3.Row, list[sqlite3.Row]] | None:
    row = con.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
    if row is None:
        return None
    segs = con.execute('SELECT seg, start, "end", speaker, text FROM segments WHERE call = ? ORDER BY seg', (row["n"],)).fetchall()
    return row, segs


def highlight(snippet: str, on: str, off: str) -> str:
    return snippet.replace(MARK_ON, on).replace(MARK_OFF, off)


# ---- `callscribe search` ----

def add_parser(sub) -> None:
    p = sub.add_parser("search", help="search the transcripts (the index built by `dvc repro`)",
                       description="Full-text search over every transcript segment, best matches first.",
                       epilog='Queries: words (all must occur), "a phrase", cancel* (prefix), claim OR refund, '
                              'refund NOT card, (a OR b) AND c. Words are stemmed: cancel finds cancelled.')
    p.add_argument("query", nargs="+", help="FTS5 query; several arguments are joined with spaces")
    p.add_argument("--db", default=DEFAULT_DB, help=f"the index (default {DEFAULT_DB})")
    p.add_argument("--queue", help="only this queue, e.g. 300")
    p.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="calls on or after this date")
    p.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="calls on or before this date")
    p.add_argument("--caller", help="calls from a number containing this")
    p.add_argument("--speaker", help="only what this speaker said: agent, caller, SPEAKER_00, ...")
    p.add_argument("-n", "--limit", type=int, default=20, help="hits to show (default 20)")
    p.add_argument("--offset", type=int, default=0, help="skip this many hits first (paging)")
    p.add_argument("--json", action="store_true", help="one JSON object per hit, one per line")
    p.set_defaults(run=run)


def _text_line(hit: Hit, rank: int, bold: bool) -> str:
    on, off = ("\x1b[1;33m", "\x1b[0m") if bold else ("[", "]")
    head = f"{rank:3d}. {hit.date or '????-??-??'} {hit.time or ''}  queue {hit.queue or '-'}  {hit.caller or '-'}  " \
           f"at {clock(hit.start)}  {hit.speaker or '-'}"
    return f"{head}\n     {highlight(hit.snippet, on, off)}\n     {hit.call}"


def run(args) -> int:
    from callscribe.index import connect

    query = " ".join(args.query)
    try:
        filters = Filters(args.queue, args.date_from, args.date_to, args.caller, args.speaker)
        con = connect(args.db, readonly=True)
        hits = search(con, query, filters, args.limit, args.offset)
    except (QueryError, FileNotFoundError) as e:
        print(f"callscribe search: {e}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as e:
        print(f"callscribe search: {args.db}: not a callscribe index ({e}); rebuild it with `dvc repro -f index`", file=sys.stderr)
        return 2
    bold = sys.stdout.isatty()
    for i, hit in enumerate(hits, args.offset + 1):
        if args.json:
            d = asdict(hit)
            d["snippet"] = highlight(hit.snippet, "**", "**")
            print(json.dumps(d, ensure_ascii=False))
        else:
            print(_text_line(hit, i, bold))
    if not hits:
        print(f"callscribe search: no match for {query!r}", file=sys.stderr)
        return 1
    return 0

