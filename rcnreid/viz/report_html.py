"""Building blocks of a self-contained HTML page: escaped text, embedded images, coloured cells.

The page is one file that opens from disk in any browser: images are embedded as base64
``data:`` URIs, the style sheet is inline, and there is no script at all.
"""
import base64
import html

from rcnreid.store.atomic import write_text

CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 80em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
td.num small { color: #444; }
.note { color: #555; font-size: 0.85em; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; margin: 0.25em 0; }
figure { margin: 0.5em 0 1.5em 0; } figcaption { font-size: 0.85em; color: #444; }
"""


def esc(text):
    """HTML-escaped text (``None`` as an empty string)."""
    return html.escape("" if text is None else str(text))


def data_uri(data, mime="image/png"):
    """A ``data:`` URI of ``data`` (bytes)."""
    return "data:%s;base64,%s" % (mime, base64.b64encode(bytes(data)).decode("ascii"))


def image(path_or_bytes, alt, caption=None, mime="image/png"):
    """A ``<figure>`` with the image embedded (a file path or the PNG's bytes) and a caption."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        data = path_or_bytes
    else:
        with open(path_or_bytes, "rb") as f:
            data = f.read()
    cap = "<figcaption>%s</figcaption>" % esc(caption) if caption else ""
    return '<figure><img src="%s" alt="%s">%s</figure>' % (data_uri(data, mime), esc(alt), cap)


def diff_colour(diff, full=20.0):
    """Background of a cell whose number is ``diff`` points from the paper's: white at 0,
    shading to green above and red below, full colour at ``full`` points; grey when unknown."""
    if diff is None:
        return "#eeeeee"
    a = min(abs(float(diff)) / full, 1.0)
    light = int(round(255 - 120 * a))
    if diff >= 0:
        return "#%02x%02x%02x" % (light, 255, light)
    return "#%02x%02x%02x" % (255, light, light)


def table(header, rows):
    """A ``<table>``: ``header`` a list of strings; ``rows`` lists of cells, each a string
    (escaped) or a dict ``{"html": ..., "cls": ..., "bg": ...}`` (``html`` inserted as is)."""
    out = ["<table>", "<tr>" + "".join("<th>%s</th>" % esc(h) for h in header) + "</tr>"]
    for r in rows:
        cells = []
        for c in r:
            if isinstance(c, dict):
                attrs = ""
                if c.get("cls"):
                    attrs += ' class="%s"' % esc(c["cls"])
                if c.get("bg"):
                    attrs += ' style="background:%s"' % esc(c["bg"])
                cells.append("<td%s>%s</td>" % (attrs, c.get("html", "")))
            else:
                cells.append("<td>%s</td>" % esc(c))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def page(title, body):
    """The whole document: ``body`` (HTML) under an ``<h1>`` of ``title``."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n<h1>%s</h1>\n%s\n"
            "</body>\n</html>\n" % (esc(title), CSS, esc(title), body))


def write_page(path, title, body):
    """Write the page atomically; returns ``path``."""
    write_text(path, page(title, body))
    return path
