"""ccagent: contact-centre agent daemon for Asterisk and FreeSWITCH."""

__version__ = "0.1.0"
