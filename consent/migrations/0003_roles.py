from django.db import migrations


def sync(apps, schema_editor):
    from registry.roles import create_all_permissions, sync_roles

    create_all_permissions(apps)
    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [("consent", "0002_ledger_append_only"), ("registry", "0003_reference_data")]
    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
