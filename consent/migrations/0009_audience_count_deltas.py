"""Audience counts from summed deltas (PostgreSQL).

Statement triggers with transition tables on the current-consent table insert, per statement, the
change in the number of its rows in the audience condition (models.AUDIENCE_CONDITION: granted, to
a reachable contact) per purpose x channel x purpose version. They see every statement (the ORM,
COPY, raw SQL), in its transaction; inserting, they never make two writers wait on each other. The
existing rows are counted once, under a lock that holds writers off meanwhile.
"""
import django.db.models.deletion
from django.db import migrations, models

IN_AUDIENCE = "status = 'granted' AND reachable"

FORWARD = f"""
CREATE OR REPLACE FUNCTION consent_audience_count_delta() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO consent_audiencecountdelta (purpose_id, channel_id, purpose_version, delta)
        SELECT purpose_id, channel_id, purpose_version, count(*) FROM new_rows
         WHERE {IN_AUDIENCE} GROUP BY 1, 2, 3;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO consent_audiencecountdelta (purpose_id, channel_id, purpose_version, delta)
        SELECT purpose_id, channel_id, purpose_version, -count(*) FROM old_rows
         WHERE {IN_AUDIENCE} GROUP BY 1, 2, 3;
    ELSE
        -- Net of the statement: an update that leaves a row in (or out of) the audience adds nothing.
        INSERT INTO consent_audiencecountdelta (purpose_id, channel_id, purpose_version, delta)
        SELECT purpose_id, channel_id, purpose_version, sum(delta) FROM (
            SELECT purpose_id, channel_id, purpose_version, 1 AS delta FROM new_rows WHERE {IN_AUDIENCE}
            UNION ALL
            SELECT purpose_id, channel_id, purpose_version, -1 FROM old_rows WHERE {IN_AUDIENCE}) changed
         GROUP BY 1, 2, 3 HAVING sum(delta) <> 0;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION consent_audience_count_reset() RETURNS trigger AS $$
BEGIN
    DELETE FROM consent_audiencecountdelta;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consent_audience_count_insert AFTER INSERT ON consent_consentstate
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION consent_audience_count_delta();
CREATE TRIGGER consent_audience_count_update AFTER UPDATE ON consent_consentstate
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION consent_audience_count_delta();
CREATE TRIGGER consent_audience_count_delete AFTER DELETE ON consent_consentstate
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION consent_audience_count_delta();
CREATE TRIGGER consent_audience_count_truncate AFTER TRUNCATE ON consent_consentstate
    FOR EACH STATEMENT EXECUTE FUNCTION consent_audience_count_reset();

LOCK TABLE consent_consentstate IN SHARE MODE;
INSERT INTO consent_audiencecountdelta (purpose_id, channel_id, purpose_version, delta)
SELECT purpose_id, channel_id, purpose_version, count(*) FROM consent_consentstate
 WHERE {IN_AUDIENCE} GROUP BY 1, 2, 3;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS consent_audience_count_insert ON consent_consentstate;
DROP TRIGGER IF EXISTS consent_audience_count_update ON consent_consentstate;
DROP TRIGGER IF EXISTS consent_audience_count_delete ON consent_consentstate;
DROP TRIGGER IF EXISTS consent_audience_count_truncate ON consent_consentstate;
DROP FUNCTION IF EXISTS consent_audience_count_delta();
DROP FUNCTION IF EXISTS consent_audience_count_reset();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('consent', '0008_drop_event_hash_index'),
        ('registry', '0003_reference_data'),
    ]

    operations = [
        migrations.CreateModel(
            name='AudienceCountDelta',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('purpose_version', models.PositiveIntegerField()),
                ('delta', models.BigIntegerField()),
            ],
        ),
        migrations.AddIndex(
            model_name='consentstate',
            index=models.Index(condition=models.Q(('reachable', True), ('status', 'granted')), fields=['purpose', 'channel', 'expires_at'], include=('purpose_version',), name='consent_state_grant_expiry_idx'),
        ),
        migrations.AddField(
            model_name='audiencecountdelta',
            name='channel',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='registry.channel'),
        ),
        migrations.AddField(
            model_name='audiencecountdelta',
            name='purpose',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='registry.purpose'),
        ),
        migrations.AddIndex(
            model_name='audiencecountdelta',
            index=models.Index(fields=['purpose', 'channel', 'purpose_version'], include=('delta',), name='audience_count_delta_idx'),
        ),
        migrations.RunPython(forwards, backwards),
    ]
