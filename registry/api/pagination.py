from rest_framework.pagination import LimitOffsetPagination


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """A page is never larger than this, whatever ?limit= asks (a huge limit is not a 500)."""

    max_limit = 1000
