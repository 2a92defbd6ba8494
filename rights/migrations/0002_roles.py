from django.db import migrations


def sync(apps, schema_editor):
    from registry.roles import create_all_permissions, sync_roles

    create_all_permissions(apps)
    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [("rights", "0001_initial"), ("consent", "0004_collection_forms")]
    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
