"""Reference tables seeded from the CNIL register model's lists (corrected where out of date).

Source: the CNIL's simplified register model (``registre-traitement-simplifie.ods``, sheet
``5_-_Listes`` and the record sheet's data categories). Rows keep the CNIL's order and French
wording; DPO Desk's additions are placed before the CNIL's closing "Autre(s)" row. ``dpv_concept``
is filled only with terms defined by W3C DPV 2.3 (``dpv:`` core, ``eu-gdpr:`` extension).

Corrections to the 2019 file, as of November 2026: Japan (2019/419) and the Republic of Korea
(2022/254) are adequate; the United Kingdom (2021/1772, renewed in 2025) is added as adequate; the
United States is adequate only for recipients certified under the EU-US Data Privacy Framework
(2023/1795); the Privacy Shield is no longer a valid safeguard (CJEU C-311/18, 16 July 2020).
"""
from __future__ import annotations

# --- Catégories de personnes -------------------------------------------------------------

DATA_SUBJECT_CATEGORIES = [
    {"code": "employee", "label_fr": "Salariés", "label_en": "Employees", "dpv_concept": "dpv:Employee"},
    {"code": "internal_service", "label_fr": "Services internes", "label_en": "Internal services"},
    {"code": "customer", "label_fr": "Clients", "label_en": "Customers", "dpv_concept": "dpv:Customer"},
    {"code": "supplier", "label_fr": "Fournisseurs", "label_en": "Suppliers"},
    {"code": "service_provider", "label_fr": "Prestataires", "label_en": "Service providers"},
    {"code": "prospect", "label_fr": "Prospects", "label_en": "Prospects"},
    {"code": "job_applicant", "label_fr": "Candidats", "label_en": "Job applicants", "dpv_concept": "dpv:JobApplicant"},
    {"code": "member", "label_fr": "Adhérents", "label_en": "Members", "dpv_concept": "dpv:Member"},
    {"code": "donor", "label_fr": "Donateurs", "label_en": "Donors"},
    {"code": "professional_contact", "label_fr": "Contacts professionnels", "label_en": "Professional contacts"},
    {"code": "visitor", "label_fr": "Visiteurs (site web, locaux)", "label_en": "Visitors (website, premises)", "dpv_concept": "dpv:Visitor"},
    # DPV defines Participant as "humans that participate in some context such as volunteers".
    {"code": "volunteer", "label_fr": "Bénévoles", "label_en": "Volunteers", "dpv_concept": "dpv:Participant"},
    {"code": "other", "label_fr": "Autres", "label_en": "Others"},
]

# --- Catégories de données ---------------------------------------------------------------

DATA_CATEGORIES = [
    {"code": "identity", "cnil_group": "identity", "label_fr": "État civil, identité, données d'identification, images…", "label_en": "Civil status, identity, identification data, images", "dpv_concept": "dpv:IdentifyingPersonalData"},
    {"code": "contact_details", "cnil_group": "identity", "label_fr": "Coordonnées (adresse postale, adresse électronique, téléphone)", "label_en": "Contact details (postal address, email, phone)", "dpv_concept": "dpv:IdentifyingPersonalData"},
    {"code": "images", "cnil_group": "identity", "label_fr": "Images (photographies, vidéoprotection)", "label_en": "Images (photographs, CCTV footage)", "dpv_concept": "dpv:IdentifyingPersonalData"},
    {"code": "pseudonymised_identifiers", "cnil_group": "identity", "label_fr": "Identifiants pseudonymisés (empreintes HMAC d'adresses ou de numéros)", "label_en": "Pseudonymised identifiers (keyed HMAC of addresses or numbers)", "dpv_concept": "dpv:PseudonymisedData"},
    {"code": "personal_life", "cnil_group": "personal_life", "label_fr": "Vie personnelle (habitudes de vie, situation familiale, etc.)", "label_en": "Personal life (lifestyle, family situation, etc.)", "dpv_concept": "dpv:PersonalData"},
    {"code": "purchase_history", "cnil_group": "personal_life", "label_fr": "Historique d'achats et habitudes de consommation", "label_en": "Purchase history and consumption habits", "dpv_concept": "dpv:PersonalData"},
    {"code": "consent_records", "cnil_group": "personal_life", "label_fr": "Choix et preuves de consentement ou d'opposition", "label_en": "Consent and objection choices and their proof", "dpv_concept": "dpv:PersonalData"},
    {"code": "professional_life", "cnil_group": "professional_life", "label_fr": "Vie professionnelle (CV, scolarité, formation professionnelle, distinctions, etc.)", "label_en": "Professional life (CV, education, training, awards, etc.)", "dpv_concept": "dpv:PersonalData"},
    {"code": "economic", "cnil_group": "economic", "label_fr": "Informations d'ordre économique et financier (revenus, situation financière, situation fiscale, etc.)", "label_en": "Economic and financial information (income, financial and tax situation, etc.)", "dpv_concept": "dpv:PersonalData"},
    {"code": "bank_details", "cnil_group": "economic", "label_fr": "Coordonnées bancaires (RIB, IBAN)", "label_en": "Bank details (IBAN)", "dpv_concept": "dpv:PersonalData"},
    {"code": "donations", "cnil_group": "economic", "label_fr": "Dons et cotisations (montants, dates, moyens de paiement)", "label_en": "Donations and membership fees (amounts, dates, means of payment)", "dpv_concept": "dpv:PersonalData"},
    {"code": "connection", "cnil_group": "connection", "label_fr": "Données de connexion (adresse IP, logs, etc.)", "label_en": "Connection data (IP address, logs, etc.)", "dpv_concept": "dpv:PersonalData"},
    {"code": "location", "cnil_group": "location", "label_fr": "Données de localisation (déplacements, données GPS, GSM, etc.)", "label_en": "Location data (movements, GPS, GSM data, etc.)", "dpv_concept": "dpv:PersonalData"},
    {"code": "internet", "cnil_group": "internet", "label_fr": "Données d'internet (cookies, traceurs, données de navigation, mesure d'audience, etc.)", "label_en": "Internet data (cookies, trackers, browsing data, audience measurement, etc.)", "dpv_concept": "dpv:PersonalData"},
    # Code de la sécurité sociale / loi Informatique et Libertés art. 30: national rules (GDPR Art. 87).
    {"code": "nir", "cnil_group": "nir", "label_fr": "Numéro de Sécurité Sociale (ou NIR)", "label_en": "Social security number (NIR)", "dpv_concept": "dpv:SensitivePersonalData"},
    {"code": "racial_ethnic_origin", "cnil_group": "sensitive", "special_category": True, "label_fr": "Données révélant l'origine raciale ou ethnique", "label_en": "Data revealing racial or ethnic origin", "dpv_concept": "dpv:SpecialCategoryPersonalData"},
    {"code": "political_opinions", "cnil_group": "sensitive", "special_category": True, "label_fr": "Données révélant les opinions politiques", "label_en": "Data revealing political opinions", "dpv_concept": "dpv:SpecialCategoryPersonalData"},
    {"code": "religious_beliefs", "cnil_group": "sensitive", "special_category": True, "label_fr": "Données révélant les convictions religieuses ou philosophiques", "label_en": "Data revealing religious or philosophical beliefs", "dpv_concept": "dpv:SpecialCategoryPersonalData"},
    {"code": "trade_union_membership", "cnil_group": "sensitive", "special_category": True, "label_fr": "Données révélant l'appartenance syndicale", "label_en": "Data revealing trade-union membership", "dpv_concept": "dpv:SpecialCategoryPersonalData"},
    {"code": "genetic", "cnil_group": "sensitive", "special_category": True, "label_fr": "Données génétiques", "label_en": "Genetic data", "dpv_concept": "dpv:SpecialCategoryPersonalData"},
    {"code": "biometric", "cnil_group": "sensitive", "special_category": True, "label_fr": "Données biométriques aux fins d'identifier une personne physique de manière unique", "label_en": "Biometric data for the purpose of uniquely identifying a natural person", "dpv_concept": "dpv:SpecialCategoryPersonalData"},
    {"code": "health", "cnil_group": "sensitive", "special_category": True, "label_fr": "Données concernant la santé", "label_en": "Data concerning health", "dpv_concept": "dpv:SpecialCategoryPersonalData"},
    {"code": "sex_life", "cnil_group": "sensitive", "special_category": True, "label_fr": "Données concernant la vie sexuelle ou l'orientation sexuelle", "label_en": "Data concerning sex life or sexual orientation", "dpv_concept": "dpv:SpecialCategoryPersonalData"},
    # Art. 10, not Art. 9: not a special category, but sensitive all the same.
    {"code": "criminal_offences", "cnil_group": "offences", "label_fr": "Données relatives à des condamnations pénales ou infractions", "label_en": "Data relating to criminal convictions and offences", "dpv_concept": "dpv:SensitivePersonalData"},
]

