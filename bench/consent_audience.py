"""Benchmark: the audience of a purpose x channel, counted and exported, against plain SQL on the same data.

- count: ``consent.selectors.audience_count(...)`` against a bare index-only ``SELECT count(*)`` on the
  current-consent table's partial index of granted, reachable rows (consent-based purposes: no test of
  expiry nor version) or the hand-written SQL of the same rule (opt-out purposes);
- export: ``GET /api/v1/consent/audience/?format=csv`` through the whole Django/DRF stack
  (``django.test.Client``, token of the ``integration`` user, ``streaming_content`` read to the end)
  against ``COPY (SELECT the same contacts) TO STDOUT``, in rows per second. The steps of the export
  are timed apart too (the ORM's server-side cursor alone, ``audience_rows`` without HTTP).

The export also measures "what-if" variants that are NOT app code, to size the fixes bench/README.md
proposes: the export rows computed three cheaper ways
(A: the same rows without re-validating stored emails nor reversing the URL per row; B: A with a
cheaper unsubscribe token; C: B computed by PostgreSQL and streamed with COPY, pgcrypto's hmac()).
Each what-if is checked to give the app's answer (same count, same rows).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dpodesk \\
        .venv/bin/python bench/consent_audience.py [--repeat 5] [--export-repeat 2] [--part all|count|export]
            [--explain] [--smoke]
"""
from __future__ import annotations

import _common

COUNT_TARGET_MS = 50
EXPORT_TARGET_ROWS_PER_S = 100_000
EXPORT_PAIR = ("newsletter", "email")


def _granted_index_count(cursor, purpose, channel) -> int:
    # The partial index consent_state_granted_idx (purpose, channel, contact) WHERE status = 'granted'
    # AND reachable, counted bare: what PostgreSQL does at best, the app's count adds the expiry and
    # version tests on the index's included columns.
    cursor.execute("SELECT count(*) FROM consent_consentstate WHERE purpose_id = %s AND channel_id = %s "
                   "AND status = 'granted' AND reachable", [purpose.pk, channel.pk])
    return cursor.fetchone()[0]


def _optout_sql_count(cursor, purpose, channel, address_sql: str) -> int:
    targeted = list(purpose.data_subject_categories.values_list("pk", flat=True))
    cursor.execute(
        f"""SELECT count(*) FROM consent_contact c
             WHERE {address_sql} AND c.anonymised_at IS NULL AND NOT c.restricted
               AND EXISTS (SELECT 1 FROM consent_contact_data_subject_categories l
                            WHERE l.contact_id = c.id AND l.datasubjectcategory_id = ANY(%s))
               AND NOT EXISTS (SELECT 1 FROM consent_consentstate s WHERE s.contact_id = c.id
                                AND s.purpose_id = %s AND s.channel_id = %s AND s.status = 'objected')""",
        [targeted, purpose.pk, channel.pk])
    return cursor.fetchone()[0]


ADDRESS_SQL = {"email": "c.email <> ''", "sms": "c.phone <> ''", "phone": "c.phone <> ''",
               "postal": "(c.address_line1 <> '' OR c.address_line2 <> '' OR c.postal_code <> '' OR c.city <> '')"}


def export_sql(purpose, channel) -> tuple[str, list]:
    """Plain SQL of the same consent-based audience: granted, unexpired, current version, reachable."""
    from consent.selectors import purpose_material_version

    return (f"""SELECT c.id, c.external_ref, c.email, c.language FROM consent_contact c
                 WHERE {ADDRESS_SQL[channel.code]} AND c.anonymised_at IS NULL AND NOT c.restricted
                   AND EXISTS (SELECT 1 FROM consent_consentstate s WHERE s.contact_id = c.id
                                AND s.purpose_id = {int(purpose.pk)} AND s.channel_id = {int(channel.pk)}
                                AND s.status = 'granted' AND (s.expires_at IS NULL OR s.expires_at > now())
                                AND s.purpose_version >= {int(purpose_material_version(purpose=purpose))})
                 ORDER BY c.id""", [])


