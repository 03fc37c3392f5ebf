"""Parse Bot API formatted text (HTML, MarkdownV2, Markdown) into plain text and entities.

The parsers follow the structure of tdlib's ``parse_html`` / ``parse_markdown_v2``
so that error descriptions and byte offsets look like the real Bot API's.
Entity offsets and lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Entity = dict[str, Any]

_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "tg-time",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_HTML_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# tdlib's is_space(): the characters that end tag names and separate attributes.
_SPACE = " \t\r\n\0\v\f"
_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"
# tdlib prints the entity type's C++ name in "Can't find end of ... entity" errors.
_MDV2_TYPE_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "pre_code": "PreCode",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


class EntityParseError(ValueError):
    """Signal text that the Bot API would reject with "can't parse entities"."""


def utf16_len(text: str) -> int:
    """Return the length of text in UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _sort_entities(entities: list[Entity]) -> list[Entity]:
    # Put "type" first so dumped entities read like the Bot API documentation.
    ordered = [{"type": e["type"], **e} for e in entities]
    return sorted(ordered, key=lambda e: (e["offset"], -e["length"]))


@dataclass
class _Open:
    tag: str
    argument: str
    offset: int
    text_index: int
    byte_offset: int
    extra: dict[str, Any]


def parse_html(text: str, *, strict: bool = True) -> tuple[str, list[Entity]]:
    """Parse HTML-formatted text; return the visible text and its entities.

    With ``strict`` every ``<``, ``>`` and ``&`` that is not part of a tag or
    an HTML entity is rejected, which is the rule the Bot API documents;
    tdlib itself tolerates a bare ``>`` and an unknown ``&``.
    """
    out: list[str] = []
    utf16 = 0
    stack: list[_Open] = []
    entities: list[Entity] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            decoded, end = _decode_html_entity(text, i)
            if decoded is not None:
                out.append(decoded)
                utf16 += utf16_len(decoded)
                i = end
                continue
            if strict:
                raise EntityParseError(
                    f'Character "&" at byte offset {_byte_offset(text, i)} must be escaped '
                    'as "&amp;"'
                )
        if c == ">" and strict:
            raise EntityParseError(
                f'Character ">" at byte offset {_byte_offset(text, i)} must be escaped as "&gt;"'
            )
        if c != "<":
            out.append(c)
            utf16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        i += 1
        if i >= n or text[i] != "/":
            i, opened = _parse_start_tag(text, begin, i)
            opened.offset = utf16
            opened.text_index = len(out)
            stack.append(opened)
            continue
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
        i += 1
        name_start = i
        while i < n and text[i] not in _SPACE and text[i] != ">":
            i += 1
        end_name = text[name_start:i].lower()
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n or text[i] != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
        i += 1
        opened = stack.pop()
        if end_name and end_name != opened.tag:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                f'expected "</{opened.tag}>", found "</{end_name}>"'
            )
        length = utf16 - opened.offset
        if length == 0:
            continue
        entity = _html_entity(opened, length, "".join(out[opened.text_index :]))
        if entity is None:
            continue
        if opened.tag == "pre" and entities:
            last = entities[-1]
            # <pre><code class="language-x">...</code></pre> is one pre entity with a language.
            if (
                last["type"] == "code"
                and "language" in last
                and last["offset"] == opened.offset
                and last["length"] == length
            ):
                entities.pop()
                entity["language"] = last["language"]
        entities.append(entity)
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    for entity in entities:
        if entity["type"] == "code" and "language" in entity:
            # A language only means something on pre; a bare code keeps none.
            del entity["language"]
    return "".join(out), _sort_entities(entities)


