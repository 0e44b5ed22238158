"""tenantgate: validate, mutate, expand. The command line and the local control plane live here."""

__version__ = "0.1.0"
