#!/usr/bin/env python3
"""Writes the small PDF seeds of the `extract_pdf` fuzz target to fuzz/seeds/extract_pdf/.

libFuzzer mutates its seeds; large ones (the real PDFs of `make testdata`, up to 400 KB)
take most of a run to load under AddressSanitizer and leave no time to mutate. The seeds
here are a few KB each and cover the PDF structures the extractor parses:
  * hand-written files: plain and FlateDecode content streams, an xref stream with an object
    stream (PDF 1.5), an incremental update, an inherited page-tree resource, text operators
    (Tj, TJ, ', "), a font with a ToUnicode map, a broken xref offset;
  * the first page of a few real documents from `make testdata` (TeX Live manuals), with
    embedded font programs and images removed so that each stays small.

Run by hand from the repository root (needs `pypdf`, e.g. in .cache/bench-venv):

    .cache/bench-venv/bin/python scripts/make-pdf-seeds.py
"""

from __future__ import annotations

import pathlib
import sys
import zlib

OUT = pathlib.Path("fuzz/seeds/extract_pdf")
REAL = sorted(pathlib.Path(".cache/testdata/pdf").rglob("*.pdf"))
PAGES = 5
LIMIT = 12_000


def pdf(objects: list[bytes], root: int = 1, version: str = "1.4", broken_xref: bool = False) -> bytes:
    """A PDF of `objects` (numbered from 1) with a classic xref table and trailer."""
    out = bytearray(f"%PDF-{version}\n%\xe2\xe3\xcf\xd3\n".encode("latin-1"))
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for o in offsets:
        out += b"%010d 00000 n \n" % (o + (7 if broken_xref else 0))
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def stream(data: bytes, compress: bool = False, extra: bytes = b"") -> bytes:
    if compress:
        data = zlib.compress(data)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
TEXT = (
    b"BT /F1 12 Tf 72 720 Td (Semantic search engines index documents.) Tj 0 -16 Td "
    b"[(Kerned) -250 (text) 120 (array)] TJ (Next line) ' 2 1 (Spaced \\(escaped\\)) \" "
    b"T* <48656c6c6f20686578> Tj ET"
)


def page_objects(content: bytes, compress: bool, font_at_pages: bool = False) -> list[bytes]:
    res = b"/Resources << /Font << /F1 4 0 R >> >>"
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 %s/MediaBox [0 0 612 792] >>" % (res + b" " if font_at_pages else b""),
        b"<< /Type /Page /Parent 2 0 R %s/Contents 5 0 R >>" % (b"" if font_at_pages else res + b" "),
        FONT,
        stream(content, compress),
    ]