def _parse_start_tag(text: str, begin: int, i: int) -> tuple[int, _Open]:
    n = len(text)
    while i < n and text[i] not in _SPACE and text[i] != ">":
        i += 1
    if i >= n:
        raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
    tag = text[begin + 1 : i].lower()
    if tag not in _HTML_TAGS:
        raise EntityParseError(
            f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
        )
    argument = ""
    extra: dict[str, Any] = {}
    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if text[i] == ">":
            i += 1
            break
        attr_start = i
        while i < n and text[i] not in _SPACE and text[i] not in "=>":
            i += 1
        attr = text[attr_start:i].lower()
        if not attr:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n or text[i] != "=":
            if tag == "blockquote" and attr == "expandable":
                extra["expandable"] = True
            continue
        i += 1
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if text[i] not in "'\"":
            token_start = i
            while i < n and (text[i].isalnum() or text[i] in ".-"):
                i += 1
            value = text[token_start:i].lower()
            if i >= n or (text[i] not in _SPACE and text[i] != ">"):
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {_byte_offset(text, token_start)}"
                )
        else:
            quote = text[i]
            i += 1
            chars: list[str] = []
            while i < n and text[i] != quote:
                if text[i] == "&":
                    decoded, end = _decode_html_entity(text, i)
                    if decoded is not None:
                        chars.append(decoded)
                        i = end
                        continue
                chars.append(text[i])
                i += 1
            if i >= n:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                )
            i += 1
            value = "".join(chars)
        if tag == "a" and attr == "href":
            argument = value
        elif tag == "code" and attr == "class" and value.startswith("language-"):
            argument = value[len("language-") :]
        elif tag == "span" and attr == "class" and value.startswith("tg-"):
            argument = value[len("tg-") :]
        elif tag == "tg-emoji" and attr == "emoji-id":
            argument = value
        elif tag == "tg-time" and attr in ("unix", "format"):
            extra[attr] = value
        elif tag == "blockquote" and attr == "expandable":
            extra["expandable"] = True
    if tag == "span" and argument != "spoiler":
        raise EntityParseError(
            f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, begin)}'
        )
    return i, _Open(tag, argument, 0, 0, _byte_offset(text, begin), extra)


def _html_entity(opened: _Open, length: int, inner_text: str) -> Entity | None:
    tag = opened.tag
    entity: Entity = {"offset": opened.offset, "length": length}
    if tag in _HTML_TYPES:
        entity["type"] = _HTML_TYPES[tag]
        if tag == "code" and opened.argument:
            entity["language"] = opened.argument
        return entity
    if tag == "a":
        url = opened.argument or inner_text
        if not url:
            return None
        entity["type"] = "text_link"
        entity["url"] = url
        return entity
    if tag == "blockquote":
        entity["type"] = "expandable_blockquote" if opened.extra.get("expandable") else "blockquote"
        return entity
    if tag == "tg-emoji":
        if not opened.argument:
            raise EntityParseError("Custom emoji entity must contain a custom emoji identifier")
        entity["type"] = "custom_emoji"
        entity["custom_emoji_id"] = opened.argument
        return entity
    if tag == "tg-time":
        unix = str(opened.extra.get("unix", ""))
        if not unix.isdigit():
            raise EntityParseError('Tag "tg-time" must have a valid attribute "unix"')
        entity["type"] = "date_time"
        entity["unix_time"] = int(unix)
        if opened.extra.get("format"):
            entity["date_time_format"] = opened.extra["format"]
        return entity
    return None


def _decode_html_entity(text: str, i: int) -> tuple[str | None, int]:
    """Decode the HTML entity starting at text[i] == '&' (None if there is none)."""
    n = len(text)
    j = i + 1
    if j < n and text[j] == "#":
        j += 1
        base = 10
        if j < n and text[j] in "xX":
            base = 16
            j += 1
        start = j
        digits = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
        while j < n and text[j] in digits:
            j += 1
        if j == start or j >= n or text[j] != ";":
            return None, i
        code = int(text[start:j], base)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None, i
        return chr(code), j + 1
    start = j
    while j < n and text[j].isascii() and text[j].isalpha():
        j += 1
    name = text[start:j]
    if name in _NAMED_ENTITIES and j < n and text[j] == ";":
        return _NAMED_ENTITIES[name], j + 1
    return None, i


@dataclass
class _MdOpen:
    type: str
    argument: str
    offset: int
    text_index: int
    byte_offset: int


