"""PostgreSQL: an index on the contacts' last names folded as ``consent.folding`` folds them (lower
case, no accents), for the staff page's contact search among a million contacts. Built
concurrently, so a live database keeps taking writes meanwhile. SQLite (the embedded default)
scans its few contacts instead."""
from django.db import migrations

INDEX = "contact_last_name_folded"


def _create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from consent.folding import sql_folded

    # A build interrupted earlier leaves an invalid index that IF NOT EXISTS would keep: drop it.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                       "WHERE c.relname = %s", [INDEX])
        row = cursor.fetchone()
    if row and row[0]:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON consent_contact "
                          f"({sql_folded('last_name')} text_pattern_ops)")


def _drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("consent", "0010_notice_immutable")]

    operations = [migrations.RunPython(_create, _drop)]
