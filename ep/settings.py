"""The deployment's settings, for the modules that are not views (rules, notices, mail).

`create_app` hands its configuration here once, so that the rules of the conventions read
their periods and limits without importing Flask: they run the same from a request, the
command line or the server's nightly thread.
"""

_config = {}


def configure(config):
    """Use this mapping (the app's config) from now on."""
    global _config
    _config = config


def get(name, default=None):
    return _config.get(name, default)
