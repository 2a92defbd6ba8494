"""Demo data: the register of a French association with members, donors and a shop, and one
login per role. Idempotent: a second run changes nothing (no new rows, no new purpose versions).

The passwords are published (printed by ``manage.py seed_demo``): never load this on a server
that holds real data. The command refuses to run when DEBUG is false unless forced.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models, transaction

from . import models as m
from .reference_data import seed_reference_data
from .roles import sync_roles
from .services import PURPOSE_TEXT_FIELDS, purpose_create, purpose_update

ORGANISATION = {
    "name": "Association Terres de Patrimoine",
    "legal_form": "Association loi 1901 d'intérêt général",
    "siren": "802123455",
    "address": "8 rue des Tanneurs",
    "postal_code": "69005",
    "city": "Lyon",
    "country": "France",
    "email": "contact@terres-patrimoine.example",
    "phone": "+33 4 78 00 00 00",
    "head_name": "Claire Martin, présidente",
    "dpo_name": "Julien Moreau",
    "dpo_address": "8 rue des Tanneurs",
    "dpo_postal_code": "69005",
    "dpo_city": "Lyon",
    "dpo_email": "dpo@terres-patrimoine.example",
    "dpo_phone": "+33 4 78 00 00 01",
    "cnil_dpo_designation": "DPO-123456",
}

# Processors (Art. 28). Each is also listed among the recipients of the activities that use it.
PROCESSORS = [
    {"name": "LettreMail Ltd", "service": "Envoi des lettres d'information et des courriels (emailing)", "address": "1 Harbour Square, Dublin 2", "country": "ie", "notification_email": "privacy@lettremail.example", "contract_signed_on": date(2024, 2, 1)},
    {"name": "Acme CRM Inc.", "service": "Logiciel de gestion de la relation (CRM) en mode SaaS : adhérents, donateurs, clients", "address": "100 Market Street, San Francisco, CA 94105", "country": "us", "notification_email": "dpa@acme-crm.example", "contract_signed_on": date(2025, 3, 15)},
    {"name": "TextoPro SAS", "service": "Passerelle d'envoi de SMS", "address": "20 quai de la Loire, 75019 Paris", "country": "fr", "notification_email": "dpo@textopro.example", "contract_signed_on": date(2024, 9, 10)},
    {"name": "Atlas Contact SARL", "service": "Centre d'appels (prospection téléphonique)", "address": "45 boulevard Zerktouni, Casablanca", "country": "ma", "notification_email": "privacy@atlas-contact.example", "contract_signed_on": date(2026, 7, 20)},
    {"name": "Routage Rhône SAS", "service": "Impression et routage des courriers postaux", "address": "3 rue de l'Industrie, 69100 Villeurbanne", "country": "fr", "notification_email": "rgpd@routage-rhone.example", "contract_signed_on": date(2023, 11, 6)},
    {"name": "Vigie Sécurité SARL", "service": "Installation et maintenance des caméras de vidéoprotection", "address": "12 avenue Berthelot, 69007 Lyon", "country": "fr", "notification_email": "contact@vigie-securite.example", "contract_signed_on": date(2022, 5, 2)},
    {"name": "Statistiques Web SAS", "service": "Outil de mesure d'audience du site, hébergé en France", "address": "7 rue du Faubourg, 44000 Nantes", "country": "fr", "notification_email": "dpo@statistiques-web.example", "contract_signed_on": date(2025, 1, 20)},
]

RECIPIENTS = [
    {"name": "Bureau et secrétariat de l'association", "recipient_type": "internal_service", "description": "Gestion des adhésions et de la vie associative", "country": "fr"},
    {"name": "Service comptabilité", "recipient_type": "internal_service", "description": "Cotisations, dons, reçus fiscaux, factures", "country": "fr"},
    {"name": "Équipe de la boutique", "recipient_type": "internal_service", "description": "Commandes, service après-vente, programme de fidélité", "country": "fr"},
    {"name": "Service communication", "recipient_type": "internal_service", "description": "Lettre d'information, campagnes et liste d'opposition", "country": "fr"},
    {"name": "Direction et responsables du recrutement", "recipient_type": "internal_service", "description": "Examen des candidatures et entretiens", "country": "fr"},
    {"name": "Responsable sécurité (accès habilité aux images)", "recipient_type": "internal_service", "description": "Visionnage des images en cas d'incident uniquement", "country": "fr"},
    {"name": "Délégué à la protection des données", "recipient_type": "internal_service", "description": "Instruction des demandes d'exercice des droits", "country": "fr"},
    {"name": "Administration fiscale (DGFiP)", "recipient_type": "public_authority", "description": "Sur demande, contrôle des reçus fiscaux (LPF art. L.14 A)", "country": "fr"},
    {"name": "Forces de l'ordre, sur réquisition", "recipient_type": "public_authority", "description": "Extraction d'images sur réquisition judiciaire", "country": "fr"},
    {"name": "Transporteurs (livraison des colis)", "recipient_type": "partner", "description": "Nom, adresse et téléphone de livraison", "country": "fr"},
    {"name": "LettreMail Ltd", "recipient_type": "processor", "description": "Outil d'emailing (sous-traitant)", "country": "ie", "notification_email": "privacy@lettremail.example"},
    {"name": "Acme CRM Inc.", "recipient_type": "processor", "description": "CRM en mode SaaS (sous-traitant certifié Data Privacy Framework)", "country": "us", "notification_email": "dpa@acme-crm.example"},
    {"name": "TextoPro SAS", "recipient_type": "processor", "description": "Passerelle SMS (sous-traitant)", "country": "fr", "notification_email": "dpo@textopro.example"},
    {"name": "Atlas Contact SARL", "recipient_type": "third_country", "description": "Centre d'appels au Maroc (sous-traitant, clauses contractuelles types)", "country": "ma", "notification_email": "privacy@atlas-contact.example"},
    {"name": "Routage Rhône SAS", "recipient_type": "processor", "description": "Routeur postal (sous-traitant)", "country": "fr", "notification_email": "rgpd@routage-rhone.example"},
    {"name": "Vigie Sécurité SARL", "recipient_type": "processor", "description": "Maintenance de la vidéoprotection (sous-traitant)", "country": "fr"},
    {"name": "Statistiques Web SAS", "recipient_type": "processor", "description": "Mesure d'audience (sous-traitant)", "country": "fr"},
]

_DPF = {"recipient_name": "Acme CRM Inc.", "country": "us", "safeguard": "eu_us_dpf", "dpf_certified": True, "documentation": "Certification DPF vérifiée le 01/09/2026 sur la Data Privacy Framework List ; contrat de sous-traitance du 15/03/2025"}
_SCC_MOROCCO = {"recipient_name": "Atlas Contact SARL", "country": "ma", "safeguard": "scc", "dpf_certified": False, "documentation": "CCT de la Commission (décision 2021/914), module 2, signées le 20/07/2026 ; analyse d'impact du transfert du 10/07/2026"}

_CNIL_COMMERCIAL = "CNIL, référentiel relatif aux traitements de données mis en œuvre aux fins de gestion des activités commerciales"
_CNIL_COMMERCIAL_EN = "CNIL, reference framework for the processing of data to manage commercial activities"

# "data_categories": (code, description, retention, and both again in English for English readers).
ACTIVITIES: list[dict[str, Any]] = [
    {
        "reference": "R-01",
        "name": "Gestion des adhérents",
        "name_en": "Membership records",
        "description": "Tenue du fichier des adhérents : adhésions, cotisations, cartes de membre, convocations aux assemblées générales.",
        "owner_department": "Secrétariat",
        "data_source": "Bulletin d'adhésion (papier ou en ligne)",
        "started_on": date(2015, 9, 1),
        "data_subject_categories": ["member"],
        "data_categories": [
            ("identity", "Nom, prénom, date de naissance, numéro d'adhérent", "Durée de l'adhésion + 3 ans",
             "Surname, first name, date of birth, membership number", "Length of membership + 3 years"),
            ("contact_details", "Adresse postale, courriel, téléphone", "Durée de l'adhésion + 3 ans",
             "Postal address, email, phone", "Length of membership + 3 years"),
            ("donations", "Montant et date des cotisations, moyen de paiement", "10 ans (pièces comptables, C. com. L.123-22)",
             "Amount and date of membership fees, means of payment", "10 years (accounting records, C. com. L.123-22)"),
        ],
        "recipients": ["Bureau et secrétariat de l'association", "Service comptabilité", "Acme CRM Inc."],
        "processors": ["Acme CRM Inc."],
        "security_measures": ["access_control", "strong_authentication", "backup", "traceability", "processor_control", "confidentiality_agreements"],
        "security_details": "Accès au CRM nominatif avec double authentification ; sauvegardes quotidiennes chiffrées.",
        "transfers": [_DPF],
        "purposes": [
            {"slug": "member-management", "name_fr": "Gestion des adhésions", "name_en": "Membership management",
             "text_fr": "Nous utilisons vos coordonnées pour gérer votre adhésion : cotisations, carte de membre, convocations aux assemblées générales et informations sur la vie de l'association.",
             "text_en": "We use your details to manage your membership: fees, membership card, notices of general meetings and news about the association's life.",
             "legal_basis": "contract", "dpv_purpose": "dpv:MemberPartnerManagement",
             "channels": ["email", "postal"], "data_subject_categories": ["member"],
             "retention_months": 36, "retention_start": "end_of_contract",
             "retention_note": "Pièces comptables des cotisations : 10 ans (Code de commerce, art. L.123-22).",
             "retention_note_en": "Accounting records of membership fees: 10 years (Code de commerce, art. L.123-22)."},
        ],
    },
    {
        "reference": "R-02",
        "name": "Dons et reçus fiscaux",
        "name_en": "Donations and tax receipts",
        "description": "Enregistrement des dons et émission des reçus fiscaux ouvrant droit à réduction d'impôt.",
        "owner_department": "Comptabilité",
        "data_source": "Bulletins de don, dons en ligne, mandats de prélèvement",
        "started_on": date(2016, 1, 1),
        "data_subject_categories": ["donor"],
        "data_categories": [
            ("identity", "Nom, prénom", "6 ans à compter du reçu",
             "Surname, first name", "6 years from the receipt"),
            ("contact_details", "Adresse postale (mentionnée sur le reçu), courriel", "6 ans à compter du reçu",
             "Postal address (printed on the receipt), email", "6 years from the receipt"),
            ("donations", "Montant, date et mode de versement des dons, numéro de reçu", "6 ans à compter du reçu (LPF art. L.102 E)",
             "Amount, date and means of payment of donations, receipt number", "6 years from the receipt (LPF art. L.102 E)"),
            ("bank_details", "IBAN des donateurs en prélèvement automatique", "Durée du mandat SEPA + 13 mois",
             "IBAN of donors giving by direct debit", "Length of the SEPA mandate + 13 months"),
        ],
        "recipients": ["Service comptabilité", "Administration fiscale (DGFiP)", "Acme CRM Inc."],
        "processors": ["Acme CRM Inc."],
        "security_measures": ["access_control", "encryption", "backup", "traceability", "processor_control"],
        "security_details": "IBAN chiffrés ; reçus numérotés et archivés.",
        "transfers": [_DPF],
        "purposes": [
            {"slug": "tax-receipts", "name_fr": "Reçus fiscaux des dons", "name_en": "Tax receipts for donations",
             "text_fr": "Nous enregistrons vos dons pour vous adresser le reçu fiscal qui vous ouvre droit à une réduction d'impôt (articles 200 et 238 bis du Code général des impôts) et pour tenir notre comptabilité. Ces données sont conservées 6 ans.",
             "text_en": "We record your donations to send you the tax receipt that entitles you to a tax reduction (French General Tax Code, articles 200 and 238 bis) and to keep our accounts. These data are kept for 6 years.",
             "legal_basis": "legal_obligation", "dpv_purpose": "dpv:LegalCompliance",
             "channels": ["email", "postal"], "data_subject_categories": ["donor"],
             "retention_months": 72, "retention_start": "transaction",
             "retention_note": "6 ans : contrôle des reçus par l'administration fiscale (CGI art. 200 et 238 bis, LPF art. L.102 E).",
             "retention_note_en": "6 years: the tax administration may check the receipts (CGI art. 200 and 238 bis, LPF art. L.102 E)."},
        ],
    },
    {
        "reference": "R-03",
        "name": "Appels à dons",
        "name_en": "Appeals for donations",
        "description": "Sollicitation des donateurs par courrier postal pour financer les projets de l'association.",
        "owner_department": "Communication",
        "data_source": "Fichier des donateurs (R-02)",
        "started_on": date(2016, 1, 1),
        "data_subject_categories": ["donor"],
        "data_categories": [
            ("identity", "Civilité, nom, prénom", "3 ans à compter du dernier don",
             "Title, surname, first name", "3 years from the last donation"),
            ("contact_details", "Adresse postale", "3 ans à compter du dernier don",
             "Postal address", "3 years from the last donation"),
            ("donations", "Historique des dons (dates, montants) pour la segmentation", "3 ans à compter du dernier don",
             "Donation history (dates, amounts) for segmentation", "3 years from the last donation"),
        ],
        "recipients": ["Service communication", "Routage Rhône SAS"],
        "processors": ["Routage Rhône SAS"],
        "security_measures": ["access_control", "processor_control", "retention_purge"],
        "security_details": "Fichier transmis au routeur par dépôt chiffré, supprimé après chaque envoi.",
        "transfers": [],
        "purposes": [
            {"slug": "donor-postal-appeals", "name_fr": "Appels à dons par courrier", "name_en": "Postal appeals to donors",
             "text_fr": "Nous vous écrivons par courrier postal pour vous présenter nos projets et solliciter votre soutien. Vous pouvez vous y opposer à tout moment, gratuitement et sans justification.",
             "text_en": "We write to you by post to present our projects and ask for your support. You can object at any time, free of charge and without giving a reason.",
             "legal_basis": "legitimate_interests",
             "legitimate_interest": "Solliciter par courrier postal le soutien des donateurs pour financer les missions de l'association ; la prospection postale relève du régime d'opposition (RGPD art. 21(2)) : chaque courrier rappelle comment s'y opposer.",
             "legitimate_interest_en": "Asking donors by post to support the association's work; postal prospecting follows the opt-out regime (GDPR art. 21(2)): each letter says how to object.",
             "dpv_purpose": "dpv:DirectMarketing", "direct_marketing": True,
             "channels": ["postal"], "data_subject_categories": ["donor"],
             "retention_months": 36, "retention_start": "last_contact",
             "retention_note": "3 ans à compter du dernier don ou contact (" + _CNIL_COMMERCIAL + ").",
             "retention_note_en": "3 years from the last donation or contact (" + _CNIL_COMMERCIAL_EN + ")."},
        ],
    },
    {
        "reference": "R-04",
        "name": "Boutique : clients, commandes et fidélité",
        "name_en": "Shop: customers, orders and loyalty",
        "description": "Vente en boutique et en ligne (livres, objets), livraison, facturation, service après-vente et programme de fidélité.",
        "owner_department": "Boutique",
        "data_source": "Commandes en boutique et sur le site, adhésion au programme de fidélité",
        "started_on": date(2018, 4, 1),
        "data_subject_categories": ["customer"],
        "data_categories": [
            ("identity", "Nom, prénom, numéro de client et de carte de fidélité", "5 ans après la commande ; fidélité : 3 ans sans achat",
             "Surname, first name, customer and loyalty card numbers", "5 years after the order; loyalty: 3 years without a purchase"),
            ("contact_details", "Adresses de livraison et de facturation, courriel, téléphone", "5 ans après la commande",
             "Delivery and billing addresses, email, phone", "5 years after the order"),
            ("purchase_history", "Articles achetés, dates, points de fidélité", "3 ans après le dernier achat",
             "Items bought, dates, loyalty points", "3 years after the last purchase"),
            ("economic", "Factures, moyen de paiement (les numéros de carte restent chez le prestataire de paiement)", "10 ans (factures, C. com. L.123-22)",
             "Invoices, means of payment (card numbers stay with the payment provider)", "10 years (invoices, C. com. L.123-22)"),
        ],
        "recipients": ["Équipe de la boutique", "Service comptabilité", "Transporteurs (livraison des colis)", "Acme CRM Inc."],
        "processors": ["Acme CRM Inc."],
        "security_measures": ["access_control", "strong_authentication", "encryption", "backup", "processor_control"],
        "security_details": "Paiement délégué à un prestataire certifié PCI DSS ; aucun numéro de carte conservé.",
        "transfers": [_DPF],
        "purposes": [
            {"slug": "customer-orders", "name_fr": "Gestion des commandes de la boutique", "name_en": "Shop order management",
             "text_fr": "Nous utilisons vos coordonnées pour traiter vos commandes, les livrer, les facturer et assurer le service après-vente.",
             "text_en": "We use your details to process, deliver and invoice your orders and to provide after-sales service.",
             "legal_basis": "contract", "dpv_purpose": "dpv:CustomerOrderManagement",
             "channels": ["email", "sms", "phone", "postal"], "data_subject_categories": ["customer"],
             "retention_months": 60, "retention_start": "transaction",
             "retention_note": "Prescription de droit commun (C. civ. art. 2224) ; factures : 10 ans (C. com. art. L.123-22).",
             "retention_note_en": "General limitation period (C. civ. art. 2224); invoices: 10 years (C. com. art. L.123-22)."},
            {"slug": "loyalty-programme", "name_fr": "Programme de fidélité", "name_en": "Loyalty programme",
             "text_fr": "Si vous adhérez à notre programme de fidélité, nous enregistrons vos achats pour calculer vos points et vous faire bénéficier des avantages prévus par son règlement.",
             "text_en": "If you join our loyalty programme, we record your purchases to compute your points and give you the benefits set out in its rules.",
             "legal_basis": "contract", "dpv_purpose": "dpv:CustomerRelationshipManagement",
             "channels": ["email", "postal"], "data_subject_categories": ["customer"],
             "retention_months": 36, "retention_start": "last_contact",
             "retention_note": "Carte sans achat depuis 3 ans : compte clôturé et données supprimées.",
             "retention_note_en": "A card with no purchase for 3 years: the account is closed and its data deleted."},
        ],
    },
    {
        "reference": "R-05",
        "name": "Prospection et lettre d'information",
        "name_en": "Prospecting and newsletter",
        "description": "Lettre d'information, offres promotionnelles par SMS, prospection téléphonique et offres aux clients par courriel.",
        "owner_department": "Communication",
        "data_source": "Formulaires du site, boutique, événements, centre d'appels",
        "started_on": date(2018, 5, 25),
        "data_subject_categories": ["prospect", "customer", "member", "donor", "professional_contact"],
        "data_categories": [
            ("identity", "Civilité, nom, prénom", "3 ans à compter du dernier contact",
             "Title, surname, first name", "3 years from the last contact"),
            ("contact_details", "Courriel, téléphone mobile et fixe", "3 ans à compter du dernier contact",
             "Email, mobile and landline phone", "3 years from the last contact"),
            ("purchase_history", "Catégories de produits achetés (offres analogues)", "3 ans à compter du dernier achat",
             "Categories of products bought (similar offers)", "3 years from the last purchase"),
            ("consent_records", "Consentements, retraits, oppositions et leurs preuves", "5 ans après le retrait ou l'expiration (preuve)",
             "Consents, withdrawals, objections and their proof", "5 years after the withdrawal or expiry (proof)"),
        ],
        "recipients": ["Service communication", "LettreMail Ltd", "TextoPro SAS", "Atlas Contact SARL", "Acme CRM Inc."],
        "processors": ["LettreMail Ltd", "TextoPro SAS", "Atlas Contact SARL", "Acme CRM Inc."],
        "security_measures": ["access_control", "encryption", "traceability", "processor_control", "staff_awareness", "confidentiality_agreements", "retention_purge"],
        "security_details": "Audiences extraites de DPO Desk juste avant chaque campagne ; liste d'opposition appliquée à chaque extraction.",
        "transfers": [_DPF, _SCC_MOROCCO],
        "purposes": [
            {"slug": "newsletter", "name_fr": "Lettre d'information", "name_en": "Newsletter",
             "text_fr": "Avec votre accord, nous vous envoyons par courriel notre lettre d'information : actualités de l'association, événements, nouveautés de la boutique. Vous pouvez vous désabonner à tout moment grâce au lien présent dans chaque lettre.",
             "text_en": "With your consent, we email you our newsletter: news of the association, events and new items in the shop. You can unsubscribe at any time through the link in every newsletter.",
             "legal_basis": "consent", "dpv_purpose": "dpv:DirectMarketing", "direct_marketing": True,
             "channels": ["email"], "data_subject_categories": ["prospect", "customer", "member", "donor", "professional_contact"],
             "consent_validity_months": 36, "retention_months": 36, "retention_start": "last_contact",
             "retention_note": "3 ans à compter du dernier contact (" + _CNIL_COMMERCIAL + ").",
             "retention_note_en": "3 years from the last contact (" + _CNIL_COMMERCIAL_EN + ")."},
            {"slug": "sms-promotions", "name_fr": "Offres promotionnelles par SMS", "name_en": "Promotional offers by text message",
             "text_fr": "Avec votre accord, nous vous envoyons par SMS les offres promotionnelles et ventes privées de la boutique. Répondez STOP pour ne plus en recevoir.",
             "text_en": "With your consent, we text you the shop's promotional offers and private sales. Reply STOP to stop receiving them.",
             "legal_basis": "consent", "dpv_purpose": "dpv:DirectMarketing", "direct_marketing": True,
             "channels": ["sms"], "data_subject_categories": ["prospect", "customer"],
             "consent_validity_months": 36, "retention_months": 36, "retention_start": "last_contact",
             "retention_note": "Consentement préalable obligatoire (CPCE art. L.34-5) ; 3 ans à compter du dernier contact.",
             "retention_note_en": "Prior consent required (CPCE art. L.34-5); 3 years from the last contact."},
            {"slug": "phone-prospecting", "name_fr": "Prospection téléphonique", "name_en": "Phone prospecting",
             "text_fr": "Avec votre accord préalable, nous ou notre centre d'appels pouvons vous téléphoner pour vous présenter nos offres et nos campagnes. Sans cet accord, nous ne vous appelons pas (Code de la consommation, art. L.223-1).",
             "text_en": "With your prior consent, we or our call centre may phone you to present our offers and campaigns. Without it, we do not call you (French Consumer Code, art. L.223-1).",
             "legal_basis": "consent", "dpv_purpose": "dpv:DirectMarketing", "direct_marketing": True,
             "channels": ["phone"], "data_subject_categories": ["prospect", "customer"],
             "consent_validity_months": 36, "retention_months": 36, "retention_start": "last_contact",
             "retention_note": "Consentement préalable des consommateurs exigé depuis le 11 août 2026 (loi n° 2025-594, C. consom. art. L.223-1), sauf appels liés à un contrat en cours.",
             "retention_note_en": "Consumers' prior consent required since 11 August 2026 (loi n° 2025-594, C. consom. art. L.223-1), except for calls about a current contract."},
            {"slug": "customer-offers-email", "name_fr": "Offres aux clients par courriel", "name_en": "Offers to customers by email",
             "text_fr": "Client de notre boutique, vous recevez par courriel nos offres pour des produits analogues à ceux que vous avez achetés. Vous pouvez vous y opposer gratuitement dès la collecte de votre adresse, puis à tout moment par le lien présent dans chaque message.",
             "text_en": "As a customer of our shop, you receive by email our offers for products similar to those you bought. You can object free of charge when we collect your address, then at any time through the link in every message.",
             "legal_basis": "legitimate_interests",
             "legitimate_interest": "Fidéliser les clients de la boutique en leur proposant des produits analogues à ceux qu'ils ont achetés : exception au consentement préalable de l'article L.34-5 du Code des postes et des communications électroniques (coordonnées recueillies lors d'une vente, produits analogues, opposition offerte à la collecte et dans chaque message).",
             "legitimate_interest_en": "Keeping the shop's customers by offering them products similar to those they bought: the exception to prior consent of article L.34-5 of the Code des postes et des communications électroniques (details collected during a sale, similar products, objection offered at collection and in every message).",
             "dpv_purpose": "dpv:DirectMarketing", "direct_marketing": True,
             "channels": ["email"], "data_subject_categories": ["customer"],
             "retention_months": 36, "retention_start": "end_of_relationship",
             "retention_note": "3 ans à compter de la fin de la relation commerciale (dernier achat) (" + _CNIL_COMMERCIAL + ").",
             "retention_note_en": "3 years from the end of the business relationship (last purchase) (" + _CNIL_COMMERCIAL_EN + ")."},
        ],
    },
    {
        "reference": "R-06",
        "name": "Liste d'opposition à la prospection",
        "name_en": "Suppression list for prospecting",
        "description": "Liste des adresses et numéros à exclure de toute sollicitation (désinscriptions, oppositions, effacements, listes importées), conservée sous forme d'empreintes HMAC à clé.",
        "owner_department": "Communication",
        "data_source": "Désinscriptions, oppositions, demandes d'effacement, listes d'opposition importées",
        "started_on": date(2018, 5, 25),
        "data_subject_categories": ["prospect", "customer", "member", "donor"],
        "data_categories": [
            ("pseudonymised_identifiers", "Empreinte HMAC à clé du courriel, du numéro de téléphone ou de l'adresse postale normalisés", "3 ans à compter de l'opposition",
             "Keyed HMAC fingerprint of the normalised email, phone number or postal address", "3 years from the objection"),
            ("consent_records", "Canal, origine de l'opposition, date", "3 ans à compter de l'opposition",
             "Channel, source of the objection, date", "3 years from the objection"),
        ],
        "recipients": ["Service communication"],
        "processors": [],
        "security_measures": ["pseudonymisation", "access_control", "traceability", "encryption"],
        "security_details": "Seule l'empreinte à clé est stockée ; la clé est hors de la base de données.",
        "transfers": [],
        "purposes": [
            {"slug": "opposition-list", "name_fr": "Liste d'opposition", "name_en": "Opposition (suppression) list",
             "text_fr": "Lorsque vous vous opposez à la prospection ou retirez votre consentement, nous gardons pendant 3 ans une empreinte non réversible de votre adresse ou de votre numéro, afin de ne plus vous solliciter.",
             "text_en": "When you object to marketing or withdraw your consent, we keep a non-reversible fingerprint of your address or number for 3 years, so that we do not contact you again.",
             "legal_basis": "legal_obligation", "dpv_purpose": "dpv:RightsFulfilment",
             "channels": [], "data_subject_categories": ["prospect", "customer", "member", "donor"],
             "retention_months": 36, "retention_start": "event",
             "retention_note": "Au moins 3 ans (" + _CNIL_COMMERCIAL + ") ; empreinte HMAC à clé, jamais l'adresse en clair.",
             "retention_note_en": "At least 3 years (" + _CNIL_COMMERCIAL_EN + "); a keyed HMAC fingerprint, never the address in clear."},
        ],
    },
    {
        "reference": "R-07",
        "name": "Demandes d'exercice des droits",
        "name_en": "Data-protection rights requests",
        "description": "Réception, vérification, instruction et preuve des demandes d'accès, de rectification, d'effacement, de limitation, d'opposition et de portabilité.",
        "owner_department": "Délégué à la protection des données",
        "data_source": "Formulaire en ligne, courriel, courrier, demandes transmises par les partenaires",
        "started_on": date(2018, 5, 25),
        "data_subject_categories": ["customer", "prospect", "member", "donor", "other"],
        "data_categories": [
            ("identity", "Nom du demandeur et, le cas échéant, de son mandataire", "5 ans à compter de la clôture",
             "Name of the requester and, where applicable, of their representative", "5 years from the closing of the request"),
            ("contact_details", "Courriel et adresse de réponse", "5 ans à compter de la clôture",
             "Email and reply address", "5 years from the closing of the request"),
            ("pseudonymised_identifiers", "Empreintes HMAC à clé du courriel et du téléphone après effacement", "5 ans à compter de la clôture",
             "Keyed HMAC fingerprints of the email and phone after erasure", "5 years from the closing of the request"),
        ],
        "recipients": ["Délégué à la protection des données"],
        "processors": [],
        "security_measures": ["access_control", "traceability", "pseudonymisation", "encryption"],
        "security_details": "Justificatifs d'identité supprimés dès la vérification.",
        "transfers": [],
        "purposes": [
            {"slug": "rights-requests", "name_fr": "Gestion des demandes d'exercice des droits", "name_en": "Handling data-protection rights requests",
             "text_fr": "Lorsque vous exercez vos droits (accès, rectification, effacement, limitation, opposition, portabilité), nous traitons votre demande et en gardons la preuve : référence, dates, réponse apportée. Après un effacement, nous ne gardons qu'une empreinte non réversible de vos coordonnées.",
             "text_en": "When you exercise your rights (access, rectification, erasure, restriction, objection, portability), we handle your request and keep proof of it: reference, dates, our answer. After an erasure, we keep only a non-reversible fingerprint of your contact details.",
             "legal_basis": "legal_obligation", "dpv_purpose": "dpv:RightsFulfilment",
             "channels": ["email", "postal"], "data_subject_categories": ["customer", "prospect", "member", "donor", "other"],
             "retention_months": 60, "retention_start": "event",
             "retention_note": "Prescription de droit commun (C. civ. art. 2224) ; justificatif d'identité supprimé après vérification.",
             "retention_note_en": "General limitation period (C. civ. art. 2224); the proof of identity is deleted once checked."},
        ],
    },
    {
        "reference": "R-08",
        "name": "Recrutement",
        "name_en": "Recruitment",
        "description": "Réception et examen des candidatures, organisation des entretiens, vivier de candidats.",
        "owner_department": "Direction",
        "data_source": "Candidatures reçues par courriel ou via les offres publiées",
        "started_on": date(2017, 1, 1),
        "data_subject_categories": ["job_applicant"],
        "data_categories": [
            ("identity", "Nom, prénom", "2 ans après le dernier contact",
             "Surname, first name", "2 years after the last contact"),
            ("contact_details", "Courriel, téléphone, adresse", "2 ans après le dernier contact",
             "Email, phone, address", "2 years after the last contact"),
            ("professional_life", "CV, lettre de motivation, diplômes, expériences, notes d'entretien", "2 ans après le dernier contact",
             "CV, cover letter, degrees, experience, interview notes", "2 years after the last contact"),
        ],
        "recipients": ["Direction et responsables du recrutement"],
        "processors": [],
        "security_measures": ["access_control", "confidentiality_agreements", "retention_purge"],
        "security_details": "Dossiers de candidature accessibles aux seuls recruteurs du poste.",
        "transfers": [],
        "purposes": [
            {"slug": "recruitment", "name_fr": "Recrutement", "name_en": "Recruitment",
             "text_fr": "Nous utilisons les informations de votre candidature (CV, lettre, échanges) pour l'étudier et organiser les entretiens. Si elle n'est pas retenue, nous la gardons 2 ans après notre dernier contact pour vous proposer d'autres postes, sauf si vous vous y opposez.",
             "text_en": "We use the information in your application (CV, letter, exchanges) to assess it and arrange interviews. If it is not successful, we keep it for 2 years after our last contact to offer you other positions, unless you object.",
             "legal_basis": "contract", "dpv_purpose": "dpv:RecruitmentManagement",
             "channels": ["email", "phone"], "data_subject_categories": ["job_applicant"],
             "retention_months": 24, "retention_start": "last_contact",
             "retention_note": "Mesures précontractuelles (RGPD art. 6(1)(b)) ; 2 ans après le dernier contact (CNIL, référentiel recrutement).",
             "retention_note_en": "Pre-contractual measures (GDPR art. 6(1)(b)); 2 years after the last contact (CNIL, recruitment reference framework)."},
        ],
    },
    {
        "reference": "R-09",
        "name": "Vidéoprotection des locaux",
        "name_en": "CCTV of the premises",
        "description": "Caméras à l'entrée, à la caisse de la boutique et à la réserve, pour la sécurité des personnes et des biens.",
        "owner_department": "Direction",
        "data_source": "Caméras",
        "started_on": date(2021, 3, 1),
        "data_subject_categories": ["employee", "volunteer", "customer", "visitor"],
        "data_categories": [
            ("images", "Images des personnes filmées, date et heure", "30 jours",
             "Images of the people filmed, date and time", "30 days"),
        ],
        "recipients": ["Responsable sécurité (accès habilité aux images)", "Forces de l'ordre, sur réquisition", "Vigie Sécurité SARL"],
        "processors": ["Vigie Sécurité SARL"],
        "security_measures": ["access_control", "traceability", "physical_security", "processor_control"],
        "security_details": "Enregistreur dans un local fermé ; accès aux images journalisé ; effacement automatique au-delà de 30 jours.",
        "transfers": [],
        "purposes": [
            {"slug": "video-surveillance", "name_fr": "Vidéoprotection", "name_en": "CCTV",
             "text_fr": "Nos locaux et notre boutique sont placés sous vidéoprotection pour la sécurité des personnes et des biens. Les images sont conservées 30 jours au plus, sauf procédure judiciaire.",
             "text_en": "Our premises and shop are under CCTV for the safety of people and property. Footage is kept for up to 30 days, unless legal proceedings require otherwise.",
             "legal_basis": "legitimate_interests",
             "legitimate_interest": "Assurer la sécurité des personnes et des biens (prévention des vols et des agressions) ; caméras limitées aux entrées, à la caisse et à la réserve, sans filmer en continu les postes de travail ni la voie publique.",
             "legitimate_interest_en": "Keeping people and property safe (preventing theft and assault); cameras limited to the entrances, the till and the storeroom, never filming workstations continuously nor the public street.",
             "dpv_purpose": "dpv:EnforceSecurity",
             "channels": [], "data_subject_categories": ["employee", "volunteer", "customer", "visitor"],
             "retention_months": 1, "retention_start": "collection",
             "retention_note": "30 jours au plus (CNIL ; Code de la sécurité intérieure, art. L.252-5, pour la partie ouverte au public).",
             "retention_note_en": "30 days at most (CNIL; Code de la sécurité intérieure, art. L.252-5, for the part open to the public)."},
        ],
    },
    {
        "reference": "R-10",
        "name": "Mesure d'audience du site web",
        "name_en": "Website audience measurement",
        "description": "Statistiques de fréquentation du site, avec le consentement des visiteurs aux traceurs.",
        "owner_department": "Communication",
        "data_source": "Traceurs déposés sur le site après consentement",
        "started_on": date(2021, 4, 1),
        "data_subject_categories": ["visitor"],
        "data_categories": [
            ("internet", "Identifiant du traceur, pages vues, dates, navigateur", "25 mois",
             "Tracker identifier, pages viewed, dates, browser", "25 months"),
            ("connection", "Adresse IP tronquée", "25 mois",
             "Truncated IP address", "25 months"),
        ],
        "recipients": ["Service communication", "Statistiques Web SAS"],
        "processors": ["Statistiques Web SAS"],
        "security_measures": ["pseudonymisation", "access_control", "retention_purge"],
        "security_details": "Adresses IP tronquées avant stockage.",
        "transfers": [],
        "purposes": [
            {"slug": "web-analytics", "name_fr": "Mesure d'audience du site", "name_en": "Website audience measurement",
             "text_fr": "Avec votre accord, des traceurs (cookies) mesurent la fréquentation de notre site pour l'améliorer. Votre choix est conservé 13 mois ; les données de mesure le sont 25 mois au plus.",
             "text_en": "With your consent, trackers (cookies) measure visits to our website so that we can improve it. Your choice is kept for 13 months; measurement data for 25 months at most.",
             "legal_basis": "consent", "dpv_purpose": "dpv:ServiceUsageAnalytics",
             "channels": [], "data_subject_categories": ["visitor"],
             "consent_validity_months": 13, "retention_months": 25, "retention_start": "collection",
             "retention_note": "CNIL, lignes directrices et recommandation « cookies et autres traceurs » : choix 13 mois, données 25 mois.",
             "retention_note_en": "CNIL, guidelines and recommendation on cookies and other trackers: choices 13 months, data 25 months."},
        ],
    },
]

# Demo logins. The passwords are published on purpose: this is demo data.
DEMO_USERS = [
    {"username": "dpo", "password": "dpo-demo-2026", "role": "dpo", "is_staff": True, "first_name": "Julien", "last_name": "Moreau"},
    {"username": "staff", "password": "staff-demo-2026", "role": "staff", "is_staff": True, "first_name": "Inès", "last_name": "Girard"},
    {"username": "auditor", "password": "auditor-demo-2026", "role": "auditor", "is_staff": True, "first_name": "Paul", "last_name": "Lefèvre"},
    {"username": "integration", "password": "integration-demo-2026", "role": "integration", "is_staff": False, "first_name": "", "last_name": "", "token": True},
    {"username": "admin", "password": "admin-demo-2026", "role": "", "is_staff": True, "is_superuser": True, "first_name": "", "last_name": ""},
]

# Defaults of the purpose fields a row may omit (so a rerun resets them too).
_PURPOSE_DEFAULTS = {
    "legitimate_interest": "",
    "legitimate_interest_en": "",
    "direct_marketing": False,
    "consent_validity_months": None,
    "retention_note": "",
    "retention_note_en": "",
    "status": m.Purpose.Status.ACTIVE,
}


@dataclass
class DemoLogin:
    username: str
    password: str
    role: str
    is_staff: bool
    token: str = ""


@dataclass
class DemoSummary:
    activities: int = 0
    purposes: int = 0
    activities_created: int = 0
    purposes_created: int = 0
    purposes_updated: int = 0
    logins: list[DemoLogin] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)  # one line per app extension (contacts, …)


# Apps that depend on the register add their own demo data (registry must not import them):
# each app's demo.py registers a callable taking the DPO user and returning a summary line.
_extensions: list = []


def register_demo_extension(function):
    _extensions.append(function)
    return function


def _upsert(model: type[models.Model], lookup: dict, values: dict) -> tuple[models.Model, bool]:
    """Find by ``lookup`` or create; save only the fields that differ (no empty history rows)."""
    obj = model.objects.filter(**lookup).order_by("pk").first()
    if obj is None:
        obj = model(**lookup, **values)
        obj.full_clean()
        obj.save()
        return obj, True
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if changed:
        for name in changed:
            setattr(obj, name, values[name])
        obj.full_clean()
        obj.save()
    return obj, False


def _by_code(model: type[models.Model], codes) -> list:
    rows = {row.code: row for row in model.objects.filter(code__in=codes)}
    missing = sorted(set(codes) - set(rows))
    if missing:
        raise LookupError(f"{model.__name__}: no reference row with code {', '.join(missing)}")
    return [rows[code] for code in codes]


def _seed_users(summary: DemoSummary) -> Any:
    from rest_framework.authtoken.models import Token

    User = get_user_model()
    dpo = None
    for spec in DEMO_USERS:
        values = {
            "email": f"{spec['username']}@terres-patrimoine.example",
            "first_name": spec["first_name"],
            "last_name": spec["last_name"],
            "is_staff": spec["is_staff"],
            "is_superuser": spec.get("is_superuser", False),
            "is_active": True,
        }
        user = User.objects.filter(username=spec["username"]).first()
        if user is None:
            user = User(username=spec["username"], **values)
            user.set_password(spec["password"])
            user.save()
        else:
            changed = [name for name, value in values.items() if getattr(user, name) != value]
            if not user.check_password(spec["password"]):
                user.set_password(spec["password"])
                changed.append("password")
            if changed:
                for name in changed:
                    if name != "password":
                        setattr(user, name, values[name])
                user.save(update_fields=changed)
        groups = [Group.objects.get(name=spec["role"])] if spec["role"] else []
        user.groups.set(groups)
        token = ""
        if spec.get("token"):
            token = Token.objects.get_or_create(user=user)[0].key
        summary.logins.append(
            DemoLogin(username=user.username, password=spec["password"], role=spec["role"] or "superuser",
                      is_staff=user.is_staff, token=token)
        )
        if spec["role"] == "dpo":
            dpo = user
    return dpo


def _seed_purpose(spec: dict, *, activity: m.ProcessingActivity, position: int, user, summary: DemoSummary) -> None:
    spec = dict(spec)
    channels = _by_code(m.Channel, spec.pop("channels"))
    subjects = _by_code(m.DataSubjectCategory, spec.pop("data_subject_categories"))
    slug = spec.pop("slug")
    fields = {**_PURPOSE_DEFAULTS, **spec, "activity": activity, "position": position}
    purpose = m.Purpose.objects.filter(slug=slug).first()
    if purpose is None:
        purpose_create(user=user, channels=channels, data_subject_categories=subjects, slug=slug, **fields)
        summary.purposes_created += 1
        return
    changed = {name: value for name, value in fields.items() if getattr(purpose, name) != value}
    channels_differ = set(purpose.channels.values_list("pk", flat=True)) != {c.pk for c in channels}
    subjects_differ = set(purpose.data_subject_categories.values_list("pk", flat=True)) != {s.pk for s in subjects}
    if not (changed or channels_differ or subjects_differ):
        return
    text_changed = any(name in changed for name in PURPOSE_TEXT_FIELDS)
    purpose_update(
        purpose=purpose,
        user=user,
        change_kind=m.PurposeVersion.ChangeKind.MINOR if text_changed else "",
        change_note="Demo data refreshed." if text_changed else "",
        channels=channels if channels_differ else None,
        data_subject_categories=subjects if subjects_differ else None,
        **changed,
    )
    summary.purposes_updated += 1


def _seed_activity(spec: dict, *, user, summary: DemoSummary) -> None:
    values = {
        "name": spec["name"],
        "name_en": spec["name_en"],
        "description": spec["description"],
        "status": m.ProcessingActivity.Status.ACTIVE,
        "role": m.ProcessingActivity.Role.CONTROLLER,
        "owner_department": spec["owner_department"],
        "data_source": spec["data_source"],
        "security_details": spec["security_details"],
        "started_on": spec["started_on"],
        "dpia_required": spec.get("dpia_required", False),
    }
    activity, created = _upsert(m.ProcessingActivity, {"reference": spec["reference"]}, values)
    summary.activities_created += created
    activity.data_subject_categories.set(_by_code(m.DataSubjectCategory, spec["data_subject_categories"]))
    activity.security_measures.set(_by_code(m.SecurityMeasure, spec["security_measures"]))
    activity.recipients.set([m.Recipient.objects.filter(name=name).order_by("pk").first() for name in spec["recipients"]])
    activity.processors.set([m.Processor.objects.filter(name=name).order_by("pk").first() for name in spec["processors"]])

    categories = _by_code(m.DataCategory, [row[0] for row in spec["data_categories"]])
    for category, (_code, description, retention, description_en, retention_en) in zip(categories, spec["data_categories"]):
        _upsert(m.ActivityDataCategory, {"activity": activity, "category": category},
                {"description": description, "retention": retention,
                 "description_en": description_en, "retention_en": retention_en})
    activity.data_category_links.exclude(category__in=categories).delete()

    kept = []
    for transfer in spec["transfers"]:
        country = m.Country.objects.get(code=transfer["country"])
        safeguard = m.TransferSafeguard.objects.get(code=transfer["safeguard"])
        row, _created = _upsert(
            m.Transfer,
            {"activity": activity, "recipient_name": transfer["recipient_name"], "country": country},
            {"safeguard": safeguard, "dpf_certified": transfer["dpf_certified"], "documentation": transfer["documentation"]},
        )
        kept.append(row.pk)
    activity.transfers.exclude(pk__in=kept).delete()

    for position, purpose in enumerate(spec["purposes"], start=1):
        _seed_purpose(purpose, activity=activity, position=position, user=user, summary=summary)


@transaction.atomic
def seed_demo() -> DemoSummary:
    """Load (or bring back to) the demo register and the demo logins. Idempotent."""
    # Both are no-ops on a migrated database; they matter after a flush (transactional tests).
    seed_reference_data(django_apps)
    sync_roles(django_apps)

    summary = DemoSummary()
    dpo = _seed_users(summary)

    _upsert(m.Organisation, {}, ORGANISATION)  # the one row, whichever it is

    for spec in PROCESSORS:
        values = {**spec, "country": m.Country.objects.get(code=spec["country"])}
        _upsert(m.Processor, {"name": values.pop("name")}, values)
    processor_names = {spec["name"] for spec in PROCESSORS}
    for spec in RECIPIENTS:
        values = {
            "recipient_type": m.RecipientType.objects.get(code=spec["recipient_type"]),
            "description": spec["description"],
            "country": m.Country.objects.get(code=spec["country"]),
            "notification_email": spec.get("notification_email", ""),
            "dpv_concept": "dpv:DataProcessor" if spec["name"] in processor_names else "dpv:Recipient",
        }
        _upsert(m.Recipient, {"name": spec["name"]}, values)

    for spec in ACTIVITIES:
        _seed_activity(spec, user=dpo, summary=summary)

    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("demo")
    for extension in _extensions:
        summary.extras.append(extension(dpo=dpo))

    summary.activities = len(ACTIVITIES)
    summary.purposes = sum(len(spec["purposes"]) for spec in ACTIVITIES)
    return summary