def cheap_token_key() -> bytes:
    import hashlib

    from django.conf import settings

    return hashlib.sha256(f"consent.unsubscribe.v2{settings.SECRET_KEY}".encode()).digest()


def what_if_sql(purpose, channel):
    """NOT app code: the whole consent-based email audience computed by PostgreSQL, for
    ``COPY (...) TO STDOUT``: the same contacts and columns as audience_rows, the suppression digest
    as an HMAC in SQL (pgcrypto, the same keyed_digest), the unsubscribe URL with the cheaper token of
    cheap_token_function(). Returns (sql, parameters)."""
    from django.conf import settings

    from consent import tokens
    from consent.emails import unsubscribe_url
    from consent.selectors import purpose_material_version

    assert channel.code == "email" and purpose.legal_basis == "consent"
    sample = tokens.unsubscribe_token(contact_id=1, purpose_id=purpose.pk, channel_id=channel.pk)
    around = {language: unsubscribe_url(contact_id=1, purpose_id=purpose.pk, channel_id=channel.pk,
                                        language=language).split(sample) for language in ("fr", "en")}
    sql = """
        SELECT c.id, c.external_ref, c.email, c.language,
               CASE WHEN c.language = 'en' THEN %(en_head)s ELSE %(fr_head)s END
               || c.id || '.' || %(purpose)s || '.' || %(channel)s || '.'
               || rtrim(translate(encode(substring(hmac(convert_to(c.id || '.' || %(purpose)s || '.' || %(channel)s,
                                                                   'UTF8'), %(token_key)s, 'sha256') from 1 for 16),
                                         'base64'), '+/', '-_'), '=')
               || CASE WHEN c.language = 'en' THEN %(en_tail)s ELSE %(fr_tail)s END
          FROM consent_contact c
          JOIN consent_consentstate s ON s.contact_id = c.id AND s.purpose_id = %(purpose)s
                                     AND s.channel_id = %(channel)s AND s.status = 'granted'
                                     AND (s.expires_at IS NULL OR s.expires_at > now())
                                     AND s.purpose_version >= %(material)s
         WHERE c.email <> '' AND c.anonymised_at IS NULL AND NOT c.restricted
           AND NOT EXISTS (SELECT 1 FROM consent_suppressionentry e
                            WHERE e.channel_id = %(channel)s
                              AND e.digest = encode(hmac(convert_to('email:' || c.email, 'UTF8'), %(digest_key)s,
                                                         'sha256'), 'hex')
                              AND (e.source <> 'erasure' OR s.since <= e.created_at))
         ORDER BY c.id"""
    return sql, {"purpose": purpose.pk, "channel": channel.pk, "material": purpose_material_version(purpose=purpose),
                 "token_key": cheap_token_key(), "digest_key": settings.PSEUDONYMISATION_KEY.encode(),
                 "fr_head": around["fr"][0], "fr_tail": around["fr"][1], "en_head": around["en"][0],
                 "en_tail": around["en"][1]}


def cheap_token_function():
    """NOT app code, a sketch of a cheaper unsubscribe token: ids and an HMAC-SHA256 under a key derived
    once (Django's signing derives its key again and JSON-encodes, compresses and base64s on every call).
    Another link format: the unsubscribe view would have to accept it besides the current one."""
    import base64
    import hashlib
    import hmac


    key = cheap_token_key()

    def token(*, contact_id: int, purpose_id: int, channel_id: int) -> str:
        message = f"{contact_id}.{purpose_id}.{channel_id}"
        mac = hmac.new(key, message.encode(), hashlib.sha256).digest()[:16]
        return message + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    return token