def handmade() -> dict[str, bytes]:
    seeds = {
        "plain.pdf": pdf(page_objects(TEXT, False)),
        "flate.pdf": pdf(page_objects(TEXT, True)),
        "inherited-resources.pdf": pdf(page_objects(TEXT, True, font_at_pages=True)),
        "broken-xref.pdf": pdf(page_objects(TEXT, False), broken_xref=True),
    }
    # A font with a ToUnicode CMap mapping two-byte codes.
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /U def "
        b"1 begincodespacerange <0000> <FFFF> endcodespacerange 2 beginbfchar "
        b"<0001> <0041> <0002> <00E9> endbfchar endcmap end end"
    )
    objs = page_objects(b"BT /F1 12 Tf 72 700 Td <000100020001> Tj ET", True)
    objs[3] = (
        b"<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H "
        b"/DescendantFonts [7 0 R] /ToUnicode 6 0 R >>"
    )
    objs.append(stream(cmap, True))
    objs.append(b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /X /CIDSystemInfo "
                b"<< /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>")
    seeds["tounicode.pdf"] = pdf(objs)
    # Two pages, the second added by an incremental update.
    base = pdf(page_objects(TEXT, False))
    xref_at = int(base.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    add = bytearray()
    o6 = len(base)
    add += b"6 0 obj\n" + stream(b"BT /F1 10 Tf 72 600 Td (Second page) Tj ET") + b"\nendobj\n"
    o7 = len(base) + len(add)
    add += b"7 0 obj\n<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 4 0 R >> >> /Contents 6 0 R >>\nendobj\n"
    o2 = len(base) + len(add)
    add += b"2 0 obj\n<< /Type /Pages /Kids [3 0 R 7 0 R] /Count 2 /MediaBox [0 0 612 792] >>\nendobj\n"
    xref = len(base) + len(add)
    add += b"xref\n0 1\n0000000000 65535 f \n2 1\n%010d 00000 n \n6 2\n%010d 00000 n \n%010d 00000 n \n" % (o2, o6, o7)
    add += b"trailer\n<< /Size 8 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (xref_at, xref)
    seeds["incremental.pdf"] = base + bytes(add)
    # PDF 1.5: objects 4 and 5 in an object stream, found through an xref stream.
    inner = [FONT, stream(TEXT, True)]
    header = b" ".join(b"%d %d" % (n, off) for n, off in zip((4, 5), offsets_of(inner)))
    body = header + b" " + b" ".join(inner)
    objs = page_objects(TEXT, True)[:3]
    out = bytearray(b"%PDF-1.5\n")
    offsets = []
    for i, b in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + b + b"\nendobj\n"
    offsets.append(len(out))
    out += b"6 0 obj\n" + stream(body, True, b" /Type /ObjStm /N 2 /First %d" % (len(header) + 1)) + b"\nendobj\n"
    xref_pos = len(out)
    rows = [(0, 0, 65535)] + [(1, o, 0) for o in offsets[:3]] + [(2, 6, 0), (2, 6, 1)] + [(1, offsets[3], 0), (1, xref_pos, 0)]
    data = b"".join(bytes([t]) + o.to_bytes(4, "big") + g.to_bytes(2, "big") for t, o, g in rows)
    out += b"7 0 obj\n" + stream(data, True, b" /Type /XRef /Size 8 /W [1 4 2] /Root 1 0 R") + b"\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref_pos
    seeds["object-stream.pdf"] = bytes(out)
    return seeds


def offsets_of(parts: list[bytes]) -> list[int]:
    out, at = [], 0
    for p in parts:
        out.append(at)
        at += len(p) + 1
    return out


def real_pages() -> dict[str, bytes]:
    from io import BytesIO

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ContentStream, NameObject

    seeds = {}
    if not REAL:
        print("no real PDFs: run `make testdata` first", file=sys.stderr)
    for p in REAL:
        if len(seeds) == PAGES:
            break
        try:
            reader = PdfReader(p)
            if not reader.pages:
                continue
        except Exception:  # a damaged test file: not a seed
            continue
        writer = PdfWriter()
        page = writer.add_page(reader.pages[0])
        # The first few text objects of the page, and only the fonts they use.
        content = page.get_contents().get_data()
        end = 0
        for _ in range(3):
            found = content.find(b"ET", end)
            if found < 0:
                break
            end = found + 2
        content = content[: end or len(content)]
        page.replace_contents(ContentStream(None, writer))
        page.get_contents().set_data(content)
        fonts = page.get("/Resources", {}).get("/Font", {})
        for name in list(fonts.keys()):
            if name.encode() + b" " not in content:
                del fonts[name]
        for font in fonts.values():
            font = font.get_object()
            desc = font.get("/FontDescriptor")
            if desc is not None:
                desc = desc.get_object()
                for key in ("/FontFile", "/FontFile2", "/FontFile3"):
                    if key in desc:
                        del desc[NameObject(key)]
        writer.remove_images()
        writer.remove_annotations(subtypes=None)
        for key in ("/Annots", "/Thumb", "/PieceInfo", "/Metadata", "/StructParents"):
            if key in page:
                del page[NameObject(key)]
        for key in ("/Outlines", "/Metadata", "/StructTreeRoot", "/Names", "/OpenAction"):
            if key in writer.root_object:
                del writer.root_object[NameObject(key)]
        page.compress_content_streams()
        writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=True)
        buf = BytesIO()
        writer.write(buf)
        data = buf.getvalue()
        if len(data) <= LIMIT:
            seeds[f"page-{p.stem}.pdf"] = data
    return seeds


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    seeds = {**handmade(), **real_pages()}
    for name, data in sorted(seeds.items()):
        (OUT / name).write_bytes(data)
        print(f"{OUT / name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
