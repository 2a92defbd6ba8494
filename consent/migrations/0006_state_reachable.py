"""ConsentState.reachable (kept by consent.services), the audience index made covering and limited
to reachable rows, and pgcrypto on PostgreSQL (the audience export builds its rows in SQL)."""
from django.contrib.postgres.operations import CryptoExtension
from django.db import migrations, models
from django.db.models import Exists, OuterRef, Q

# The address each channel needs (consent.selectors._has_address_on, frozen here as migrations must be).
ADDRESS = {
    "email": ~Q(email=""),
    "sms": ~Q(phone=""),
    "phone": ~Q(phone=""),
    "postal": ~Q(address_line1="") | ~Q(address_line2="") | ~Q(postal_code="") | ~Q(city=""),
}


def compute_reachable(apps, schema_editor):
    Channel = apps.get_model("registry", "Channel")
    Contact = apps.get_model("consent", "Contact")
    ConsentState = apps.get_model("consent", "ConsentState")
    for channel in Channel.objects.all():
        address = ADDRESS.get(channel.code, Q(pk__in=[]))
        reachable = Contact.objects.filter(address, pk=OuterRef("contact_id"), restricted=False,
                                           anonymised_at__isnull=True)
        ConsentState.objects.filter(channel=channel).update(reachable=Exists(reachable))


class Migration(migrations.Migration):

    dependencies = [
        ('consent', '0005_idempotency_per_author_retirement_notices'),
        ('registry', '0003_reference_data'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='consentstate',
            name='consent_state_granted_idx',
        ),
        migrations.AddField(
            model_name='consentstate',
            name='reachable',
            field=models.BooleanField(default=True, help_text='The contact has an address on this channel and is neither restricted nor anonymised.', verbose_name='reachable on this channel'),
        ),
        migrations.RunPython(compute_reachable, migrations.RunPython.noop),
        CryptoExtension(),
        migrations.AddIndex(
            model_name='consentstate',
            index=models.Index(condition=models.Q(('reachable', True), ('status', 'granted')), fields=['purpose', 'channel', 'contact'], include=('expires_at', 'purpose_version'), name='consent_state_granted_idx'),
        ),
    ]
