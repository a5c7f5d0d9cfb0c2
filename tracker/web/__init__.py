"""The web: the ASGI app (feeds, pages, actions) and the server that runs it. Calls the same core functions as the
CLI; imports everything below it, nothing imports it but the CLI."""
