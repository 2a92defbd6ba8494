# Rights-request models arrive with the rights issue.
