import django.db.models.deletion
from django.conf import settings
"""Fewer indexes on the ledger and the current-consent table: every one costs each append.

The foreign keys lose their single-column indexes (composite indexes and unique constraints that
start with the contact serve the look-ups); the hash and the idempotency key lose their LIKE
indexes, and the key's index keeps only the events that carry one.
"""
from django.db import migrations, models


def restore_unattributed_constraint(apps, schema_editor):
    """On PostgreSQL, removing idempotency_key's own index also drops every single-column index of
    that column, the conditional unique constraint included (SQLite rebuilds the table from the
    model state and keeps it): put it back."""
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("consent", "ConsentEvent")
    with schema_editor.connection.cursor() as cursor:
        existing = schema_editor.connection.introspection.get_constraints(cursor, model._meta.db_table)
    for constraint in model._meta.constraints:
        if constraint.name == "consent_event_idempotency_unattributed" and constraint.name not in existing:
            schema_editor.add_constraint(model, constraint)


class Migration(migrations.Migration):

    dependencies = [
        ('consent', '0006_state_reachable'),
        ('registry', '0003_reference_data'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='consentevent',
            name='channel',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.channel', verbose_name='channel'),
        ),
        migrations.AlterField(
            model_name='consentevent',
            name='contact',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='events', to='consent.contact', verbose_name='contact'),
        ),
        migrations.AlterField(
            model_name='consentevent',
            name='hash',
            field=models.CharField(max_length=64, verbose_name='hash'),
        ),
        migrations.AlterField(
            model_name='consentevent',
            name='idempotency_key',
            field=models.CharField(blank=True, max_length=120, null=True, verbose_name='idempotency key'),
        ),
        migrations.AlterField(
            model_name='consentevent',
            name='notice',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='events', to='consent.notice', verbose_name='notice shown'),
        ),
        migrations.AlterField(
            model_name='consentevent',
            name='purpose',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.purpose', verbose_name='purpose'),
        ),
        migrations.AlterField(
            model_name='consentevent',
            name='recorded_by',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='recorded by'),
        ),
        migrations.AlterField(
            model_name='consentstate',
            name='channel',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='registry.channel'),
        ),
        migrations.AlterField(
            model_name='consentstate',
            name='contact',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='consent_states', to='consent.contact'),
        ),
        migrations.AlterField(
            model_name='consentstate',
            name='last_event',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='consent.consentevent'),
        ),
        migrations.AlterField(
            model_name='consentstate',
            name='purpose',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='registry.purpose'),
        ),
        migrations.AddIndex(
            model_name='consentevent',
            index=models.Index(condition=models.Q(('idempotency_key__isnull', False)), fields=['idempotency_key'], name='consent_event_idempotency_idx', opclasses=['varchar_pattern_ops']),
        ),
        migrations.AddConstraint(
            model_name='consentevent',
            constraint=models.UniqueConstraint(fields=('hash',), name='consent_event_hash_unique'),
        ),
        migrations.RunPython(restore_unattributed_constraint, migrations.RunPython.noop),
    ]