def what_if_rows(purpose, channel, chunk_size: int = 2000, token_function=None):
    """NOT app code: audience_rows' exact output, computed the way the fix would (see README):
    tuples from values_list() instead of model instances, the unsubscribe URL's reverse() done once
    per language (only the signed token changes per row), and the suppression digest taken on the
    stored address, which consent.services already keeps in normal form, instead of re-validating
    every email with email_validator. run() checks it yields the same rows as audience_rows."""
    from consent import tokens
    from consent.emails import unsubscribe_url
    from consent.models import Action, ConsentState, SuppressionEntry
    from consent.normalise import keyed_digest
    from consent.selectors import audience_queryset, suppression_blocks
    from registry.models import LegalBasis

    make_token = token_function or tokens.unsubscribe_token
    sample = tokens.unsubscribe_token(contact_id=1, purpose_id=purpose.pk, channel_id=channel.pk)
    around = {}
    for language in ("fr", "en"):
        url = unsubscribe_url(contact_id=1, purpose_id=purpose.pk, channel_id=channel.pk, language=language)
        around[language] = url.split(sample)
    postal = channel.code == "postal"
    fields = ("pk", "external_ref", "language", "email", "phone", "address_line1", "address_line2", "postal_code",
              "city")
    batch = []

    def flush(batch):
        addresses = {}
        for pk, external_ref, language, email, phone, line1, line2, postal_code, city in batch:
            if channel.code == "email":
                addresses[pk] = email
            elif channel.code in ("sms", "phone"):
                addresses[pk] = phone
            else:
                addresses[pk] = " ".join(filter(None, [line1, line2, postal_code, city]))
        digests = {pk: keyed_digest(f"{channel.code}:{' '.join(a.lower().split()) if postal else a}")
                   for pk, a in addresses.items() if a}
        entries: dict[str, list] = {}
        for digest, source, created_at in SuppressionEntry.objects.filter(
                channel=channel, digest__in=set(digests.values())).values_list("digest", "source", "created_at"):
            entries.setdefault(digest, []).append((source, created_at))
        listed = {pk for pk, digest in digests.items() if digest in entries}
        granted_since = {}
        if listed and purpose.legal_basis == LegalBasis.CONSENT:
            granted_since = dict(ConsentState.objects.filter(contact_id__in=listed, purpose=purpose, channel=channel,
                                                             status=Action.GRANTED).values_list("contact_id", "since"))
        suppressed = {pk for pk in listed
                      if suppression_blocks(entries[digests[pk]], granted_since=granted_since.get(pk))}
        for pk, external_ref, language, *_rest in batch:
            if pk in suppressed:
                continue
            head, tail = around.get(language) or around["fr"]
            token = make_token(contact_id=pk, purpose_id=purpose.pk, channel_id=channel.pk)
            yield {"contact_id": pk, "external_ref": external_ref, "address": addresses[pk], "language": language,
                   "unsubscribe_url": head + token + tail}

    for row in audience_queryset(purpose=purpose, channel=channel).values_list(*fields).iterator(
            chunk_size=chunk_size):
        batch.append(row)
        if len(batch) >= chunk_size:
            yield from flush(batch)
            batch = []
    if batch:
        yield from flush(batch)


def main() -> None:
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="counts: best of N")
    parser.add_argument("--export-repeat", type=int, default=2, help="exports: best of N")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the count queries")
    parser.add_argument("--part", choices=["all", "count", "export"], default="all", help="run only the counts "
                        "or only the exports")
    args = parser.parse_args()
    if args.smoke:
        args.repeat, args.export_repeat = 2, 1
    bench = _common.start(args)
    try:
        run(bench, args)
    finally:
        bench.finish()


def run(bench, args) -> None:
    import consent_data

    from registry.models import Channel, Purpose

    pairs = [(Purpose.objects.get(slug=slug), Channel.objects.get(code=code)) for slug, code, _w in consent_data.PAIRS]
    dataset = bench.dataset
    print()
    print(f"consent audience, {dataset.contacts:,} contacts, {dataset.events:,} events; {_common.machine()}; "
          f"counts best of {args.repeat}, exports best of {args.export_repeat}")
    if args.part in ("all", "count"):
        run_counts(pairs, args)
    if args.part in ("all", "export"):
        run_exports(bench, pairs, args)
    extra = [] if bench.smoke else [f"--repeat {args.repeat}", f"--export-repeat {args.export_repeat}"]
    if args.part != "all":
        extra.append(f"--part {args.part}")
    print("reproduce: " + _common.reproduce("consent_audience.py", bench, " ".join(extra)))


