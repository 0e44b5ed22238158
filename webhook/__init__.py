"""Admission: the aiohttp TLS server, AdmissionReview models, and the mutate/validate dispatch."""
