"""A collection form's title in French and English: ``name`` becomes ``name_fr`` (data kept) and
``name_en`` starts as a copy of it, for the DPO to translate; the model's ``name`` property picks the
active language. The history rows get the same, so that reverting a form keeps both titles."""
from django.db import migrations, models
from django.db.models import F


def _english_starts_as_french(apps, schema_editor):
    for model in ("CollectionForm", "HistoricalCollectionForm"):
        apps.get_model("consent", model).objects.update(name_en=F("name_fr"))


class Migration(migrations.Migration):

    dependencies = [
        ("consent", "0013_contact_last_name_folded_ligatures"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="collectionform",
            options={"ordering": ["name_fr"], "verbose_name": "collection form",
                     "verbose_name_plural": "collection forms"},
        ),
        migrations.RenameField(model_name="collectionform", old_name="name", new_name="name_fr"),
        migrations.RenameField(model_name="historicalcollectionform", old_name="name", new_name="name_fr"),
        migrations.AlterField(
            model_name="collectionform", name="name_fr",
            field=models.CharField(max_length=255, verbose_name="name (French)"),
        ),
        migrations.AlterField(
            model_name="historicalcollectionform", name="name_fr",
            field=models.CharField(max_length=255, verbose_name="name (French)"),
        ),
        migrations.AddField(
            model_name="collectionform", name="name_en",
            field=models.CharField(default="", max_length=255, verbose_name="name (English)"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="historicalcollectionform", name="name_en",
            field=models.CharField(default="", max_length=255, verbose_name="name (English)"),
            preserve_default=False,
        ),
        migrations.RunPython(_english_starts_as_french, migrations.RunPython.noop, elidable=True),
    ]
