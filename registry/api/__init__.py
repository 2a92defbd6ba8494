# Where config/urls.py mounts the REST API, its schema and its docs.
PATH_PREFIX = "/api/"
