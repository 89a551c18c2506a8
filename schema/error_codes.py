"""The `ErrorCode` enum: every code registered by the domains' `schema/<domain>/errors.py`.

This module imports each of them (every `schema/<package>/errors.py` there is: a new domain's
is found without a change here), then builds the enum; the `code` field of `Error`
(schema/kit/errors.py) refers to it lazily."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

import schema
from schema.kit.errors import error_code_enum

for _package in sorted(module.name for module in pkgutil.iter_modules(schema.__path__) if module.ispkg):
    if importlib.util.find_spec(f"schema.{_package}.errors") is not None:
        importlib.import_module(f"schema.{_package}.errors")

ErrorCode = error_code_enum()