# --- Destinataires -----------------------------------------------------------------------

RECIPIENT_TYPES = [
    {"code": "internal_service", "label_fr": "Service interne qui traite les données", "label_en": "Internal department processing the data"},
    {"code": "processor", "label_fr": "Sous-traitants", "label_en": "Processors", "dpv_concept": "dpv:DataProcessor"},
    {"code": "third_country", "label_fr": "Destinataires dans des pays tiers ou organisations internationales", "label_en": "Recipients in third countries or international organisations", "dpv_concept": "dpv:DataImporter"},
    {"code": "partner", "label_fr": "Partenaires institutionnels ou commerciaux", "label_en": "Institutional or commercial partners", "dpv_concept": "dpv:ThirdParty"},
    {"code": "public_authority", "label_fr": "Autorités publiques / administrations", "label_en": "Public authorities / administrations", "dpv_concept": "dpv:PublicSectorBody"},
    {"code": "other", "label_fr": "Autre", "label_en": "Other", "dpv_concept": "dpv:Recipient"},
]

# --- Mesures de sécurité -----------------------------------------------------------------

SECURITY_MEASURES = [
    {"code": "traceability", "kind": "technical", "label_fr": "Mesures de traçabilité", "label_en": "Traceability (logging of access and actions)", "dpv_concept": "dpv:ActivityMonitoring"},
    {"code": "software_protection", "kind": "technical", "label_fr": "Mesures de protection des logiciels", "label_en": "Software protection (updates, antivirus, firewall)", "dpv_concept": "dpv:SecurityMethod"},
    {"code": "backup", "kind": "technical", "label_fr": "Sauvegarde des données", "label_en": "Data backup", "dpv_concept": "dpv:DataBackupProtocols"},
    {"code": "encryption", "kind": "technical", "label_fr": "Chiffrement des données", "label_en": "Data encryption", "dpv_concept": "dpv:Encryption"},
    {"code": "access_control", "kind": "technical", "label_fr": "Contrôle d'accès des utilisateurs", "label_en": "User access control", "dpv_concept": "dpv:AccessControlMethod"},
    {"code": "processor_control", "kind": "organisational", "label_fr": "Contrôle des sous-traitants", "label_en": "Oversight of processors", "dpv_concept": "dpv:ThirdPartySecurityProcedures"},
    {"code": "pseudonymisation", "kind": "technical", "label_fr": "Pseudonymisation des données", "label_en": "Pseudonymisation", "dpv_concept": "dpv:Pseudonymisation"},
    {"code": "strong_authentication", "kind": "technical", "label_fr": "Authentification forte des utilisateurs", "label_en": "Strong user authentication", "dpv_concept": "dpv:MultiFactorAuthentication"},
    {"code": "physical_security", "kind": "technical", "label_fr": "Sécurité physique des locaux", "label_en": "Physical security of the premises", "dpv_concept": "dpv:PhysicalAccessControlMethod"},
    {"code": "staff_awareness", "kind": "organisational", "label_fr": "Sensibilisation et formation du personnel", "label_en": "Staff awareness and training", "dpv_concept": "dpv:StaffTraining"},
    {"code": "confidentiality_agreements", "kind": "organisational", "label_fr": "Engagements de confidentialité", "label_en": "Confidentiality agreements", "dpv_concept": "dpv:ConfidentialityAgreement"},
    {"code": "retention_purge", "kind": "organisational", "label_fr": "Suppression automatique à l'échéance de conservation", "label_en": "Automatic deletion at the end of the retention period", "dpv_concept": "dpv:DataDeletionPolicy"},
    {"code": "other", "kind": "technical", "label_fr": "Autres mesures", "label_en": "Other measures"},
]

