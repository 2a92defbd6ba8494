from django.core.files.storage import FileSystemStorage


class PrivateStorage(FileSystemStorage):
    """Files that must never have a public URL (FileSystemStorage would fall back to MEDIA_URL)."""

    def url(self, name):
        raise ValueError("Private files have no URL: serve them through the job download view.")