def parse_markdown_v2(text: str) -> tuple[str, list[Entity]]:
    """Parse MarkdownV2 text; return the visible text and its entities."""
    out: list[str] = []
    utf16 = 0
    stack: list[_MdOpen] = []
    entities: list[Entity] = []
    quote_start: tuple[int, bool] | None = None  # (utf16 offset, expandable)
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        at_line_start = i == 0 or text[i - 1] == "\n"
        in_code = bool(stack) and stack[-1].type in ("code", "pre", "pre_code")
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.append(text[i + 1])
            utf16 += 1
            i += 2
            continue
        if at_line_start and not in_code:
            marker = 0
            expandable = False
            if text.startswith("**>", i):
                marker, expandable = 3, True
            elif c == ">":
                marker = 1
            if marker:
                if quote_start is None:
                    quote_start = (utf16, expandable)
                i += marker
                continue
        if c == "\n" and quote_start is not None and not in_code:
            nxt = text[i + 1 : i + 4]
            if not (nxt.startswith(">") or nxt == "**>"):
                _close_quote(entities, quote_start, utf16)
                quote_start = None
        if (
            quote_start is not None
            and text.startswith("||", i)
            and (i + 2 == n or text[i + 2] == "\n")
            and not any(o.type == "spoiler" for o in stack)
        ):
            # "||" ending the last quoted line marks the quote as expandable.
            quote_start = (quote_start[0], True)
            i += 2
            continue
        reserved = "`" if in_code else _MDV2_RESERVED
        if c not in reserved:
            out.append(c)
            utf16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        if stack and _md_closes(stack[-1].type, text, i):
            i = _md_close(text, i, stack.pop(), out, utf16, entities)
            continue
        begin = i
        argument = ""
        if c == "_":
            if text.startswith("__", i):
                kind = "underline"
                i += 1
            else:
                kind = "italic"
        elif c == "*":
            kind = "bold"
        elif c == "~":
            kind = "strikethrough"
        elif c == "|" and text.startswith("||", i):
            kind = "spoiler"
            i += 1
        elif c == "[":
            kind = "text_link"
        elif c == "!" and text.startswith("![", i):
            kind = "custom_emoji"
            i += 1
        elif c == "`" and text.startswith("```", i):
            i += 3
            kind = "pre"
            lang_end = i
            while lang_end < n and text[lang_end] not in _SPACE and text[lang_end] != "`":
                lang_end += 1
            if lang_end != i and lang_end < n and text[lang_end] != "`":
                kind = "pre_code"
                argument = text[i:lang_end]
                i = lang_end
            if i < n and text[i] in "\r\n":
                i += 2 if text[i : i + 2] in ("\r\n", "\n\r") else 1
            i -= 1
        elif c == "`":
            kind = "code"
        else:
            raise EntityParseError(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
            )
        stack.append(_MdOpen(kind, argument, utf16, len(out), _byte_offset(text, begin)))
        i += 1
    if stack:
        top = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_TYPE_NAMES[top.type]} entity at byte offset "
            f"{top.byte_offset}"
        )
    if quote_start is not None:
        _close_quote(entities, quote_start, utf16)
    return "".join(out), _sort_entities(entities)


def _close_quote(entities: list[Entity], start: tuple[int, bool], end: int) -> None:
    if end > start[0]:
        kind = "expandable_blockquote" if start[1] else "blockquote"
        entities.append({"type": kind, "offset": start[0], "length": end - start[0]})


def _md_closes(kind: str, text: str, i: int) -> bool:
    c = text[i]
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if kind == "bold":
        return c == "*"
    if kind == "italic":
        return c == "_" and nxt != "_"
    if kind == "underline":
        return c == "_" and nxt == "_"
    if kind == "strikethrough":
        return c == "~"
    if kind == "spoiler":
        return c == "|" and nxt == "|"
    if kind == "code":
        return c == "`"
    if kind in ("pre", "pre_code"):
        return text.startswith("```", i)
    return c == "]"


def _md_close(
    text: str, i: int, opened: _MdOpen, out: list[str], utf16: int, entities: list[Entity]
) -> int:
    """Close an entity at text[i]; return the index after its closing markup."""
    kind = opened.type
    entity: Entity = {"offset": opened.offset, "length": utf16 - opened.offset}
    if kind in ("underline", "spoiler"):
        i += 2
    elif kind in ("pre", "pre_code"):
        i += 3
    elif kind in ("text_link", "custom_emoji"):
        url = ""
        if i + 1 < len(text) and text[i + 1] == "(":
            i += 2
            url_begin = i
            chars: list[str] = []
            while i < len(text) and text[i] != ")":
                if text[i] == "\\" and i + 1 < len(text) and 0 < ord(text[i + 1]) <= 126:
                    chars.append(text[i + 1])
                    i += 2
                    continue
                chars.append(text[i])
                i += 1
            if i >= len(text):
                raise EntityParseError(
                    f"Can't find end of a URL at byte offset {_byte_offset(text, url_begin)}"
                )
            url = "".join(chars)
        elif kind == "text_link":
            url = "".join(out[opened.text_index :])
        i += 1
        if kind == "custom_emoji":
            match = re.match(r"^tg://emoji\?id=(\d+)$", url)
            if not match:
                raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
            entity["custom_emoji_id"] = match.group(1)
        elif url:
            entity["url"] = url
        else:
            return i
    else:
        i += 1
    if entity["length"] == 0:
        return i
    entity["type"] = {"pre_code": "pre"}.get(kind, kind)
    if kind == "pre_code":
        entity["language"] = opened.argument
    entities.append(entity)
    return i