# --- Garanties pour les transferts hors UE -----------------------------------------------

TRANSFER_SAFEGUARDS = [
    {"code": "scc", "gdpr_article": "46(2)(c)", "label_fr": "Clauses contractuelles types (CCT)", "label_en": "Standard contractual clauses (SCCs)", "dpv_concept": "eu-gdpr:SCCByCommission", "validity_note": "Use the Commission's 2021 clauses (Implementing Decision (EU) 2021/914 of 4 June 2021), with a transfer impact assessment; the clauses of 2001/497/EC and 2010/87/EU may no longer be relied on since 27 December 2022."},
    {"code": "bcr", "gdpr_article": "47", "label_fr": "Règles d'entreprise contraignantes (BCR)", "label_en": "Binding corporate rules (BCRs)", "dpv_concept": "eu-gdpr:BindingCorporateRules"},
    {"code": "adequacy", "gdpr_article": "45", "label_fr": "Pays adéquat", "label_en": "Adequate country", "dpv_concept": "eu-gdpr:AdequacyDecision"},
    {"code": "privacy_shield", "gdpr_article": "45", "label_fr": "Privacy shield", "label_en": "EU-US Privacy Shield", "is_valid": False, "validity_note": "Implementing Decision (EU) 2016/1250 was invalidated by the CJEU on 16 July 2020 (case C-311/18, Data Protection Commissioner v Facebook Ireland and Schrems, \"Schrems II\"). For the United States use the EU-US Data Privacy Framework (decision 2023/1795) with a certified recipient, or another Art. 46 safeguard."},
    {"code": "eu_us_dpf", "gdpr_article": "45", "label_fr": "Cadre de protection des données UE-États-Unis (Data Privacy Framework, décision 2023/1795)", "label_en": "EU-US Data Privacy Framework (decision 2023/1795)", "dpv_concept": "eu-gdpr:AdequacyDecision", "validity_note": "Commission Implementing Decision (EU) 2023/1795 of 10 July 2023. Covers only US organisations certified on the Data Privacy Framework List for the data concerned: check the recipient's certification before each transfer."},
    {"code": "code_of_conduct", "gdpr_article": "46(2)(e)", "label_fr": "Code de conduite", "label_en": "Code of conduct", "dpv_concept": "eu-gdpr:CodesOfConductForDataTransfers"},
    {"code": "certification", "gdpr_article": "46(2)(f)", "label_fr": "Certification", "label_en": "Certification", "dpv_concept": "eu-gdpr:CertificationMechanismsForDataTransfers"},
    {"code": "art49_derogation", "gdpr_article": "49", "label_fr": "Dérogations (art 49)", "label_en": "Derogations for specific situations (Art. 49)", "validity_note": "Occasional, non-repetitive transfers only, interpreted strictly (EDPB Guidelines 2/2018)."},
]

# --- Pays / Zone -------------------------------------------------------------------------
# ``code`` is derived from ``iso_code`` (lower case). Kosovo has no ISO 3166-1 code: XK is the
# user-assigned code used by the European Commission.

_EEA_JCD = "EEA Agreement (GDPR incorporated by EEA Joint Committee Decision No 154/2018)"

