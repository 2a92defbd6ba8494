from django.db import migrations


def seed(apps, schema_editor):
    from registry.reference_data import seed_reference_data

    seed_reference_data(apps)


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_roles")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
