# Consent models arrive with the consent issue.