COUNTRIES = [
    # EU member states and the EEA: not in the CNIL's list, added so transfers can be assessed.
    {"iso_code": "DE", "label_fr": "Allemagne", "label_en": "Germany", "adequacy": "eea"},
    {"iso_code": "AT", "label_fr": "Autriche", "label_en": "Austria", "adequacy": "eea"},
    {"iso_code": "BE", "label_fr": "Belgique", "label_en": "Belgium", "adequacy": "eea"},
    {"iso_code": "BG", "label_fr": "Bulgarie", "label_en": "Bulgaria", "adequacy": "eea"},
    {"iso_code": "CY", "label_fr": "Chypre", "label_en": "Cyprus", "adequacy": "eea"},
    {"iso_code": "HR", "label_fr": "Croatie", "label_en": "Croatia", "adequacy": "eea"},
    {"iso_code": "DK", "label_fr": "Danemark", "label_en": "Denmark", "adequacy": "eea"},
    {"iso_code": "ES", "label_fr": "Espagne", "label_en": "Spain", "adequacy": "eea"},
    {"iso_code": "EE", "label_fr": "Estonie", "label_en": "Estonia", "adequacy": "eea"},
    {"iso_code": "FI", "label_fr": "Finlande", "label_en": "Finland", "adequacy": "eea"},
    {"iso_code": "FR", "label_fr": "France", "label_en": "France", "adequacy": "eea"},
    {"iso_code": "GR", "label_fr": "Grèce", "label_en": "Greece", "adequacy": "eea"},
    {"iso_code": "HU", "label_fr": "Hongrie", "label_en": "Hungary", "adequacy": "eea"},
    {"iso_code": "IE", "label_fr": "Irlande", "label_en": "Ireland", "adequacy": "eea"},
    {"iso_code": "IT", "label_fr": "Italie", "label_en": "Italy", "adequacy": "eea"},
    {"iso_code": "LV", "label_fr": "Lettonie", "label_en": "Latvia", "adequacy": "eea"},
    {"iso_code": "LT", "label_fr": "Lituanie", "label_en": "Lithuania", "adequacy": "eea"},
    {"iso_code": "LU", "label_fr": "Luxembourg", "label_en": "Luxembourg", "adequacy": "eea"},
    {"iso_code": "MT", "label_fr": "Malte", "label_en": "Malta", "adequacy": "eea"},
    {"iso_code": "NL", "label_fr": "Pays-Bas", "label_en": "Netherlands", "adequacy": "eea"},
    {"iso_code": "PL", "label_fr": "Pologne", "label_en": "Poland", "adequacy": "eea"},
    {"iso_code": "PT", "label_fr": "Portugal", "label_en": "Portugal", "adequacy": "eea"},
    {"iso_code": "RO", "label_fr": "Roumanie", "label_en": "Romania", "adequacy": "eea"},
    {"iso_code": "SK", "label_fr": "Slovaquie", "label_en": "Slovakia", "adequacy": "eea"},
    {"iso_code": "SI", "label_fr": "Slovénie", "label_en": "Slovenia", "adequacy": "eea"},
    {"iso_code": "SE", "label_fr": "Suède", "label_en": "Sweden", "adequacy": "eea"},
    {"iso_code": "CZ", "label_fr": "Tchéquie", "label_en": "Czechia", "adequacy": "eea"},
    {"iso_code": "IS", "label_fr": "Islande", "label_en": "Iceland", "adequacy": "eea", "adequacy_decision": _EEA_JCD},
    {"iso_code": "LI", "label_fr": "Liechtenstein", "label_en": "Liechtenstein", "adequacy": "eea", "adequacy_decision": _EEA_JCD},
    {"iso_code": "NO", "label_fr": "Norvège", "label_en": "Norway", "adequacy": "eea", "adequacy_decision": _EEA_JCD},
    # The CNIL's list, in its order.
    {"iso_code": "AD", "label_fr": "Andorre", "label_en": "Andorra", "adequacy": "adequate", "adequacy_decision": "Commission Decision 2010/625/EU of 19 October 2010"},
    {"iso_code": "AR", "label_fr": "Argentine", "label_en": "Argentina", "adequacy": "adequate", "adequacy_decision": "Commission Decision 2003/490/EC of 30 June 2003"},
    {"iso_code": "CA", "label_fr": "Canada", "label_en": "Canada", "adequacy": "adequate", "adequacy_decision": "Commission Decision 2002/2/EC of 20 December 2001 — commercial organisations subject to PIPEDA only"},
    {"iso_code": "US", "label_fr": "Etats-Unis", "label_en": "United States", "adequacy": "adequate_certified", "adequacy_decision": "Commission Implementing Decision (EU) 2023/1795 of 10 July 2023 (EU-US Data Privacy Framework) — certified organisations only"},
    {"iso_code": "GG", "label_fr": "Guernesey", "label_en": "Guernsey", "adequacy": "adequate", "adequacy_decision": "Commission Decision 2003/821/EC of 21 November 2003"},
    {"iso_code": "IM", "label_fr": "Ile de Man", "label_en": "Isle of Man", "adequacy": "adequate", "adequacy_decision": "Commission Decision 2004/411/EC of 28 April 2004"},
    {"iso_code": "FO", "label_fr": "Iles FEROE", "label_en": "Faroe Islands", "adequacy": "adequate", "adequacy_decision": "Commission Decision 2010/146/EU of 5 March 2010"},
    {"iso_code": "IL", "label_fr": "Israël", "label_en": "Israel", "adequacy": "adequate", "adequacy_decision": "Commission Decision 2011/61/EU of 31 January 2011"},
    {"iso_code": "JE", "label_fr": "Jersey", "label_en": "Jersey", "adequacy": "adequate", "adequacy_decision": "Commission Decision 2008/393/EC of 8 May 2008"},
    {"iso_code": "NZ", "label_fr": "Nouvelle-Zélande", "label_en": "New Zealand", "adequacy": "adequate", "adequacy_decision": "Commission Implementing Decision 2013/65/EU of 19 December 2012"},
    {"iso_code": "CH", "label_fr": "Suisse", "label_en": "Switzerland", "adequacy": "adequate", "adequacy_decision": "Commission Decision 2000/518/EC of 26 July 2000"},
    {"iso_code": "GB", "label_fr": "Royaume-Uni", "label_en": "United Kingdom", "adequacy": "adequate", "adequacy_decision": "Commission Implementing Decision (EU) 2021/1772 of 28 June 2021, renewed in 2025"},
    {"iso_code": "UY", "label_fr": "Uruguay", "label_en": "Uruguay", "adequacy": "adequate", "adequacy_decision": "Commission Implementing Decision 2012/484/EU of 21 August 2012"},
    {"iso_code": "AF", "label_fr": "Afghanistan", "label_en": "Afghanistan", "adequacy": "not_adequate"},
    {"iso_code": "ZA", "label_fr": "Afrique du Sud", "label_en": "South Africa", "adequacy": "not_adequate"},
    {"iso_code": "AL", "label_fr": "Albanie", "label_en": "Albania", "adequacy": "not_adequate"},
    {"iso_code": "DZ", "label_fr": "Algérie", "label_en": "Algeria", "adequacy": "not_adequate"},
    {"iso_code": "AO", "label_fr": "Angola", "label_en": "Angola", "adequacy": "not_adequate"},
    {"iso_code": "AG", "label_fr": "Antigua-et-Barbuda", "label_en": "Antigua and Barbuda", "adequacy": "not_adequate"},
    {"iso_code": "SA", "label_fr": "Arabie saoudite", "label_en": "Saudi Arabia", "adequacy": "not_adequate"},
    {"iso_code": "AM", "label_fr": "Arménie", "label_en": "Armenia", "adequacy": "not_adequate"},
    {"iso_code": "AU", "label_fr": "Australie", "label_en": "Australia", "adequacy": "not_adequate"},
    {"iso_code": "AZ", "label_fr": "Azerbaïdjan", "label_en": "Azerbaijan", "adequacy": "not_adequate"},
    {"iso_code": "BS", "label_fr": "Bahamas", "label_en": "Bahamas", "adequacy": "not_adequate"},
    {"iso_code": "BH", "label_fr": "Bahreïn", "label_en": "Bahrain", "adequacy": "not_adequate"},
    {"iso_code": "BD", "label_fr": "Bangladesh", "label_en": "Bangladesh", "adequacy": "not_adequate"},
    {"iso_code": "BB", "label_fr": "Barbade", "label_en": "Barbados", "adequacy": "not_adequate"},
    {"iso_code": "BZ", "label_fr": "Belize", "label_en": "Belize", "adequacy": "not_adequate"},
    {"iso_code": "BJ", "label_fr": "Bénin", "label_en": "Benin", "adequacy": "not_adequate"},
    {"iso_code": "BM", "label_fr": "Bermudes", "label_en": "Bermuda", "adequacy": "not_adequate"},
    {"iso_code": "BT", "label_fr": "Bhoutan", "label_en": "Bhutan", "adequacy": "not_adequate"},
    {"iso_code": "BY", "label_fr": "Biélorussie", "label_en": "Belarus", "adequacy": "not_adequate"},
    {"iso_code": "MM", "label_fr": "Birmanie", "label_en": "Myanmar", "adequacy": "not_adequate"},
    {"iso_code": "BO", "label_fr": "Bolivie", "label_en": "Bolivia", "adequacy": "not_adequate"},
    {"iso_code": "BA", "label_fr": "Bosnie-Herzégovine", "label_en": "Bosnia and Herzegovina", "adequacy": "not_adequate"},
    {"iso_code": "BW", "label_fr": "Botswana", "label_en": "Botswana", "adequacy": "not_adequate"},
    {"iso_code": "BR", "label_fr": "Brésil", "label_en": "Brazil", "adequacy": "not_adequate"},
    {"iso_code": "BN", "label_fr": "Brunei", "label_en": "Brunei", "adequacy": "not_adequate"},
    {"iso_code": "BF", "label_fr": "Burkina Faso", "label_en": "Burkina Faso", "adequacy": "not_adequate"},
    {"iso_code": "BI", "label_fr": "Burundi", "label_en": "Burundi", "adequacy": "not_adequate"},
    {"iso_code": "KH", "label_fr": "Cambodge", "label_en": "Cambodia", "adequacy": "not_adequate"},
    {"iso_code": "CM", "label_fr": "Cameroun", "label_en": "Cameroon", "adequacy": "not_adequate"},
    {"iso_code": "CV", "label_fr": "Cap-Vert", "label_en": "Cabo Verde", "adequacy": "not_adequate"},
    {"iso_code": "CL", "label_fr": "Chili", "label_en": "Chile", "adequacy": "not_adequate"},
    {"iso_code": "CN", "label_fr": "Chine", "label_en": "China", "adequacy": "not_adequate"},
    {"iso_code": "CO", "label_fr": "Colombie", "label_en": "Colombia", "adequacy": "not_adequate"},
    {"iso_code": "KM", "label_fr": "Comores", "label_en": "Comoros", "adequacy": "not_adequate"},
    {"iso_code": "CG", "label_fr": "Congo", "label_en": "Congo", "adequacy": "not_adequate"},
    {"iso_code": "KP", "label_fr": "Corée du Nord", "label_en": "North Korea", "adequacy": "not_adequate"},
    {"iso_code": "KR", "label_fr": "Corée du Sud", "label_en": "Republic of Korea", "adequacy": "adequate", "adequacy_decision": "Commission Implementing Decision (EU) 2022/254 of 17 December 2021"},
    {"iso_code": "CR", "label_fr": "Costa Rica", "label_en": "Costa Rica", "adequacy": "not_adequate"},
    {"iso_code": "CI", "label_fr": "Côte d'Ivoire", "label_en": "Côte d'Ivoire", "adequacy": "not_adequate"},
    {"iso_code": "CU", "label_fr": "Cuba", "label_en": "Cuba", "adequacy": "not_adequate"},
    {"iso_code": "DJ", "label_fr": "Djibouti", "label_en": "Djibouti", "adequacy": "not_adequate"},
    {"iso_code": "DM", "label_fr": "Dominique", "label_en": "Dominica", "adequacy": "not_adequate"},
    {"iso_code": "EG", "label_fr": "Egypte", "label_en": "Egypt", "adequacy": "not_adequate"},
    {"iso_code": "AE", "label_fr": "Emirats arabes unis", "label_en": "United Arab Emirates", "adequacy": "not_adequate"},
    {"iso_code": "EC", "label_fr": "Equateur", "label_en": "Ecuador", "adequacy": "not_adequate"},
    {"iso_code": "ER", "label_fr": "Erythrée", "label_en": "Eritrea", "adequacy": "not_adequate"},
    {"iso_code": "ET", "label_fr": "Éthiopie", "label_en": "Ethiopia", "adequacy": "not_adequate"},
    {"iso_code": "FJ", "label_fr": "Fidji", "label_en": "Fiji", "adequacy": "not_adequate"},
    {"iso_code": "GA", "label_fr": "Gabon", "label_en": "Gabon", "adequacy": "not_adequate"},
    {"iso_code": "GM", "label_fr": "Gambie", "label_en": "Gambia", "adequacy": "not_adequate"},
    {"iso_code": "GE", "label_fr": "Géorgie", "label_en": "Georgia", "adequacy": "not_adequate"},
    {"iso_code": "GH", "label_fr": "Ghana", "label_en": "Ghana", "adequacy": "not_adequate"},
    # Gibraltar is outside the UK adequacy decision.
    {"iso_code": "GI", "label_fr": "Gibraltar", "label_en": "Gibraltar", "adequacy": "not_adequate"},
    {"iso_code": "GD", "label_fr": "Grenade", "label_en": "Grenada", "adequacy": "not_adequate"},
    {"iso_code": "GL", "label_fr": "Groenland", "label_en": "Greenland", "adequacy": "not_adequate"},
    {"iso_code": "GT", "label_fr": "Guatemala", "label_en": "Guatemala", "adequacy": "not_adequate"},
    {"iso_code": "GN", "label_fr": "Guinée", "label_en": "Guinea", "adequacy": "not_adequate"},
    {"iso_code": "GQ", "label_fr": "Guinée équatoriale", "label_en": "Equatorial Guinea", "adequacy": "not_adequate"},
    {"iso_code": "GW", "label_fr": "Guinée-Bissau", "label_en": "Guinea-Bissau", "adequacy": "not_adequate"},
    {"iso_code": "GY", "label_fr": "Guyana", "label_en": "Guyana", "adequacy": "not_adequate"},
    {"iso_code": "HT", "label_fr": "Haïti", "label_en": "Haiti", "adequacy": "not_adequate"},
    {"iso_code": "HN", "label_fr": "Honduras", "label_en": "Honduras", "adequacy": "not_adequate"},
    {"iso_code": "HK", "label_fr": "Hong-Kong", "label_en": "Hong Kong", "adequacy": "not_adequate"},
    {"iso_code": "IN", "label_fr": "Inde", "label_en": "India", "adequacy": "not_adequate"},
    {"iso_code": "ID", "label_fr": "Indonésie", "label_en": "Indonesia", "adequacy": "not_adequate"},
    {"iso_code": "IQ", "label_fr": "Iraq", "label_en": "Iraq", "adequacy": "not_adequate"},
    {"iso_code": "IR", "label_fr": "Iran", "label_en": "Iran", "adequacy": "not_adequate"},
    {"iso_code": "JM", "label_fr": "Jamaïque", "label_en": "Jamaica", "adequacy": "not_adequate"},
    {"iso_code": "JP", "label_fr": "Japon", "label_en": "Japan", "adequacy": "adequate", "adequacy_decision": "Commission Implementing Decision (EU) 2019/419 of 23 January 2019"},
    {"iso_code": "JO", "label_fr": "Jordanie", "label_en": "Jordan", "adequacy": "not_adequate"},
    {"iso_code": "KZ", "label_fr": "Kazakhstan", "label_en": "Kazakhstan", "adequacy": "not_adequate"},
    {"iso_code": "KE", "label_fr": "Kenya", "label_en": "Kenya", "adequacy": "not_adequate"},
    {"iso_code": "KG", "label_fr": "Kirghizstan", "label_en": "Kyrgyzstan", "adequacy": "not_adequate"},
    {"iso_code": "KI", "label_fr": "Kiribati", "label_en": "Kiribati", "adequacy": "not_adequate"},
    {"iso_code": "XK", "label_fr": "Kosovo", "label_en": "Kosovo", "adequacy": "not_adequate"},
    {"iso_code": "KW", "label_fr": "Koweït", "label_en": "Kuwait", "adequacy": "not_adequate"},
    {"iso_code": "LA", "label_fr": "Laos", "label_en": "Laos", "adequacy": "not_adequate"},
    {"iso_code": "LS", "label_fr": "Lesotho", "label_en": "Lesotho", "adequacy": "not_adequate"},
    {"iso_code": "LB", "label_fr": "Liban", "label_en": "Lebanon", "adequacy": "not_adequate"},
    {"iso_code": "LR", "label_fr": "Liberia", "label_en": "Liberia", "adequacy": "not_adequate"},
    {"iso_code": "LY", "label_fr": "Libye", "label_en": "Libya", "adequacy": "not_adequate"},
    {"iso_code": "MK", "label_fr": "Macédoine", "label_en": "North Macedonia", "adequacy": "not_adequate"},
    {"iso_code": "MG", "label_fr": "Madagascar", "label_en": "Madagascar", "adequacy": "not_adequate"},
    {"iso_code": "MY", "label_fr": "Malaisie", "label_en": "Malaysia", "adequacy": "not_adequate"},
    {"iso_code": "MW", "label_fr": "Malawi", "label_en": "Malawi", "adequacy": "not_adequate"},
    {"iso_code": "MV", "label_fr": "Maldives", "label_en": "Maldives", "adequacy": "not_adequate"},
    {"iso_code": "ML", "label_fr": "Mali", "label_en": "Mali", "adequacy": "not_adequate"},
    {"iso_code": "MA", "label_fr": "Maroc", "label_en": "Morocco", "adequacy": "not_adequate"},
    {"iso_code": "MH", "label_fr": "Marshall", "label_en": "Marshall Islands", "adequacy": "not_adequate"},
    {"iso_code": "MU", "label_fr": "Maurice", "label_en": "Mauritius", "adequacy": "not_adequate"},
    {"iso_code": "MR", "label_fr": "Mauritanie", "label_en": "Mauritania", "adequacy": "not_adequate"},
    {"iso_code": "MX", "label_fr": "Mexique", "label_en": "Mexico", "adequacy": "not_adequate"},
    {"iso_code": "FM", "label_fr": "Micronésie", "label_en": "Micronesia", "adequacy": "not_adequate"},
    {"iso_code": "MD", "label_fr": "Moldavie", "label_en": "Moldova", "adequacy": "not_adequate"},
    {"iso_code": "MC", "label_fr": "Monaco", "label_en": "Monaco", "adequacy": "not_adequate"},
    {"iso_code": "MN", "label_fr": "Mongolie", "label_en": "Mongolia", "adequacy": "not_adequate"},
    {"iso_code": "ME", "label_fr": "Monténégro", "label_en": "Montenegro", "adequacy": "not_adequate"},
    {"iso_code": "MZ", "label_fr": "Mozambique", "label_en": "Mozambique", "adequacy": "not_adequate"},
    {"iso_code": "NA", "label_fr": "Namibie", "label_en": "Namibia", "adequacy": "not_adequate"},
    {"iso_code": "NR", "label_fr": "Nauru", "label_en": "Nauru", "adequacy": "not_adequate"},
    {"iso_code": "NP", "label_fr": "Népal", "label_en": "Nepal", "adequacy": "not_adequate"},
    {"iso_code": "NI", "label_fr": "Nicaragua", "label_en": "Nicaragua", "adequacy": "not_adequate"},
    {"iso_code": "NE", "label_fr": "Niger", "label_en": "Niger", "adequacy": "not_adequate"},
    {"iso_code": "NG", "label_fr": "Nigeria", "label_en": "Nigeria", "adequacy": "not_adequate"},
    {"iso_code": "OM", "label_fr": "Oman", "label_en": "Oman", "adequacy": "not_adequate"},
    {"iso_code": "UG", "label_fr": "Ouganda", "label_en": "Uganda", "adequacy": "not_adequate"},
    {"iso_code": "UZ", "label_fr": "Ouzbékistan", "label_en": "Uzbekistan", "adequacy": "not_adequate"},
    {"iso_code": "PK", "label_fr": "Pakistan", "label_en": "Pakistan", "adequacy": "not_adequate"},
    {"iso_code": "PW", "label_fr": "Palaos", "label_en": "Palau", "adequacy": "not_adequate"},
    {"iso_code": "PS", "label_fr": "Palestine", "label_en": "Palestine", "adequacy": "not_adequate"},
    {"iso_code": "PA", "label_fr": "Panama", "label_en": "Panama", "adequacy": "not_adequate"},
    {"iso_code": "PG", "label_fr": "Papouasie-Nouvelle-Guinée", "label_en": "Papua New Guinea", "adequacy": "not_adequate"},
    {"iso_code": "PY", "label_fr": "Paraguay", "label_en": "Paraguay", "adequacy": "not_adequate"},
    {"iso_code": "PE", "label_fr": "Pérou", "label_en": "Peru", "adequacy": "not_adequate"},
    {"iso_code": "PH", "label_fr": "Philippines", "label_en": "Philippines", "adequacy": "not_adequate"},
    {"iso_code": "PR", "label_fr": "Porto Rico", "label_en": "Puerto Rico", "adequacy": "not_adequate"},
    {"iso_code": "QA", "label_fr": "Qatar", "label_en": "Qatar", "adequacy": "not_adequate"},
    {"iso_code": "CD", "label_fr": "Rép. dém. du Congo", "label_en": "Democratic Republic of the Congo", "adequacy": "not_adequate"},
    {"iso_code": "CF", "label_fr": "République Centrafricaine", "label_en": "Central African Republic", "adequacy": "not_adequate"},
    {"iso_code": "DO", "label_fr": "République Dominicaine", "label_en": "Dominican Republic", "adequacy": "not_adequate"},
    {"iso_code": "RU", "label_fr": "Russie", "label_en": "Russia", "adequacy": "not_adequate"},
    {"iso_code": "RW", "label_fr": "Rwanda", "label_en": "Rwanda", "adequacy": "not_adequate"},
    {"iso_code": "EH", "label_fr": "Sahara Occidental", "label_en": "Western Sahara", "adequacy": "not_adequate"},
    {"iso_code": "KN", "label_fr": "Saint-Christophe-et-Niévès", "label_en": "Saint Kitts and Nevis", "adequacy": "not_adequate"},
    {"iso_code": "LC", "label_fr": "Sainte-Lucie", "label_en": "Saint Lucia", "adequacy": "not_adequate"},
    {"iso_code": "SM", "label_fr": "Saint-Marin", "label_en": "San Marino", "adequacy": "not_adequate"},
    {"iso_code": "VC", "label_fr": "Saint-Vincent-et-les Grenadines", "label_en": "Saint Vincent and the Grenadines", "adequacy": "not_adequate"},
    {"iso_code": "SB", "label_fr": "Salomon", "label_en": "Solomon Islands", "adequacy": "not_adequate"},
    {"iso_code": "SV", "label_fr": "Salvador", "label_en": "El Salvador", "adequacy": "not_adequate"},
    {"iso_code": "WS", "label_fr": "Samoa", "label_en": "Samoa", "adequacy": "not_adequate"},
    {"iso_code": "ST", "label_fr": "Sao Tomé-et-Principe", "label_en": "Sao Tome and Principe", "adequacy": "not_adequate"},
    {"iso_code": "SN", "label_fr": "Sénégal", "label_en": "Senegal", "adequacy": "not_adequate"},
    {"iso_code": "RS", "label_fr": "Serbie", "label_en": "Serbia", "adequacy": "not_adequate"},
    {"iso_code": "SC", "label_fr": "Seychelles", "label_en": "Seychelles", "adequacy": "not_adequate"},
    {"iso_code": "SL", "label_fr": "Sierra Leone", "label_en": "Sierra Leone", "adequacy": "not_adequate"},
    {"iso_code": "SG", "label_fr": "Singapour", "label_en": "Singapore", "adequacy": "not_adequate"},
    {"iso_code": "SO", "label_fr": "Somalie", "label_en": "Somalia", "adequacy": "not_adequate"},
    {"iso_code": "SD", "label_fr": "Soudan", "label_en": "Sudan", "adequacy": "not_adequate"},
    {"iso_code": "SS", "label_fr": "Soudan du Sud", "label_en": "South Sudan", "adequacy": "not_adequate"},
    {"iso_code": "LK", "label_fr": "Sri Lanka", "label_en": "Sri Lanka", "adequacy": "not_adequate"},
    {"iso_code": "SR", "label_fr": "Suriname", "label_en": "Suriname", "adequacy": "not_adequate"},
    {"iso_code": "SZ", "label_fr": "Swaziland", "label_en": "Eswatini", "adequacy": "not_adequate"},
    {"iso_code": "SY", "label_fr": "Syrie", "label_en": "Syria", "adequacy": "not_adequate"},
    {"iso_code": "TJ", "label_fr": "Tadjikistan", "label_en": "Tajikistan", "adequacy": "not_adequate"},
    {"iso_code": "TW", "label_fr": "Taiwan", "label_en": "Taiwan", "adequacy": "not_adequate"},
    {"iso_code": "TZ", "label_fr": "Tanzanie", "label_en": "Tanzania", "adequacy": "not_adequate"},
    {"iso_code": "TD", "label_fr": "Tchad", "label_en": "Chad", "adequacy": "not_adequate"},
    {"iso_code": "TH", "label_fr": "Thaïlande", "label_en": "Thailand", "adequacy": "not_adequate"},
    {"iso_code": "TL", "label_fr": "Timor oriental", "label_en": "Timor-Leste", "adequacy": "not_adequate"},
    {"iso_code": "TG", "label_fr": "Togo", "label_en": "Togo", "adequacy": "not_adequate"},
    {"iso_code": "TO", "label_fr": "Tonga", "label_en": "Tonga", "adequacy": "not_adequate"},
    {"iso_code": "TT", "label_fr": "Trinité-et-Tobago", "label_en": "Trinidad and Tobago", "adequacy": "not_adequate"},
    {"iso_code": "TN", "label_fr": "Tunisie", "label_en": "Tunisia", "adequacy": "not_adequate"},
    {"iso_code": "TM", "label_fr": "Turkménistan", "label_en": "Turkmenistan", "adequacy": "not_adequate"},
    {"iso_code": "TR", "label_fr": "Turquie", "label_en": "Türkiye", "adequacy": "not_adequate"},
    {"iso_code": "TV", "label_fr": "Tuvalu", "label_en": "Tuvalu", "adequacy": "not_adequate"},
    {"iso_code": "UA", "label_fr": "Ukraine", "label_en": "Ukraine", "adequacy": "not_adequate"},
    {"iso_code": "VU", "label_fr": "Vanuatu", "label_en": "Vanuatu", "adequacy": "not_adequate"},
    {"iso_code": "VE", "label_fr": "Venezuela", "label_en": "Venezuela", "adequacy": "not_adequate"},
    {"iso_code": "VN", "label_fr": "Viêt Nam", "label_en": "Viet Nam", "adequacy": "not_adequate"},
    {"iso_code": "YE", "label_fr": "Yémen", "label_en": "Yemen", "adequacy": "not_adequate"},
    {"iso_code": "ZM", "label_fr": "Zambie", "label_en": "Zambia", "adequacy": "not_adequate"},
    {"iso_code": "ZW", "label_fr": "Zimbabwe", "label_en": "Zimbabwe", "adequacy": "not_adequate"},
]

