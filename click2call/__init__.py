"""click2call: click-to-call for CRMs on their own Asterisk, as an ARI Stasis application."""

__version__ = "0.1.0"
