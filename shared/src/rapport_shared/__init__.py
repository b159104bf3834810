"""Rapport's shared library: event contracts and the reliability plumbing every service uses."""
