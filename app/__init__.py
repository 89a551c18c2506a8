"""Kassa: the domain (models, repositories, services, auth, configuration, CLI)."""