# --- Canaux ------------------------------------------------------------------------------
# ``electronic``: prospecting through it needs prior consent (CPCE L.34-5: automated calling
# systems, fax, electronic mail, which covers SMS). Phone calls by a person: Code de la
# consommation L.223-1 (consent since 11 August 2026); postal mail stays opt-out.

CHANNELS = [
    {"code": "email", "label_fr": "Courrier électronique", "label_en": "Email", "electronic": True},
    {"code": "sms", "label_fr": "SMS / MMS", "label_en": "Text message (SMS / MMS)", "electronic": True},
    {"code": "phone", "label_fr": "Téléphone", "label_en": "Phone call", "electronic": False},
    {"code": "postal", "label_fr": "Courrier postal", "label_en": "Postal mail", "electronic": False},
    {"code": "push", "label_fr": "Notification push", "label_en": "Push notification", "electronic": True},
]

# Fields each model's rows may omit, with the value they then get (so a value removed from the
# lists above is cleared on the next seed rather than left behind).
_DEFAULTS = {
    "DataSubjectCategory": {"dpv_concept": ""},
    "DataCategory": {"dpv_concept": "", "special_category": False},
    "RecipientType": {"dpv_concept": ""},
    "SecurityMeasure": {"dpv_concept": ""},
    "TransferSafeguard": {"dpv_concept": "", "is_valid": True, "validity_note": "", "gdpr_article": ""},
    "Country": {"dpv_concept": "", "adequacy_decision": ""},
    "Channel": {"dpv_concept": ""},
}


