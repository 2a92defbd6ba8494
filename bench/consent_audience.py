"""Benchmark: the audience of a purpose x channel, counted and exported, against plain SQL on the same data.

- count: ``consent.selectors.audience_count(...)`` (consent-based purposes on PostgreSQL: the sum of the
  deltas kept by migration consent 0009's triggers, less the grants past their date) against a bare
  index-only ``SELECT count(*)`` on the current-consent table's partial index of granted, reachable rows
  (no test of expiry nor version), or the hand-written SQL of the same rule (opt-out purposes); each
  count is checked against the contacts' side of the rule (``audience_queryset(...).count()``);
- export: ``GET /api/v1/consent/audience/?format=csv`` (and ndjson) through the whole Django/DRF stack
  (``django.test.Client``, token of the ``integration`` user, ``streaming_content`` read to the end),
  where PostgreSQL builds the rows and streams them with COPY, against a bare
  ``COPY (SELECT the same contacts) TO STDOUT``, in rows per second. The portable Python path (the one
  SQLite takes, forced here) is timed too, and checked to write the very same bytes (sha256), as are
  ``audience_rows`` without HTTP and the ORM's server-side cursor alone.

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
    with _common.start(args) as bench:
        run(bench, args)


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
                    from django.test.utils import CaptureQueriesContext

                    with CaptureQueriesContext(connection) as queries:
                        audience_count(purpose=purpose, channel=channel)
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + queries.captured_queries[-1]["sql"])
                    print("EXPLAIN ANALYZE of the app's count, " + row[0])
                    print("\n".join(line for (line,) in cursor.fetchall()))

    print(_common.table(count_rows, ["purpose/channel", "audience", "app ms", "SQL rows", "SQL ms", "SQL baseline",
                                     "x SQL"]))
    app_ms, sql_ms = headline[0] * 1000, headline[1] * 1000
    print(f"count {'/'.join(EXPORT_PAIR)}: {app_ms:.1f} ms (target <= {COUNT_TARGET_MS} ms: "
          f"{'met' if app_ms <= COUNT_TARGET_MS else 'MISSED'}), bare index-only count {sql_ms:.1f} ms, "
          f"ratio {app_ms / sql_ms:.1f}")


def run_exports(bench, pairs, args) -> None:
    import contextlib
    import hashlib
    from unittest import mock

    from consent import selectors
    from consent.selectors import audience_queryset, audience_rows

    purpose, channel = next((p, c) for p, c in pairs if (p.slug, c.code) == EXPORT_PAIR)
    client = _common.api_client()

    def api_export(fmt: str, python_path: bool = False):
        """The whole response read to the end: (rows, sha256 of the body). ``python_path``: the portable
        path SQLite takes, forced on PostgreSQL for comparison (the same bytes, checked below)."""
        url = f"/api/v1/consent/audience/?purpose={purpose.slug}&channel={channel.code}&format={fmt}"
        forced = mock.patch.object(selectors, "audience_copy_supported", return_value=False)
        with forced if python_path else contextlib.nullcontext():
            response = client.get(url)
            assert response.status_code == 200, (response.status_code, response.content[:300])
            digest, lines = hashlib.sha256(), 0
            for piece in response.streaming_content:
                digest.update(piece)
                lines += piece.count(b"\n")
            response.close()
        return lines - (fmt == "csv"), digest.hexdigest()  # the CSV header aside

    def rows_only():
        return sum(1 for _row in audience_rows(purpose=purpose, channel=channel)), ""

    def orm_only():
        return sum(1 for _c in audience_queryset(purpose=purpose, channel=channel).values_list(
            "pk", "external_ref", "language", "email").iterator(chunk_size=2000)), ""

    sql, _params = export_sql(purpose, channel)

    def copy_export():
        size = lines = 0
        with _common.psycopg_connect(bench.database) as pg, pg.cursor() as cursor, \
                cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            for data in copy:
                size += len(data)
                lines += bytes(data).count(b"\n")
        return lines - 1, ""

    warm = client.get(f"/api/v1/consent/audience/?purpose={purpose.slug}&channel={channel.code}&format=none")
    assert warm.status_code == 400  # token, permissions and DRF warmed up, nothing exported
    selectors.audience_copy_sql(purpose=purpose, channel=channel, fmt="csv")  # URL reversers and imports loaded

    baseline = "COPY (SELECT the same contacts) TO STDOUT (baseline)"
    api_csv = "GET consent/audience/?format=csv (API, PostgreSQL: COPY path)"
    api_ndjson = "GET consent/audience/?format=ndjson (API, COPY path)"
    python_csv = "GET consent/audience/?format=csv (API, portable Python path)"
    export = {
        baseline: _common.best_of(args.export_repeat, copy_export),
        api_csv: _common.best_of(args.export_repeat, lambda: api_export("csv")),
        api_ndjson: _common.best_of(args.export_repeat, lambda: api_export("ndjson")),
        python_csv: _common.best_of(args.export_repeat, lambda: api_export("csv", python_path=True)),
        "audience_rows() alone (Python path, no HTTP)": _common.best_of(args.export_repeat, rows_only),
        "ORM alone: audience_queryset().values_list().iterator()": _common.best_of(args.export_repeat, orm_only),
    }
    # Both paths write the same bytes, and the same contacts as the baseline's.
    assert export[api_csv][1] == export[python_csv][1], "the COPY path and the Python path differ"
    assert export[api_ndjson][1][0] == export[api_csv][1][0] == export[python_csv][1][0]
    base_seconds, (base_rows, _digest) = export[baseline]
    base_rate = base_rows / base_seconds
    export_rows = []
    for name, (seconds, (rows, _digest)) in export.items():
        rate = rows / seconds if seconds else 0
        export_rows.append([name, f"{rows:,}", f"{seconds:.2f}", f"{rate:,.0f}",
                            f"{base_rate / rate:.1f}" if rate else "-"])
    print(_common.table(export_rows, ["export " + "/".join(EXPORT_PAIR), "rows", "seconds", "rows/s",
                                      "x slower than COPY"]))
    api_seconds, (api_rows, _digest) = export[api_csv]
    api_rate = api_rows / api_seconds
    print(f"export: {api_rate:,.0f} rows/s (target >= {EXPORT_TARGET_ROWS_PER_S:,}: "
          f"{'met' if api_rate >= EXPORT_TARGET_ROWS_PER_S else 'MISSED'}), COPY baseline {base_rate:,.0f} rows/s, "
          f"ratio {base_rate / api_rate:.1f}; CSV bytes of the COPY and Python paths identical "
          f"(sha256 {export[api_csv][1][1][:12]}), {base_rows - api_rows:,} suppressed")

if __name__ == "__main__":
    main()
