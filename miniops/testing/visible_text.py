"""The text a person sees on a console page: element text outside scripts, styles
and hidden elements, plus the attributes a browser shows (placeholders, titles,
button values). Used by the untranslated-strings sweep."""

from __future__ import annotations

from html.parser import HTMLParser

_INVISIBLE = {"script", "style", "noscript", "template", "head", "svg"}
#: Raw documents shown as they came (a WeChat Pay notice): not console words.
_RAW = {"pre"}
#: Icon ligatures (``<span class="material-symbols-outlined">search</span>``).
_ICON_CLASSES = ("material-symbols", "material-icons")
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
    "source", "track", "wbr",
}  # fmt: skip
_SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []
        self.chunks: list[str] = []

    def _hidden(self) -> bool:
        return any(hidden for _tag, hidden in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        classes = values.get("class") or ""
        hidden = (
            tag in _INVISIBLE
            or tag in _RAW
            or any(icon in classes for icon in _ICON_CLASSES)
            or "hidden" in values
            or (tag == "input" and values.get("type") == "hidden")
            or "display: none"
            in (values.get("style") or "").replace("display:none", "display: none")
        )
        if not hidden and not self._hidden():
            for name in _SHOWN_ATTRIBUTES:
                if values.get(name):
                    self.chunks.append(str(values[name]))
            shown_value = values.get("type") in (None, "text", "number", "submit", "button")
            if tag == "input" and shown_value and values.get("value"):
                self.chunks.append(str(values["value"]))
        if tag not in _VOID:
            self.stack.append((tag, hidden))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        if data.strip() and not self._hidden():
            self.chunks.append(data.strip())


def visible_text(html: str | bytes) -> list[str]:
    """The visible text chunks of an HTML page, in document order."""
    collector = _Collector()
    collector.feed(html.decode() if isinstance(html, bytes) else html)
    collector.close()
    return collector.chunks