def _country_rows() -> list[dict]:
    return [{"code": row["iso_code"].lower(), **row} for row in COUNTRIES]


def reference_rows() -> dict[str, list[dict]]:
    """Every reference row by model name, ``code`` included, in the order they are seeded."""
    return {
        "DataSubjectCategory": DATA_SUBJECT_CATEGORIES,
        "DataCategory": DATA_CATEGORIES,
        "RecipientType": RECIPIENT_TYPES,
        "SecurityMeasure": SECURITY_MEASURES,
        "TransferSafeguard": TRANSFER_SAFEGUARDS,
        "Country": _country_rows(),
        "Channel": CHANNELS,
    }


def _sync(model, rows: list[dict], defaults: dict) -> None:
    """``update_or_create`` by code, without writing (nor adding a history row) when nothing changed."""
    existing = {row.code: row for row in model.objects.all()}
    for position, row in enumerate(rows, start=1):
        values = {**defaults, **row, "position": position}
        code = values.pop("code")
        obj = existing.get(code)
        if obj is None:
            model.objects.create(code=code, **values)
            continue
        changed = [name for name, value in values.items() if getattr(obj, name) != value]
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            obj.save(update_fields=changed)


def seed_reference_data(apps) -> None:
    """Create or update every reference row by its code (idempotent). ``apps``: an app registry."""
    for model_name, rows in reference_rows().items():
        _sync(apps.get_model("registry", model_name), rows, _DEFAULTS[model_name])
