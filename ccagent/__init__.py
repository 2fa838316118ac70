"""ccagent: contact-centre agent daemon for Asterisk and FreeSWITCH."""

__version__ = "0.1.0"


def package_version() -> str:
    """The installed distribution's version (what ``pip`` and the package manager know), falling
    back to ``__version__`` when running from a source tree that was never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ccagent")
    except PackageNotFoundError:
        return __version__
