"""Sphinx extension of the book: every build re-reads, and so re-executes, every page.

The pages are notebooks over ``data/``. Sphinx re-reads only pages whose source changed, so without this a
build after new data would keep the figures of the last build in ``_build``.
"""


def _every_page(app, env, added, changed, removed):
    return sorted(env.found_docs - added - changed - removed)


def setup(app):
    app.connect("env-get-outdated", _every_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
