"""PostgreSQL: the index of folded last names (migration 0011) rebuilt for the folding that now also
turns ligatures and a few letters into the letters people type ("Lætitia" as "laetitia", "Øster" as
"oster"): a search's expression must be the index's own to use it. The new index is built
concurrently under another name, then takes the old one's place, so searches keep an index and a
live database keeps taking writes meanwhile. SQLite (the embedded default) has no such index."""
from django.db import migrations

INDEX = "contact_last_name_folded"
BUILDING = f"{INDEX}_new"


def _rebuild(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from consent.folding import sql_folded

    # An interrupted run may leave the new index behind, valid or not: build it again.
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {BUILDING}")
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY {BUILDING} ON consent_contact "
                          f"({sql_folded('last_name')} text_pattern_ops)")
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
    schema_editor.execute(f"ALTER INDEX {BUILDING} RENAME TO {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("consent", "0012_state_keys_checked_through_last_event")]

    # Going back keeps the new index: the earlier folding's searches then scan instead.
    operations = [migrations.RunPython(_rebuild, migrations.RunPython.noop)]
