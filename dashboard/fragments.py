"""When a view answers with an htmx fragment instead of the whole page."""


def wants_fragment(request) -> bool:
    # A history restore asks for the whole page, even though it comes from htmx.
    return bool(request.htmx) and not request.htmx.history_restore_request
