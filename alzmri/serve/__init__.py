"""``alzmri serve``: a run behind an HTTP API and a web page (FastAPI; the ``serve`` extra).

:mod:`~alzmri.serve.app` builds the application (routes, API key, errors), :mod:`~alzmri.serve.uploads` reads
uploads in memory within limits, :mod:`~alzmri.serve.batching` batches concurrent requests for the model and
:mod:`~alzmri.serve.answers` says what each route answers; ``page.html`` is the page at ``/``.

May import anything in the package; nothing in the package imports it (it sits on top, like the CLI).
"""
