"""MIME types and file names from media URLs, independent of the machine's mimetypes data."""

import pytest

from rasa_chattigo.outbound._mediatypes import file_name_of, mime_type_of


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x.example.com/a.jpg", "image/jpeg"),
        ("https://x.example.com/a.JPEG", "image/jpeg"),
        ("https://x.example.com/a.png?size=large", "image/png"),
        ("https://x.example.com/a.webp#frag", "image/webp"),
        ("https://x.example.com/voz.ogg", "audio/ogg"),
        ("https://x.example.com/voz.opus", "audio/ogg"),
        ("https://x.example.com/tema.mp3", "audio/mpeg"),
        ("https://x.example.com/nota.m4a", "audio/mp4"),
        ("https://x.example.com/clip.mp4", "video/mp4"),
        ("https://x.example.com/clip.3gp", "video/3gpp"),
        ("https://x.example.com/doc.pdf", "application/pdf"),
        ("https://x.example.com/doc.docx",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("https://x.example.com/plan.xlsx",
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("https://x.example.com/notas.txt", "text/plain"),
        ("Informe.PDF", "application/pdf"),
    ],
)
def test_known_extensions(url, expected):
    assert mime_type_of(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://x.example.com/pic?format=png",
        "https://x.example.com/archivo.xyz",
        "https://x.example.com/",
        "https://x.example.com/.png",
        "https://x.example.com/png",
    ],
)
def test_unknown_extension_gives_the_default(url):
    assert mime_type_of(url, "image/jpeg") == "image/jpeg"
    assert mime_type_of(url) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x.example.com/docs/Lista%20de%20precios.pdf?t=1", "Lista de precios.pdf"),
        ("https://x.example.com/a/Men%C3%BA.pdf#p2", "Menú.pdf"),
        ("https://x.example.com/", ""),
        ("https://x.example.com", ""),
    ],
)
def test_file_name_is_the_decoded_last_path_segment(url, expected):
    assert file_name_of(url) == expected
