"""HTML pages of a simulated hoster: front page, galleries, "file removed" and not-found pages.

Galleries link images the way real sites do: `<img src>`, `srcset`, `og:image` and plain
`<a href>` to image files, so a watch crawler has every form to find re-uploads in. Videos
(paths ending .mp4) appear as `<video controls><source src type="video/mp4"></video>`, every
third one as a plain `<a href>` download link.
"""

from __future__ import annotations

from html import escape


def _doc(title: str, body: str, og_image: str | None = None) -> bytes:
    og = f'<meta property="og:image" content="{escape(og_image)}">' if og_image else ""
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"{og}</head><body>{body}</body></html>"
    ).encode()


def front(hoster: str, galleries: int, og_image: str | None) -> bytes:
    links = "".join(f'<li><a href="/g/{k}.html">Album {k}</a></li>' for k in range(galleries))
    return _doc(
        hoster, f"<h1>{escape(hoster)}</h1><p>Free image hosting.</p><ul>{links}</ul>", og_image
    )


def gallery(hoster: str, k: int, paths: list[str]) -> bytes:
    """Album `k` showing `paths` (absolute paths on this hoster)."""
    parts = []
    stills = [p for p in paths if not p.endswith(".mp4")]
    for m, path in enumerate(p for p in paths if p.endswith(".mp4")):
        v = escape(path)
        if m % 3 == 2:
            parts.append(f'<p><a href="{v}">download video {m}</a></p>')
        else:
            parts.append(
                f'<figure><video controls width="320"><source src="{v}" type="video/mp4">'
                "</video></figure>"
            )
    for n, path in enumerate(stills):
        p = escape(path)
        if n % 3 == 0:
            parts.append(f'<figure><img src="{p}" alt="image {n}"></figure>')
        elif n % 3 == 1:
            parts.append(
                f'<figure><img src="/static/thumb.png" srcset="{p} 2x" alt="image {n}"></figure>'
            )
        else:
            parts.append(f'<p><a href="{p}">download image {n}</a></p>')
    body = f'<h1>Album {k}</h1>{"".join(parts)}<p><a href="/">home</a></p>'
    return _doc(f"{hoster} album {k}", body, stills[0] if stills else None)


def removed(hoster: str) -> bytes:
    return _doc(
        "File removed",
        f"<h1>This file has been removed</h1><p>{escape(hoster)} "
        "removed this file after a report.</p>",
    )


def not_found(hoster: str) -> bytes:
    return _doc("Not found", f"<h1>404 Not Found</h1><p>{escape(hoster)}</p>")


def html_instead(hoster: str) -> bytes:
    return _doc(
        "Image unavailable",
        f"<h1>Image unavailable</h1><p>{escape(hoster)}: this "
        'image is no longer available.</p><p><a href="/">home</a></p>',
    )


ROBOTS = b"User-agent: *\nAllow: /\n"
