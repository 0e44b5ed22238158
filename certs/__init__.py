"""Certificates for the webhook: CA and serving certificate issuance, rotation and caBundle injection."""
