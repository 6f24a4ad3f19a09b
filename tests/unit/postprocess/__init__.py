from copilot.postprocess.cursor import Cursor


def at(language_id: str, document: str) -> Cursor:
    """The cursor in ``document``, which marks it with █."""
    prefix, suffix = document.split("█")
    return Cursor.at(prefix, suffix, language_id)
