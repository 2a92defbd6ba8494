"""A purpose's retention note in English beside the French one (``retention_note``, now labelled so):
contacts reading in English see it, or the French note while it is blank. Not versioned, like the rest
of the retention rule."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0004_integration_reads_purposes_and_channels'),
    ]

    operations = [
        migrations.AddField(
            model_name='historicalpurpose',
            name='retention_note_en',
            field=models.CharField(blank=True, help_text='Shown to contacts reading in English; when blank, they see the French note.', max_length=255, verbose_name='retention note (English)'),
        ),
        migrations.AddField(
            model_name='purpose',
            name='retention_note_en',
            field=models.CharField(blank=True, help_text='Shown to contacts reading in English; when blank, they see the French note.', max_length=255, verbose_name='retention note (English)'),
        ),
        migrations.AlterField(
            model_name='historicalpurpose',
            name='retention_note',
            field=models.CharField(blank=True, max_length=255, verbose_name='retention note (French)'),
        ),
        migrations.AlterField(
            model_name='purpose',
            name='retention_note',
            field=models.CharField(blank=True, max_length=255, verbose_name='retention note (French)'),
        ),
    ]