def parse_markdown(text: str) -> tuple[str, list[Entity]]:
    """Parse legacy Markdown text; return the visible text and its entities."""
    out: list[str] = []
    entities: list[Entity] = []
    utf16 = 0
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            utf16 += 1
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            utf16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        end_char = "]" if c == "[" else c
        is_pre = False
        language = ""
        i += 1
        if c == "`" and text.startswith("``", i):
            is_pre = True
            i += 2
            lang_end = i
            while lang_end < n and text[lang_end] not in _SPACE and text[lang_end] != "`":
                lang_end += 1
            if lang_end != i and lang_end < n and text[lang_end] != "`":
                language = text[i:lang_end]
                i = lang_end
            if i < n and text[i] == "\n":
                i += 1
        start_offset = utf16
        start_index = len(out)
        while i < n and not (text[i] == end_char and (not is_pre or text.startswith("```", i))):
            out.append(text[i])
            utf16 += 2 if ord(text[i]) > 0xFFFF else 1
            i += 1
        if i >= n:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        entity: Entity = {"offset": start_offset, "length": utf16 - start_offset}
        i += 3 if is_pre else 1
        if c == "[":
            url = ""
            if i < n and text[i] == "(":
                close = text.find(")", i)
                if close < 0:
                    raise EntityParseError(
                        "Can't find end of the entity starting at byte offset "
                        f"{_byte_offset(text, begin)}"
                    )
                url = text[i + 1 : close]
                i = close + 1
            if not url:
                url = "".join(out[start_index:])
            entity.update(type="text_link", url=url)
        elif is_pre:
            entity["type"] = "pre"
            if language:
                entity["language"] = language
        else:
            entity["type"] = {"_": "italic", "*": "bold", "`": "code"}[c]
        if entity["length"]:
            entities.append(entity)
    return "".join(out), _sort_entities(entities)


def parse_text(
    text: str, parse_mode: str | None, *, strict_html: bool = True
) -> tuple[str, list[Entity]]:
    """Parse text by parse_mode (None: plain); raise EntityParseError on bad markup."""
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text, strict=strict_html)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise UnsupportedParseMode(parse_mode)


class UnsupportedParseMode(ValueError):
    """Signal a parse_mode the Bot API does not know."""


_TRIM = " \t\r\n\v\f\0"


def trim(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Strip leading/trailing whitespace as the Bot API does, moving entities along."""
    stripped_left = len(text) - len(text.lstrip(_TRIM))
    body = text.strip(_TRIM)
    total = utf16_len(body)
    out: list[Entity] = []
    for entity in entities:
        start = max(entity["offset"] - stripped_left, 0)
        end = min(entity["offset"] + entity["length"] - stripped_left, total)
        if end <= start:
            continue
        moved = dict(entity)
        moved["offset"] = start
        moved["length"] = end - start
        out.append(moved)
    return body, out


_AUTO_PATTERNS = [
    ("url", re.compile(r"(?<![\w@/])https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")),
    ("bot_command", re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
    ("mention", re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{3,32}(?![\w@])")),
    ("hashtag", re.compile(r"(?<![\w#])#(?=\w*[^\W\d])\w{1,256}")),
]
_OPAQUE = frozenset({"code", "pre", "text_link", "text_mention", "custom_emoji", "url"})


def detect_entities(text: str, explicit: list[Entity] | None = None) -> list[Entity]:
    """Return explicit entities plus the ones Telegram finds by itself (commands, mentions...)."""
    explicit = list(explicit or [])
    spans = [(e["offset"], e["offset"] + e["length"]) for e in explicit if e["type"] in _OPAQUE]
    found: list[Entity] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _AUTO_PATTERNS:
        for match in pattern.finditer(text):
            start = utf16_len(text[: match.start()])
            end = start + utf16_len(match.group(0))
            if any(a < end and start < b for a, b in spans + taken):
                continue
            taken.append((start, end))
            found.append({"type": kind, "offset": start, "length": end - start})
    return _sort_entities(explicit + found)
