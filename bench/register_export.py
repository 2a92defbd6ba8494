"""Benchmark: how long each register export takes for a register of a given size.

Builds a scratch database (SQLite in a temp dir, or, on the server of the DATABASE_URL given,
``dpodesk_bench_register``, created and dropped), fills it with ACTIVITIES activities of PURPOSES purposes each, then
times every format, best of REPEAT runs. The baseline, measured in the same run, is the plain SQL
that reads every activity and purpose row: ratios to it are what compare across (noisy) machines.

    .venv/bin/python bench/register_export.py [--activities 50] [--purposes 3] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def best_of(repeat: int, function) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return min(timings)


def build_register(activities: int, purposes: int) -> None:
    from registry import services
    from registry.demo import seed_demo
    from registry.models import (ActivityDataCategory, Channel, DataCategory, DataSubjectCategory, Recipient,
                                 SecurityMeasure)

    from django.conf import settings

    settings.DEMO_CONTACTS = 0  # the register only: no demo contacts
    seed_demo()  # organisation, reference tables, recipients and processors of the demo
    categories = list(DataCategory.objects.all()[:6])
    subjects = list(DataSubjectCategory.objects.all()[:3])
    recipients = list(Recipient.objects.all()[:3])
    measures = list(SecurityMeasure.objects.all()[:4])
    email = Channel.objects.get(code="email")
    for index in range(activities):
        activity = services.activity_save(
            reference=f"B-{index:04d}", name=f"Traitement de test {index}", status="active",
            description="Activité générée pour le banc d'essai.", data_subject_categories=subjects,
            recipients=recipients, security_measures=measures,
        )
        for category in categories:
            ActivityDataCategory.objects.create(activity=activity, category=category, description="Nom, prénom",
                                                retention="3 ans")
        for number in range(purposes):
            services.purpose_create(
                activity=activity, slug=f"b-{index}-{number}", name_fr=f"Finalité {number}",
                name_en=f"Purpose {number}", text_fr="Texte montré aux personnes.", text_en="Text shown.",
                legal_basis="consent", retention_months=36, retention_start="last_contact", channels=[email],
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=50)
    parser.add_argument("--purposes", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="a tiny run proving the benchmark still works (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.activities, args.purposes, args.repeat = 3, 2, 1

    scratch = tempfile.mkdtemp(prefix="dpodesk-bench-")
    os.environ["DPO_VAR_DIR"] = scratch
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import logging

    import django

    django.setup()
    logging.disable(logging.WARNING)
    from django.db import connection
    from django.core.management import call_command

    from registry import selectors
    from registry.exports import register_export
    from registry.exports.pdf import register_pdf

    # A scratch database of its own (SQLite: in the temp dir), never the test suite's test_dpodesk.
    if connection.vendor == "postgresql":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = "dpodesk_bench_register"
    old_name = connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        call_command("migrate", verbosity=0)
        build_register(args.activities, args.purposes)

        def baseline():
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM registry_processingactivity")
                cursor.fetchall()
                cursor.execute("SELECT * FROM registry_purpose")
                cursor.fetchall()

        def pdf():
            register_pdf(organisation=selectors.organisation_get(), activities=list(selectors.activities_for_export()),
                         language="fr")

        results = {"baseline (plain SQL)": best_of(args.repeat, baseline)}
        for fmt in ("csv", "jsonld", "ods"):
            results[fmt] = best_of(args.repeat, lambda fmt=fmt: register_export(fmt=fmt))
        results["pdf"] = best_of(max(1, args.repeat // 2), pdf)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    vendor = connection.vendor
    total = args.activities * args.purposes
    print(f"register export, {args.activities} activities x {args.purposes} purposes ({total} purposes), "
          f"{vendor}, best of {args.repeat}")
    print(f"{'format':<22}{'seconds':>10}{'x baseline':>14}")
    base = results["baseline (plain SQL)"]
    for name, seconds in results.items():
        print(f"{name:<22}{seconds:>10.4f}{seconds / base:>14.0f}")
    print(f"reproduce: .venv/bin/python bench/register_export.py --activities {args.activities} "
          f"--purposes {args.purposes} --repeat {args.repeat}")


if __name__ == "__main__":
    main()
