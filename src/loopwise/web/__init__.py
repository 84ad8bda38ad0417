"""The web UI served under ``/ui`` by ``loopwise serve``: sign-in, the review page, the
dashboard and the admin pages. Server-rendered (Jinja2) with a little plain JavaScript that
calls the same ``/v1`` API as every other client; every asset is in ``static/`` (no CDN, no
build step). :func:`loopwise.web.app.install` adds it to an application."""