def run_counts(pairs, args) -> None:
    from django.db import connection

    from consent.selectors import audience_count, audience_queryset
    from registry.models import LegalBasis

    count_rows = []
    headline = None
    with connection.cursor() as cursor:
        for purpose, channel in pairs:
            app_seconds, app_count = _common.best_of(
                args.repeat, lambda p=purpose, c=channel: audience_count(purpose=p, channel=c))
            # The same number as the contact-side rule (checked once, not timed).
            assert app_count == audience_queryset(purpose=purpose, channel=channel).count(), purpose.slug
            if purpose.legal_basis == LegalBasis.CONSENT:
                label = "bare index-only count (partial index)"
                sql_seconds, sql_count = _common.best_of(
                    args.repeat, lambda p=purpose, c=channel: _granted_index_count(cursor, p, c))
            else:
                label = "hand-written SQL, same rule"
                sql_seconds, sql_count = _common.best_of(
                    args.repeat, lambda p=purpose, c=channel: _optout_sql_count(cursor, p, c, ADDRESS_SQL[c.code]))
            row = [f"{purpose.slug}/{channel.code}", f"{app_count:,}", f"{app_seconds * 1000:.1f}", f"{sql_count:,}",
                   f"{sql_seconds * 1000:.1f}", label, f"{app_seconds / sql_seconds:.1f}"]
            count_rows.append(row)
            if (purpose.slug, channel.code) == EXPORT_PAIR:
                headline = (app_seconds, sql_seconds)
                if args.explain:
                    from consent.selectors import _current_grants
                    from django.utils import timezone

                    sql, params = _current_grants(purpose=purpose, channel=channel, now=timezone.now()).values(
                        "pk").query.sql_with_params()
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM (" + sql + ") q", params)
                    print("EXPLAIN ANALYZE of the app's count, " + row[0])
                    print("\n".join(line for (line,) in cursor.fetchall()))

    print(_common.table(count_rows, ["purpose/channel", "audience", "app ms", "SQL rows", "SQL ms", "SQL baseline",
                                     "x SQL"]))
    app_ms, sql_ms = headline[0] * 1000, headline[1] * 1000
    print(f"count {'/'.join(EXPORT_PAIR)}: {app_ms:.1f} ms (target <= {COUNT_TARGET_MS} ms: "
          f"{'met' if app_ms <= COUNT_TARGET_MS else 'MISSED'}), bare index-only count {sql_ms:.1f} ms, "
          f"ratio {app_ms / sql_ms:.1f}")


