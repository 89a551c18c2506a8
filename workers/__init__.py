"""arq workers: settings and thin job functions."""
