"""MIME types and file names of media URLs, from a fixed table (same answer on every machine)."""

import logging
import posixpath
from typing import Dict, Optional
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

#: The fallback for an image whose URL names no known extension.
DEFAULT_IMAGE_TYPE = "image/jpeg"

#: The fallback for any other file: WhatsApp delivers it as a document.
DEFAULT_FILE_TYPE = "application/octet-stream"

# Explicit on purpose: the `mimetypes` module reads /etc/mime.types and the Windows registry,
# so its answers differ between machines (e.g. `.ogg`, `.m4a`, `.webp`, `.docx`).
MIME_TYPES: Dict[str, str] = {
    # images
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jpe": "image/jpeg",
    "jfif": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "heic": "image/heic",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "svg": "image/svg+xml",
    # audio
    "aac": "audio/aac",
    "amr": "audio/amr",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "wav": "audio/wav",
    # video
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "3gp": "video/3gpp",
    "3gpp": "video/3gpp",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "avi": "video/x-msvideo",
    "mkv": "video/x-matroska",
    # documents
    "pdf": "application/pdf",
    "txt": "text/plain",
    "csv": "text/csv",
    "rtf": "application/rtf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "zip": "application/zip",
    "json": "application/json",
    "xml": "application/xml",
    "html": "text/html",
    "htm": "text/html",
    "vcf": "text/vcard",
}


def file_name_of(url: str) -> str:
    """The last path segment of `url`, percent-decoded; "" when the path names no file.

    Query string and fragment are ignored: `https://x.io/a/Men%C3%BA.pdf?v=2` gives `Menú.pdf`.
    """
    path = urlsplit(url).path
    return posixpath.basename(unquote(path))


def mime_type_of(name_or_url: str, default: Optional[str] = None) -> Optional[str]:
    """The MIME type for the extension of a URL's path or a file name, else `default`.

    The extension is matched case-insensitively (`FOTO.JPG` is `image/jpeg`); a query string
    or fragment never counts (`/pic?format=png` has no extension).
    """
    name = file_name_of(name_or_url)
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return default
    return MIME_TYPES.get(extension.lower(), default)
