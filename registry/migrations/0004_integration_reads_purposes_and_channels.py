from django.db import migrations


def sync(apps, schema_editor):
    from registry.roles import create_all_permissions, sync_roles

    create_all_permissions(apps)
    sync_roles(apps)


class Migration(migrations.Migration):
    """The integration group reads the purposes and channels (registry.roles): the groups synced again,
    after every app's own roles migration so that the sync sees all their permissions."""

    dependencies = [("registry", "0003_reference_data"), ("consent", "0013_contact_last_name_folded_ligatures"),
                    ("rights", "0002_roles")]
    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