def run_exports(bench, pairs, args) -> None:
    import itertools

    from consent import tokens
    from consent.selectors import audience_queryset, audience_rows

    purpose, channel = next((p, c) for p, c in pairs if (p.slug, c.code) == EXPORT_PAIR)
    client = _common.api_client()
    url = f"/api/v1/consent/audience/?purpose={purpose.slug}&channel={channel.code}&format=csv"

    def api_export():
        response = client.get(url)
        assert response.status_code == 200, (response.status_code, response.content[:300])
        size = lines = 0
        for piece in response.streaming_content:
            size += len(piece)
            lines += piece.count(b"\n")
        response.close()
        return lines - 1, size  # the header line aside

    def rows_only():
        return sum(1 for _row in audience_rows(purpose=purpose, channel=channel))

    def orm_only():
        return sum(1 for _c in audience_queryset(purpose=purpose, channel=channel).iterator(chunk_size=2000))

    sql, _params = export_sql(purpose, channel)

    def copy_export():
        size = lines = 0
        with _common.psycopg_connect(bench.database) as pg, pg.cursor() as cursor, \
                cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            for data in copy:
                size += len(data)
                lines += bytes(data).count(b"\n")
        return lines - 1, size

    def comparable(row):
        # signing.dumps() stamps the time into the token: compare what it says, and the rest of the URL.
        head, token = row["unsubscribe_url"].rstrip("/").rsplit("/", 1)
        return {**row, "unsubscribe_url": (head, tokens.read_unsubscribe_token(token))}

    checked = 5000 if not bench.smoke else 10**9
    expected = [comparable(r) for r in itertools.islice(audience_rows(purpose=purpose, channel=channel), checked)]
    got = [comparable(r) for r in itertools.islice(what_if_rows(purpose, channel), checked)]
    assert got == expected, "what-if rows differ from audience_rows"
    cheap = cheap_token_function()

    # What-if C needs pgcrypto's hmac(): the extension lives in the scratch database for the run only.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto'")
        has_pgcrypto = cursor.fetchone() is not None
        if has_pgcrypto:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    c_sql, c_params = what_if_sql(purpose, channel)

    def sql_export(limit=None):
        size = lines = 0
        head = []
        with _common.psycopg_connect(bench.database) as pg, pg.cursor() as cursor, \
                cursor.copy(f"COPY ({c_sql}) TO STDOUT WITH (FORMAT csv)", c_params) as copy:
            for data in copy:
                data = bytes(data)
                size += len(data)
                lines += data.count(b"\n")
                if limit and len(head) < limit:
                    head.append(data)
        return lines, b"".join(head)

    import csv
    import io

    try:
        if not has_pgcrypto:
            raise LookupError("pgcrypto is not available on this server: what-if C skipped")
        _lines, head = sql_export(limit=200)
        complete = head[:head.rfind(b"\n") + 1].decode()  # whole lines only
        sql_rows = [tuple(r) for r in csv.reader(io.StringIO(complete))][:checked]
        b_rows = [(str(r["contact_id"]), r["external_ref"], r["address"], r["language"], r["unsubscribe_url"])
                  for r in itertools.islice(what_if_rows(purpose, channel, token_function=cheap), len(sql_rows))]
        assert sql_rows[:len(b_rows)] == b_rows and b_rows, "what-if C rows differ from what-if B"
        sql_result = _common.best_of(args.export_repeat, lambda: (sql_export()[0], 0))
    except LookupError as exc:
        print(exc)
        sql_result = None
    finally:
        if has_pgcrypto:
            with connection.cursor() as cursor:
                cursor.execute("DROP EXTENSION IF EXISTS pgcrypto")

    baseline = "COPY (SELECT ...) TO STDOUT (baseline)"
    api = "GET consent/audience/?format=csv (API)"
    export = {
        baseline: _common.best_of(args.export_repeat, copy_export),
        "ORM: audience_queryset().iterator()": _common.best_of(args.export_repeat, lambda: (orm_only(), 0)),
        "audience_rows() (suppression, unsubscribe URL)": _common.best_of(args.export_repeat, lambda: (rows_only(), 0)),
        api: _common.best_of(args.export_repeat, api_export),
        "what-if A (not app code): same rows, see README": _common.best_of(
            args.export_repeat, lambda: (sum(1 for _row in what_if_rows(purpose, channel)), 0)),
        "what-if B (not app code): A + cheaper token": _common.best_of(
            args.export_repeat,
            lambda: (sum(1 for _row in what_if_rows(purpose, channel, token_function=cheap)), 0)),
    }
    if sql_result is not None:
        export["what-if C (not app code): B computed by PostgreSQL, COPY"] = sql_result
        assert export[api][1][0] == sql_result[1][0], "what-if C does not count the same rows as the API"
    base_seconds, (base_rows, _size) = export[baseline]
    base_rate = base_rows / base_seconds
    export_rows = []
    for name, (seconds, (rows, _size)) in export.items():
        rate = rows / seconds if seconds else 0
        export_rows.append([name, f"{rows:,}", f"{seconds:.2f}", f"{rate:,.0f}",
                            f"{base_rate / rate:.1f}" if rate else "-"])
    print(_common.table(export_rows, ["export " + "/".join(EXPORT_PAIR), "rows", "seconds", "rows/s",
                                      "x slower than SQL"]))
    api_seconds, (api_rows, _size) = export[api]
    api_rate = api_rows / api_seconds
    print(f"export: {api_rate:,.0f} rows/s (target >= {EXPORT_TARGET_ROWS_PER_S:,}: "
          f"{'met' if api_rate >= EXPORT_TARGET_ROWS_PER_S else 'MISSED'}), COPY {base_rate:,.0f} rows/s, "
          f"ratio {base_rate / api_rate:.1f}")


if __name__ == "__main__":
    main()
